"""Transaction and batch Bundles at ``POST [base]`` (fhir_rest/batches.py, store/transactions.py), end to end."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from app.settings import Settings
from store.outbox import Outbox
from tests.conftest import API_KEYS
from tests.factories import make_appointment, make_observation, make_patient
from tests.scoped import Scoped


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def post(resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"],
                                                               **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


async def count(fhir: httpx.AsyncClient, rt: str, tag: str) -> int:
    r = await fhir.get(f"/{rt}", params={"_tag": tag, "_summary": "count"})
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


async def test_a_valid_transaction_writes_everything_with_references_rewired(fhir: httpx.AsyncClient,
                                                                             tag: str) -> None:
    pid = urn()
    bundle = transaction(post(make_patient(family=tag, tag=tag), pid),
                         post(make_observation("x", tag=tag, subject={"reference": pid})),
                         post(make_observation("x", tag=tag, value=7, subject={"reference": pid})))
    r = await fhir.post("", json=bundle)  # the base itself, without a trailing slash
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created"] * 3
    patient_id = answer["entry"][0]["resource"]["id"]
    assert answer["entry"][0]["response"]["location"] == f"Patient/{patient_id}/_history/1"
    for entry in answer["entry"][1:]:
        assert entry["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    found = (await fhir.get("/Observation", params={"subject": f"Patient/{patient_id}"})).json()
    assert len(found["entry"]) == 2


async def test_one_invalid_entry_writes_nothing_and_is_named(fhir: httpx.AsyncClient, tag: str) -> None:
    pid = urn()
    entries = [post(make_patient(family=tag, tag=tag), pid),
               post(make_observation("x", tag=tag, subject={"reference": pid})),
               post(make_observation("x", tag=tag, subject={"reference": pid})),
               post(make_patient(family=tag, tag=tag, gender="sometimes"))]
    r = await fhir.post("/", json=transaction(*entries))
    assert r.status_code in (400, 422), r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[3]" in outcome["issue"][0]["diagnostics"]
    assert "Bundle.entry[3]" in outcome["issue"][0]["expression"]
    assert await count(fhir, "Patient", tag) == 0
    assert await count(fhir, "Observation", tag) == 0
    # The same transaction made valid writes it all.
    entries[3] = post(make_patient(family=tag, tag=tag, gender="female"))
    r = await fhir.post("/", json=transaction(*entries))
    assert r.status_code == 200, r.text
    assert await count(fhir, "Patient", tag) == 2
    assert await count(fhir, "Observation", tag) == 2


async def test_a_urn_reference_to_no_entry_writes_nothing_and_is_named(fhir: httpx.AsyncClient, tag: str) -> None:
    pid, stray = urn(), urn()
    entries = [post(make_patient(family=tag, tag=tag), pid),
               post(make_observation("x", tag=tag, subject={"reference": pid},
                                     performer=[{"reference": pid}, {"reference": stray}]))]
    r = await fhir.post("/", json=transaction(*entries))
    assert r.status_code == 400, r.text
    issue = r.json()["issue"][0]
    assert "Bundle.entry[1]" in issue["diagnostics"] and stray in issue["diagnostics"]
    assert "Bundle.entry[1].resource.Observation.performer[1].reference" in issue["expression"]
    assert await count(fhir, "Patient", tag) == 0
    assert await count(fhir, "Observation", tag) == 0


async def test_a_code_outside_its_required_binding_fails_the_transaction(fhir: httpx.AsyncClient, tag: str) -> None:
    entries = [post(make_patient(family=tag, tag=tag)), post(make_observation("x", tag=tag, status="banana"))]
    r = await fhir.post("/", json=transaction(*entries))
    assert r.status_code == 422, r.text
    assert "Bundle.entry[1].resource.Observation.status" in r.json()["issue"][0]["expression"]
    assert await count(fhir, "Patient", tag) == 0
    assert await count(fhir, "Observation", tag) == 0


async def test_conditional_create_update_and_delete_inside_a_transaction(fhir: httpx.AsyncClient, tag: str) -> None:
    ident = {"system": "https://example.org/mrn", "value": tag}
    existing = (await fhir.post("/Patient", json=make_patient(family=tag, tag=tag, identifier=[ident]))).json()
    doomed = (await fhir.post("/Patient", json=make_patient(family=tag, tag=tag,
                                                            identifier=[{"system": "urn:x", "value": tag}]))).json()
    pid = urn()
    bundle = transaction(
        post(make_patient(family=tag, tag=tag, identifier=[ident]), pid,
             ifNoneExist=f"identifier=https://example.org/mrn|{tag}"),
        post(make_observation("x", tag=tag, subject={"reference": pid})),
        {"resource": make_patient(family=tag, tag=tag, gender="male", identifier=[ident]),
         "request": {"method": "PUT", "url": f"Patient?identifier=https://example.org/mrn|{tag}"}},
        {"request": {"method": "DELETE", "url": f"Patient?identifier=urn:x|{tag}"}},
    )
    # The conditional create and the conditional update both name the existing patient: one target, twice.
    r = await fhir.post("/", json=bundle)
    assert r.status_code == 400, r.text
    assert "two entries" in r.json()["issue"][0]["diagnostics"]
    bundle["entry"].pop(2)
    r = await fhir.post("/", json=bundle)
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["200 OK", "201 Created", "204 No Content"]
    assert entries[0]["resource"]["id"] == existing["id"]  # matched, not created
    assert entries[1]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert (await fhir.get(f"/Patient/{doomed['id']}")).status_code == 410
    # A conditional update alone.
    r = await fhir.put("/Patient", params={"identifier": f"https://example.org/mrn|{tag}"},
                       json=make_patient(family=tag, tag=tag, gender="male", identifier=[ident]))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == existing["id"] and r.json()["gender"] == "male"


async def test_an_if_match_that_fails_fails_the_transaction(fhir: httpx.AsyncClient, tag: str) -> None:
    p = (await fhir.post("/Patient", json=make_patient(family=tag, tag=tag))).json()
    bundle = transaction(post(make_patient(family=tag, tag=tag)),
                         {"resource": {**p, "gender": "male"},
                          "request": {"method": "PUT", "url": f"Patient/{p['id']}", "ifMatch": 'W/"9"'}})
    r = await fhir.post("/", json=bundle)
    assert r.status_code == 412, r.text
    assert "Bundle.entry[1]" in r.json()["issue"][0]["diagnostics"]
    assert await count(fhir, "Patient", tag) == 1


async def test_a_write_that_fails_while_committing_is_undone(fhir: httpx.AsyncClient, tag: str) -> None:
    """Two appointments booking one slot pass every check, then the second's write meets the slot's unique index:
    the first, already written, is put back (on a replica set the MongoDB transaction aborts), and nothing of the
    Bundle stays visible or reaches the outbox."""
    patient = (await fhir.post("/Patient", json=make_patient(family=tag, tag=tag))).json()
    sched = (await fhir.post("/Schedule", json={"resourceType": "Schedule", "actor": [
        {"reference": f"Patient/{patient['id']}"}]})).json()
    slot = (await fhir.post("/Slot", json={"resourceType": "Slot", "schedule": {"reference": f"Schedule/{sched['id']}"},
                                           "status": "free", "start": "2026-12-01T09:00:00Z",
                                           "end": "2026-12-01T09:30:00Z"})).json()
    booking = make_appointment(patient["id"], tag=tag, slot=[{"reference": f"Slot/{slot['id']}"}])
    r = await fhir.post("/", json=transaction(post(make_patient(family=tag, tag=tag)), post(booking), post(booking)))
    assert r.status_code == 409, r.text
    assert await count(fhir, "Appointment", tag) == 0
    assert await count(fhir, "Patient", tag) == 1
    assert (await fhir.get(f"/Slot/{slot['id']}")).json()["status"] == "free"


async def test_each_resource_emits_one_event(fhir: httpx.AsyncClient, settings: Settings, tag: str) -> None:
    pid = urn()
    r = await fhir.post("/", json=transaction(post(make_patient(family=tag, tag=tag), pid),
                                              post(make_observation("x", tag=tag, subject={"reference": pid}))))
    assert r.status_code == 200
    ids = {e["resource"]["id"] for e in r.json()["entry"]}
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri)
    try:
        events = await Outbox(client[settings.db_name]).newest("tenant-a", 200)
    finally:
        await client.close()
    mine = [e["resourceId"] for e in events if e["resourceId"] in ids]
    assert sorted(mine) == sorted(ids)


async def test_the_entry_cap_is_enforced(fhir: httpx.AsyncClient, settings: Settings, tag: str) -> None:
    over = settings.bundle_max_entries + 1
    r = await fhir.post("/", json=transaction(*[post(make_patient(family=tag, tag=tag)) for _ in range(over)]))
    assert r.status_code == 400
    assert "at most" in r.json()["issue"][0]["diagnostics"]
    assert await count(fhir, "Patient", tag) == 0


async def test_a_batch_answers_each_entry_on_its_own(fhir: httpx.AsyncClient, tag: str) -> None:
    p = (await fhir.post("/Patient", json=make_patient(family=tag, tag=tag))).json()
    bundle = transaction(
        post(make_patient(family=tag, tag=tag)),
        post(make_patient(family=tag, tag=tag, gender="sometimes")),
        {"request": {"method": "GET", "url": f"Patient/{p['id']}"}},
        {"request": {"method": "GET", "url": f"Patient?family={tag}&_count=50"}},
        {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
        {"request": {"method": "DELETE", "url": f"Patient/{p['id']}"}},
        kind="batch")
    r = await fhir.post("/", json=bundle)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["type"] == "batch-response"
    statuses = [e["response"]["status"].split()[0] for e in answer["entry"]]
    assert statuses == ["201", "422", "200", "200", "404", "204"]
    assert answer["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert answer["entry"][2]["resource"]["id"] == p["id"]
    assert answer["entry"][3]["resource"]["type"] == "searchset"
    assert await count(fhir, "Patient", tag) == 1  # the valid create stayed; the first patient is deleted


async def test_a_bundle_of_another_type_or_shape_is_refused(fhir: httpx.AsyncClient) -> None:
    for body in ({"resourceType": "Bundle", "type": "collection"}, {"resourceType": "Patient"}, [1]):
        r = await fhir.post("/", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["resourceType"] == "OperationOutcome"
    r = await fhir.post("/", json=transaction({"request": {"method": "POST", "url": "/"},
                                               "resource": transaction()}))
    assert r.status_code == 400


async def test_scopes_are_checked_per_entry(scoped: Scoped, tag: str) -> None:
    key = scoped.key("tenant-s", "system/Patient.crus")
    async with httpx.AsyncClient(base_url=f"{scoped.url}/fhir/r4", headers={"X-API-Key": key}, timeout=30) as c:
        pid = urn()
        r = await c.post("", json=transaction(post(make_patient(family=tag, tag=tag), pid),
                                              post(make_observation("x", tag=tag, subject={"reference": pid}))))
        assert r.status_code == 403, r.text
        assert "Bundle.entry[1]" in r.json()["issue"][0]["diagnostics"]
        assert (await c.get("/Patient", params={"_tag": tag})).json().get("entry", []) == []
        r = await c.post("", json=transaction(post(make_patient(family=tag, tag=tag)),
                                              post(make_observation("x", tag=tag)), kind="batch"))
        assert [e["response"]["status"].split()[0] for e in r.json()["entry"]] == ["201", "403"]


async def test_another_tenant_sees_nothing_of_a_transaction(fhir: httpx.AsyncClient, base_url: str,
                                                           tag: str) -> None:
    r = await fhir.post("/", json=transaction(post(make_patient(family=tag, tag=tag))))
    pid = r.json()["entry"][0]["resource"]["id"]
    async with httpx.AsyncClient(base_url=f"{base_url}/fhir/r4", headers={"X-API-Key": API_KEYS["tenant-b"]}) as b:
        assert (await b.get(f"/Patient/{pid}")).status_code == 404
        r = await b.post("/", json=transaction({"request": {"method": "DELETE", "url": f"Patient/{pid}"}}))
        assert r.status_code == 200
    assert (await fhir.get(f"/Patient/{pid}")).status_code == 200


# ---------------------------------------------------------------------------------------------- official examples


def official(name: str) -> dict[str, Any]:
    from tests.fhir_rest.test_official_examples import examples_dir

    found: dict[str, Any] = json.loads((examples_dir() / f"Bundle-{name}.json").read_text())
    return found


async def test_the_official_xds_transaction_is_accepted_with_references_rewired(scoped: Scoped) -> None:
    key = scoped.key(f"t-{uuid.uuid4().hex[:8]}", "system/*.*")
    async with httpx.AsyncClient(base_url=f"{scoped.url}/fhir/r4", headers={"X-API-Key": key}, timeout=30) as c:
        r = await c.post("", json=official("xds"))
        assert r.status_code == 200, r.text
        entries = r.json()["entry"]
        assert [e["response"]["status"] for e in entries] == ["201 Created"] * 5
        doc, patient, author1, author2, _binary = (e["resource"] for e in entries)
        assert doc["subject"]["reference"] == f"Patient/{patient['id']}" != "Patient/a2"
        assert [a["reference"] for a in doc["author"]] == [f"Practitioner/{author1['id']}",
                                                           f"Practitioner/{author2['id']}"]
        stored = (await c.get(f"/DocumentReference/{doc['id']}")).json()
        assert stored["subject"]["reference"] == f"Patient/{patient['id']}"


async def test_the_official_transaction_example(scoped: Scoped) -> None:
    """hl7.fhir.r4.examples Bundle-bundle-transaction as a client sends it: its ValueSet/$lookup entry is not
    served here, so nothing is written; without it (and with the Patient/123a its ifMatch expects) all is."""
    key = scoped.key(f"t-{uuid.uuid4().hex[:8]}", "system/*.*")
    async with httpx.AsyncClient(base_url=f"{scoped.url}/fhir/r4", headers={"X-API-Key": key}, timeout=30) as c:
        bundle = official("bundle-transaction")
        r = await c.post("", json=bundle)
        assert r.status_code == 404, r.text
        assert "Bundle.entry[7]" in r.json()["issue"][0]["diagnostics"]
        assert (await c.get("/Patient", params={"_summary": "count"})).json()["total"] == 0
        for _ in range(2):  # Patient/123a at version 2
            assert (await c.put("/Patient/123a", json={"resourceType": "Patient", "id": "123a"})).status_code in (
                200, 201)
        bundle["entry"] = [e for e in bundle["entry"] if e["request"]["url"] != "ValueSet/$lookup"]
        r = await c.post("", json=bundle)
        assert r.status_code == 200, r.text
        statuses = [e["response"]["status"].split()[0] for e in r.json()["entry"]]
        # POST, conditional POST, PUT (update as create), conditional PUT (none matched: created), PUT with
        # ifMatch, DELETE, conditional DELETE (nothing to delete), GET search, GET of an absent id.
        assert statuses == ["201", "201", "201", "201", "200", "204", "204", "200", "404"]
        assert (await c.get("/Patient/123a")).json()["meta"]["versionId"] == "3"


async def test_the_official_batch_examples(scoped: Scoped) -> None:
    key = scoped.key(f"t-{uuid.uuid4().hex[:8]}", "system/*.*")
    async with httpx.AsyncClient(base_url=f"{scoped.url}/fhir/r4", headers={"X-API-Key": key}, timeout=30) as c:
        assert (await c.put("/Patient/example", json=make_patient(id="example"))).status_code == 201
        for name in ("bundle-request-medsallergies", "bundle-request-simplesummary"):
            r = await c.post("", json=official(name))
            assert r.status_code == 200, r.text
            entries = r.json()["entry"]
            assert len(entries) == len(official(name)["entry"])
            # Every entry answered; unknown parameters (_list, notgiven) are ignored, as FHIR's default says.
            assert all(e["response"]["status"] == "200 OK" for e in entries), entries
            assert entries[0]["resource"]["id"] == "example"


async def test_the_official_hla_transaction_is_accepted_with_references_rewired(scoped: Scoped) -> None:
    """hl7.fhir.r4.examples Bundle-hla-1: a DiagnosticReport, its MolecularSequences and Observations, each
    referring to the others by ``urn:uuid``."""
    key = scoped.key(f"t-{uuid.uuid4().hex[:8]}", "system/*.*")
    async with httpx.AsyncClient(base_url=f"{scoped.url}/fhir/r4", headers={"X-API-Key": key}, timeout=30) as c:
        bundle = official("hla-1")
        r = await c.post("", json=bundle)
        assert r.status_code == 200, r.text
        entries = r.json()["entry"]
        assert [e["response"]["status"] for e in entries] == ["201 Created"] * len(bundle["entry"])
        report = entries[0]["resource"]
        ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries}
        results = [ref["reference"] for ref in report.get("result", [])]
        assert results and all(ref in ids for ref in results)  # urn:uuid references rewired to the new ids
        stored = (await c.get(f"/DiagnosticReport/{report['id']}")).json()
        assert stored["result"] == report["result"]
        found = (await c.get("/MolecularSequence", params={"_summary": "count"})).json()["total"]
        assert found == sum(e["resource"]["resourceType"] == "MolecularSequence" for e in bundle["entry"])
