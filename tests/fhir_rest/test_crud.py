"""FHIR REST interactions end to end: create, read, vread, update, patch, delete, history."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from fhir_rest.endpoints import _http_date
from tests.factories import make_allergy, make_patient

FHIR = "application/fhir+json"


async def test_create_read_roundtrip(fhir: httpx.AsyncClient) -> None:
    r = await fhir.post("/Patient", json=make_patient())
    assert r.status_code == 201
    assert r.headers["content-type"].startswith(FHIR)
    body = r.json()
    pid = body["id"]
    assert body["meta"]["versionId"] == "1"
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"].endswith(f"/fhir/r4/Patient/{pid}/_history/1")
    assert "_sys" not in body and "_id" not in body

    got = await fhir.get(f"/Patient/{pid}")
    assert got.status_code == 200
    assert got.json() == body
    assert got.headers["etag"] == 'W/"1"'
    stamp = datetime.fromisoformat(body["meta"]["lastUpdated"].replace("Z", "+00:00"))
    assert got.headers["last-modified"] == format_datetime(stamp.replace(microsecond=0), usegmt=True)


def test_last_modified_is_the_rfc_9110_date_of_any_instant() -> None:
    """The server's own UTC stamps take a short path; instants with an offset (or unusual shapes) are parsed."""
    for instant in ("2026-11-21T21:08:04.534Z", "2026-11-21T05:00:00Z", "2024-02-29T00:00:00Z",
                    "1999-12-31T23:59:59.999999Z", "2026-01-04T10:15:00.000+05:30", "2026-03-01T00:30:00-01:00",
                    "2026-11-21T21:08Z"):
        stamp = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(UTC).replace(microsecond=0)
        assert _http_date(instant) == format_datetime(stamp, usegmt=True), instant
    for odd in ("2026-11-21T1:08:04.534Z", "+026-11-21T21:08:04Z", "2026-11-21T24:00:00Z", "2016-12-31T23:59:60Z"):
        with pytest.raises(ValueError):  # not passed off as a date; a stored instant like these is not ours
            _http_date(odd)


async def test_same_api_under_r4_prefix(fhir: httpx.AsyncClient, base_url: str) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    r = await fhir.get(f"{base_url}/r4/Patient/{pid}")
    assert r.status_code == 200 and r.json()["id"] == pid


async def test_update_versions_and_vread(fhir: httpx.AsyncClient) -> None:
    created = (await fhir.post("/Patient", json=make_patient())).json()
    pid = created["id"]
    changed = {**created, "gender": "other"}
    r = await fhir.put(f"/Patient/{pid}", json=changed)
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    v1 = await fhir.get(f"/Patient/{pid}/_history/1")
    assert v1.status_code == 200 and v1.json()["gender"] == "female"
    v2 = await fhir.get(f"/Patient/{pid}/_history/2")
    assert v2.json()["gender"] == "other"
    missing = await fhir.get(f"/Patient/{pid}/_history/9")
    assert missing.status_code == 404


async def test_update_as_create_with_client_id(fhir: httpx.AsyncClient, tag: str) -> None:
    r = await fhir.put(f"/Patient/{tag}-client", json=make_patient(id=f"{tag}-client"))
    assert r.status_code == 201
    assert r.json()["id"] == f"{tag}-client"
    assert (await fhir.get(f"/Patient/{tag}-client")).status_code == 200


async def test_if_match_stale_version_is_412(fhir: httpx.AsyncClient) -> None:
    created = (await fhir.post("/Patient", json=make_patient())).json()
    pid = created["id"]
    ok = await fhir.put(f"/Patient/{pid}", json=created, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = await fhir.put(f"/Patient/{pid}", json=created, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"


async def test_concurrent_updates_same_base_exactly_one_wins(fhir: httpx.AsyncClient) -> None:
    created = (await fhir.post("/Patient", json=make_patient())).json()
    pid = created["id"]
    n = 12
    bodies = [{**created, "birthDate": f"19{50 + i}-01-01"} for i in range(n)]
    results = await asyncio.gather(*(
        fhir.put(f"/Patient/{pid}", json=b, headers={"If-Match": 'W/"1"'}) for b in bodies))
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1 and statuses.count(412) == n - 1
    hist = (await fhir.get(f"/Patient/{pid}/_history")).json()
    assert [e["resource"]["meta"]["versionId"] for e in hist["entry"]] == ["2", "1"]
    winner = next(r for r in results if r.status_code == 200).json()
    assert (await fhir.get(f"/Patient/{pid}")).json()["birthDate"] == winner["birthDate"]


async def test_concurrent_updates_without_if_match_lose_nothing(fhir: httpx.AsyncClient) -> None:
    created = (await fhir.post("/Patient", json=make_patient())).json()
    pid = created["id"]
    results = await asyncio.gather(*(
        fhir.put(f"/Patient/{pid}", json={**created, "birthDate": f"19{60 + i}-01-01"}) for i in range(8)))
    assert all(r.status_code == 200 for r in results)
    versions = sorted(int(r.json()["meta"]["versionId"]) for r in results)
    assert versions == list(range(2, 10))
    hist = (await fhir.get(f"/Patient/{pid}/_history", params={"_count": 50})).json()
    assert len(hist["entry"]) == 9


async def test_patch_json_patch(fhir: httpx.AsyncClient) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "male"},
           {"op": "add", "path": "/name/0/given/-", "value": "Luz"}]
    r = await fhir.patch(f"/Patient/{pid}", content=__import__("orjson").dumps(ops),
                         headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200
    body = r.json()
    assert body["gender"] == "male" and body["name"][0]["given"][-1] == "Luz"
    assert body["meta"]["versionId"] == "2"
    bad = await fhir.patch(f"/Patient/{pid}", content=b'[{"op":"replace","path":"/birthDate","value":"not-a-date"}]',
                           headers={"Content-Type": "application/json-patch+json"})
    assert bad.status_code == 422
    failed = await fhir.patch(f"/Patient/{pid}", content=b'[{"op":"test","path":"/birthDate","value":"1900-01-01"}]',
                              headers={"Content-Type": "application/json-patch+json"})
    assert failed.status_code == 422
    assert "1988-03-14" not in failed.text  # a failed test names no stored value


async def test_delete_then_read_is_410_and_history_keeps_versions(fhir: httpx.AsyncClient) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    d = await fhir.delete(f"/Patient/{pid}")
    assert d.status_code == 204
    gone = await fhir.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    hist = (await fhir.get(f"/Patient/{pid}/_history")).json()
    assert hist["type"] == "history"
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "POST"]
    assert (await fhir.get(f"/Patient/{pid}/_history/1")).status_code == 200
    again = await fhir.delete(f"/Patient/{pid}")
    assert again.status_code == 204


async def test_delete_honours_if_match(fhir: httpx.AsyncClient) -> None:
    # RFC 9110 §13.1.1: a method whose If-Match is false is not performed. The delete ignored it: a client
    # deleting the version it had read removed a newer one it had never seen.
    made = (await fhir.post("/Patient", json=make_patient())).json()
    pid = made["id"]
    await fhir.put(f"/Patient/{pid}", json={**made, "gender": "male"})
    stale = await fhir.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and stale.json()["resourceType"] == "OperationOutcome", stale.text
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": f"Patient/{pid}", "ifMatch": 'W/"1"'}}]}
    in_bundle = await fhir.post("", json=bundle)
    assert in_bundle.status_code == 412, in_bundle.text
    in_batch = await fhir.post("", json={**bundle, "type": "batch"})
    assert in_batch.json()["entry"][0]["response"]["status"].startswith("412"), in_batch.text
    assert (await fhir.get(f"/Patient/{pid}")).json()["meta"]["versionId"] == "2"
    assert (await fhir.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"2"'})).status_code == 204
    assert (await fhir.get(f"/Patient/{pid}")).status_code == 410
    assert (await fhir.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"2"'})).status_code == 204  # already gone


async def test_type_history_lists_new_versions(fhir: httpx.AsyncClient) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    hist = (await fhir.get("/Patient/_history", params={"_count": 5})).json()
    assert hist["entry"][0]["resource"]["id"] == pid


async def _walk_history(fhir: httpx.AsyncClient, path: str, since: str) -> list[dict[str, object]]:
    """Every entry of a ``_since`` history, one per page, following the Bundles' next links."""
    page = (await fhir.get(path, params={"_since": since, "_count": 1})).json()
    self_link = next(link["url"] for link in page["link"] if link["relation"] == "self")
    assert "_since=" in self_link, self_link
    entries = list(page["entry"])
    while nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        assert "_since=" in nxt, nxt
        page = (await fhir.get(nxt)).json()
        entries += page["entry"]
    return entries


async def test_history_pages_keep_since(fhir: httpx.AsyncClient) -> None:
    # The next link of a `_since` history carried only `_count` and the cursor: the second page went on past
    # `_since`, to the first version ever written.
    made = (await fhir.post("/Patient", json=make_patient())).json()
    pid = made["id"]
    v2 = (await fhir.put(f"/Patient/{pid}", json={**made, "gender": "male"})).json()
    await fhir.put(f"/Patient/{pid}", json={**v2, "gender": "female"})
    since = v2["meta"]["lastUpdated"]
    versions = await _walk_history(fhir, f"/Patient/{pid}/_history", since)
    assert [e["resource"]["meta"]["versionId"] for e in versions] == ["3", "2"]  # type: ignore[index]
    typed = await _walk_history(fhir, "/Patient/_history", since)
    assert len(typed) >= 2
    assert all(e["response"]["lastModified"] >= since for e in typed), typed  # type: ignore[index,operator]


async def test_prefer_return_minimal(fhir: httpx.AsyncClient) -> None:
    r = await fhir.post("/Patient", json=make_patient(), headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b""
    assert "/Patient/" in r.headers["location"]


async def test_conditional_create(fhir: httpx.AsyncClient, tag: str) -> None:
    body = make_patient(identifier=[{"system": "urn:test", "value": tag}])
    first = await fhir.post("/Patient", json=body, headers={"If-None-Exist": f"identifier=urn:test|{tag}"})
    assert first.status_code == 201
    second = await fhir.post("/Patient", json=body, headers={"If-None-Exist": f"identifier=urn:test|{tag}"})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]


async def test_idempotency_key(fhir: httpx.AsyncClient, tag: str) -> None:
    body = make_patient(tag=tag)
    h = {"Idempotency-Key": f"key-{tag}"}
    first = await fhir.post("/Patient", json=body, headers=h)
    again = await fhir.post("/Patient", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    other = await fhir.post("/Patient", json=make_patient(family="Other", tag=tag), headers=h)
    assert other.status_code == 422
    found = (await fhir.get("/Patient", params={"_tag": f"https://fhirgraph.dev/fhir/CodeSystem/test-run|{tag}",
                                                "_total": "accurate"})).json()
    assert found["total"] == 1


async def test_if_none_match_gives_304(fhir: httpx.AsyncClient) -> None:
    r = await fhir.post("/Patient", json=make_patient())
    again = await fhir.get(f"/Patient/{r.json()['id']}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


async def test_binary_content_in_and_out(fhir: httpx.AsyncClient) -> None:
    # FHIR R4 Binary: content of another media type is the Binary's data; a read that asks for another media
    # type gets the content back, under headers that keep a browser from running it as the server's page.
    r = await fhir.post("/Binary", content=PNG, headers={"Content-Type": "image/png",
                                                        "X-Security-Context": "Patient/p-1"})
    assert r.status_code == 201, r.text
    binary = r.json()
    assert binary["contentType"] == "image/png" and binary["securityContext"] == {"reference": "Patient/p-1"}
    bid = binary["id"]
    native = await fhir.get(f"/Binary/{bid}", headers={"Accept": "image/png"})
    assert native.status_code == 200 and native.content == PNG
    assert native.headers["content-type"] == "image/png"
    assert native.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in native.headers["content-security-policy"]
    assert native.headers["etag"] == 'W/"1"'
    again = await fhir.get(f"/Binary/{bid}", headers={"Accept": "image/*", "If-None-Match": 'W/"1"'})
    assert again.status_code == 304
    # the resource itself for FHIR or JSON Accepts, for */* alone and for no Accept at all
    for accept in ("application/fhir+json", "application/json, image/png", "*/*", None):
        got = await fhir.get(f"/Binary/{bid}", headers={"Accept": accept} if accept else {})
        assert got.headers["content-type"].startswith("application/fhir+json"), accept
        assert got.json()["data"] == binary["data"]
    # update with native content; vread answers either way
    text = "résumé".encode()
    put = await fhir.put(f"/Binary/{bid}", content=text, headers={"Content-Type": "text/plain; charset=utf-8"})
    assert put.status_code == 200 and put.json()["meta"]["versionId"] == "2"
    current = await fhir.get(f"/Binary/{bid}", headers={"Accept": "text/plain"})
    assert current.content == text and current.headers["content-type"] == "text/plain; charset=utf-8"
    old = await fhir.get(f"/Binary/{bid}/_history/1", headers={"Accept": "image/png"})
    assert old.content == PNG and old.headers["content-type"] == "image/png"
    assert (await fhir.get(f"/Binary/{bid}/_history/1")).json()["contentType"] == "image/png"
    # JSON Binaries still work; a stored content type unsafe as a header is served as octet-stream
    odd = (await fhir.post("/Binary", json={"resourceType": "Binary", "contentType": "text/html\u2028x",
                                            "data": "PGI+aGk8L2I+"})).json()
    served = await fhir.get(f"/Binary/{odd['id']}", headers={"Accept": "text/html"})
    assert served.content == b"<b>hi</b>" and served.headers["content-type"] == "application/octet-stream"
    bad = await fhir.post("/Binary", content=b"x", headers={"Content-Type": "not a type"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    # other types still take FHIR JSON only (415 Unsupported Media Type)
    assert (await fhir.post("/Patient", content=PNG, headers={"Content-Type": "image/png"})).status_code == 415


async def test_provenance_written_for_clinical_writes(fhir: httpx.AsyncClient) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    aid = (await fhir.post("/AllergyIntolerance", json=make_allergy(pid))).json()["id"]
    bundle = (await fhir.get("/AllergyIntolerance", params={"_id": aid, "_revinclude": "Provenance:target"})).json()
    modes = [e["search"]["mode"] for e in bundle["entry"]]
    assert modes == ["match", "include"]
    prov = bundle["entry"][1]["resource"]
    assert prov["resourceType"] == "Provenance"
    assert prov["target"][0]["reference"] == f"AllergyIntolerance/{aid}/_history/1"


async def test_tenant_isolation(fhir: httpx.AsyncClient, fhir_b: httpx.AsyncClient) -> None:
    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    other = await fhir_b.get(f"/Patient/{pid}")
    assert other.status_code == 404
    assert (await fhir_b.put(f"/Patient/{pid}", json=make_patient(id=pid))).status_code == 201
    # tenant B's write under the same id never touches tenant A's resource
    mine = (await fhir.get(f"/Patient/{pid}")).json()
    assert mine["meta"]["versionId"] == "1"
    search = (await fhir_b.get("/Patient", params={"_id": pid})).json()
    assert len(search["entry"]) == 1 and search["entry"][0]["resource"]["meta"]["versionId"] == "1"


async def test_wrong_api_key_is_401(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as c:
        r = await c.get("/fhir/r4/Patient", headers={"X-API-Key": "nope"})
    assert r.status_code == 401
    assert r.json()["resourceType"] == "OperationOutcome"
