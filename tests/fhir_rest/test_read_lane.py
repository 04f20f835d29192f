"""The read lane (fhir_rest/read_lane.py) answers GET [base]/[type]/[id] and GET [base]/[type]?… exactly as the
route table would."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from fhir_rest.read_lane import ReadLane
from tests.factories import make_observation, make_patient


async def test_read_lane_and_routed_read_answer_alike(fhir: httpx.AsyncClient, base_url: str) -> None:
    # GET [base]/Patient/id is answered by the read lane; HEAD, and ids outside the FHIR id alphabet, by the
    # route table: both through endpoints.read_reply.
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    got, head = await fhir.get(f"/Patient/{pid}"), await fhir.head(f"/Patient/{pid}")
    assert got.status_code == head.status_code == 200
    for name in ("etag", "last-modified", "content-type", "content-length"):
        assert got.headers[name] == head.headers[name], name
    assert got.headers["content-type"] == "application/fhir+json; charset=utf-8"
    assert int(got.headers["content-length"]) == len(got.content) and head.content == b""
    r4 = await fhir.get(f"{base_url}/r4/Patient/{pid}")
    assert r4.content == got.content and r4.headers["etag"] == got.headers["etag"]
    subset = (await fhir.get(f"/Patient/{pid}", params={"_elements": "gender"})).json()
    assert set(subset) == {"resourceType", "id", "meta", "gender"}
    assert subset["meta"]["tag"][0]["code"] == "SUBSETTED"
    summary = (await fhir.get(f"/Patient/{pid}", params={"_summary": "data"})).json()
    assert "text" not in summary and summary["name"] == got.json()["name"]
    for path in (f"/Patient/{pid}x", "/Patient/bad!id", "/Unicorn/1"):
        miss = await fhir.get(path)
        assert miss.status_code == 404, path
        assert miss.headers["content-type"].startswith("application/fhir+json")
        assert miss.json()["resourceType"] == "OperationOutcome"
    assert (await fhir.get(f"/Patient/{pid}", headers={"If-None-Match": got.headers["etag"]})).status_code == 304
    assert (await fhir.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"99"'})).status_code == 200


async def test_read_lane_is_behind_authentication(fhir: httpx.AsyncClient, base_url: str) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    async with httpx.AsyncClient(base_url=base_url) as anyone:
        r = await anyone.get(f"/fhir/r4/Patient/{pid}", headers={"X-API-Key": "not-a-key"})
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    assert "name" not in r.text


def _comparable(r: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in r.headers.multi_items() if k not in ("date", "x-request-id")]
    return r.status_code, headers, r.content


async def test_search_lane_and_routed_search_answer_alike(fhir: httpx.AsyncClient, fhir_b: httpx.AsyncClient,
                                                          base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each search sent twice, answered by the lane (fhir_rest/read_lane.py) and by the route table (the lane's
    # search switched off): the same status, headers and bytes, or the lane answers something the route would not.
    tag = f"lane-{uuid.uuid4().hex[:8]}"
    pids = [(await fhir.post("/Patient", json=make_patient(tag=tag, family=f"Lane{i}"))).json()["id"]
            for i in range(3)]
    await fhir.post("/Observation", json=make_observation(pids[0]))
    origin = {"Origin": "https://app.example"}
    table: list[tuple[httpx.AsyncClient, str, dict[str, str], bool]] = [
        # (client, path and query, headers, answered by the lane)
        (fhir, f"/Patient?_tag={tag}", {}, True),
        (fhir, f"/Patient?_tag={tag}&_count=2", {}, True),  # a next link
        (fhir, f"/Patient?_tag={tag}&_count=1&_sort=-family&_total=accurate", {}, True),
        (fhir, f"/Patient?_tag={tag}&_elements=gender,birthDate", {}, True),
        (fhir, f"/Patient?_tag={tag}&_summary=count", {}, True),
        (fhir, f"/Patient?_id={pids[0]}&_revinclude=Observation:subject", {}, True),
        (fhir, f"/Observation?subject=Patient/{pids[0]}&_include=Observation:subject", {}, True),
        (fhir, "/Patient", {}, True),
        (fhir, f"/Patient?_tag={tag}&unknown-param=1", {"Prefer": "handling=strict"}, True),  # 400
        (fhir, "/Patient?_count=many", {}, True),  # 400
        (fhir, "/Patient?_summary=nope", {}, True),  # 400
        (fhir, "/Patient?_include:deep=Patient:link", {}, True),  # 400
        (fhir, f"/Patient?_tag={tag}", {"Accept": "application/json"}, True),
        (fhir, f"/Patient?_tag={tag}", {"Accept": "*/*", **origin}, True),  # CORS headers
        (fhir, f"/Patient?_tag={tag}", {"Accept": "application/fhir+xml"}, False),  # 406
        (fhir, f"/Patient?_tag={tag}&_format=json", {}, False),
        (fhir, f"/Patient?_tag={tag}&_format=xml", {}, False),  # 406
        (fhir, f"/Unicorn?_tag={tag}", {}, False),  # 404
        (fhir, "/patient?x=1", {}, False),
        (fhir_b, f"/Patient?_tag={tag}", {}, True),  # another tenant: nothing of tenant-a's
        (fhir, f"/Patient?_tag={tag}", {"Content-Length": "0"}, False),  # a body: the body limit's
    ]
    answered: list[bool] = []
    search = ReadLane._search

    async def spy(self: ReadLane, *args: Any) -> bool:
        took = True  # a bad parameter's domain error is raised from the lane, to the error middleware
        try:
            took = await search(self, *args)
        finally:
            answered.append(took)
        return took

    async def off(self: ReadLane, *args: Any) -> bool:
        return False

    for client, target, headers, laned in table:
        monkeypatch.setattr(ReadLane, "_search", spy)
        answered.clear()
        lane = await client.get(target, headers=headers)
        assert answered == [laned], target
        monkeypatch.setattr(ReadLane, "_search", off)
        routed = await client.get(target, headers=headers)
        assert _comparable(lane) == _comparable(routed), (target, headers)
        assert lane.headers["content-type"].startswith("application/fhir+json"), target
    monkeypatch.undo()  # the lane again
    r4 = await fhir.get(f"{base_url}/r4/Patient?_tag={tag}&_count=2")  # the other door: its links name it
    assert all(link["url"].startswith(f"{base_url}/r4/Patient?") for link in r4.json()["link"])
    async with httpx.AsyncClient(base_url=base_url) as anyone:
        r = await anyone.get(f"/fhir/r4/Patient?_tag={tag}", headers={"X-API-Key": "not-a-key"})
    assert r.status_code == 401 and tag not in r.text
