"""The read lane (fhir_rest/read_lane.py) answers GET [base]/[type]/[id] exactly as the routed read would."""

from __future__ import annotations

import httpx

from tests.factories import make_patient


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
