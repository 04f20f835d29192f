"""Bulk Data export (fhir_rest/bulk/, store/jobs.py, store/exports.py) end to end, with a client written from the IG."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from store.errors import Unavailable
from store.jobs import Jobs
from store.metrics import JOBS
from store.validation import validate
from tests.factories import make_audit_event, make_observation, make_patient, make_practitioner
from tests.fhir_rest.bulk_client import BulkClient, BulkError
from tests.scoped import Scoped

SEED_SCOPES = ("system/*.$export", "system/*.$bulkdata-status", "system/Document.read")


def http(scoped: Scoped, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{scoped.url}/fhir/r4", headers={"X-API-Key": key}, timeout=30)


class Clinic:
    """A tenant of its own with a small chart: two patients of one practitioner, observations, a deleted one."""

    def __init__(self, tenant: str, c: httpx.AsyncClient):
        self.tenant, self.c = tenant, c
        self.ids: dict[str, set[str]] = {}

    async def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        r = await self.c.post(f"/{resource['resourceType']}", json=resource)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        self.ids.setdefault(created["resourceType"], set()).add(created["id"])
        return created

    async def fill(self) -> Clinic:
        self.doc = await self.create(make_practitioner())
        gp = [{"reference": f"Practitioner/{self.doc['id']}"}]
        self.p1 = await self.create(make_patient(family="One", generalPractitioner=gp))
        self.p2 = await self.create(make_patient(family="Two", generalPractitioner=gp))
        self.p3 = await self.create(make_patient(family="Three"))
        for p in (self.p1, self.p2, self.p3):
            await self.create(make_observation(p["id"]))
        gone = await self.create(make_observation(self.p1["id"], value=99))
        assert (await self.c.delete(f"/Observation/{gone['id']}")).status_code == 204
        self.ids["Observation"].discard(gone["id"])
        self.gone = gone["id"]
        return self


@pytest.fixture
async def clinic(scoped: Scoped) -> AsyncIterator[Clinic]:
    tenant = f"bulk-{uuid.uuid4().hex[:8]}"
    async with http(scoped, scoped.key(tenant, "system/*.*")) as c:
        yield await Clinic(tenant, c).fill()


def ids(found: dict[str, list[dict[str, Any]]], rt: str) -> set[str]:
    return {r["id"] for r in found.get(rt, [])}


async def test_system_export_of_the_whole_clinic(clinic: Clinic, scoped: Scoped) -> None:
    async with http(scoped, scoped.key(f"other-{uuid.uuid4().hex[:6]}", "system/*.*")) as other:
        stranger = (await other.post("/Patient", json=make_patient(family="Stranger"))).json()
    bulk = BulkClient(clinic.c)
    done_before = JOBS.labels("export", "completed")._value.get()
    manifest, found = await bulk.export(params={"_outputFormat": "application/fhir+ndjson"})
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    # the operator's view (/metrics): the job was counted through to its end (the app runs in this process)
    assert JOBS.labels("export", "completed")._value.get() >= done_before + 1
    assert manifest["request"].endswith("/fhir/r4/$export?_outputFormat=application%2Ffhir%2Bndjson")
    assert manifest["transactionTime"]
    assert ids(found, "Patient") == clinic.ids["Patient"]
    assert stranger["id"] not in ids(found, "Patient")  # another tenant's data: none
    assert ids(found, "Observation") == clinic.ids["Observation"] and clinic.gone not in ids(found, "Observation")
    assert ids(found, "Practitioner") == clinic.ids["Practitioner"]
    assert "AuditEvent" not in found  # the trail only when asked for
    assert all(len({o["type"] for o in manifest["output"] if o["url"] == item["url"]}) == 1
               for item in manifest["output"])


async def test_patient_and_group_exports(clinic: Clinic) -> None:
    bulk = BulkClient(clinic.c)
    _, found = await bulk.export("/Patient/$export")
    assert ids(found, "Patient") == clinic.ids["Patient"]
    assert "Practitioner" not in found  # in no patient compartment
    assert ids(found, "Observation") == clinic.ids["Observation"]
    group = (await clinic.c.post("/Group", json={
        "resourceType": "Group", "type": "person", "actual": True,
        "member": [{"entity": {"reference": f"Patient/{clinic.p1['id']}"}},
                   {"entity": {"reference": f"Patient/{clinic.p3['id']}"}}]})).json()
    _, found = await bulk.export(f"/Group/{group['id']}/$export", params={"_type": "Patient,Observation"})
    assert ids(found, "Patient") == {clinic.p1["id"], clinic.p3["id"]}
    assert {o["subject"]["reference"] for o in found["Observation"]} == {f"Patient/{clinic.p1['id']}",
                                                                          f"Patient/{clinic.p3['id']}"}
    # POST kick-off with a Parameters resource and the patient parameter.
    _, found = await bulk.export("/Patient/$export", parameters={"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueReference": {"reference": f"Patient/{clinic.p2['id']}"}},
        {"name": "_type", "valueString": "Observation"}]})
    assert set(found) == {"Observation"}
    assert {o["subject"]["reference"] for o in found["Observation"]} == {f"Patient/{clinic.p2['id']}"}
    r = await clinic.c.get("/Group/nope/$export", headers={"Prefer": "respond-async"})
    assert r.status_code == 404


async def test_kickoff_parameters(clinic: Clinic) -> None:
    bulk = BulkClient(clinic.c)
    _, found = await bulk.export(params={"_type": "Patient", "_elements": "gender,Patient.birthDate"})
    assert set(found) == {"Patient"}
    for p in found["Patient"]:
        assert set(p) <= {"resourceType", "id", "meta", "gender", "birthDate"}
        assert any(t["code"] == "SUBSETTED" for t in p["meta"]["tag"])
    # the mandatory elements stay, asked for or not (Observation.status, 1..1): each line still validates
    _, found = await bulk.export(params={"_type": "Observation", "_elements": "code"})
    assert found["Observation"]
    for o in found["Observation"]:
        assert set(o) == {"resourceType", "id", "meta", "status", "code"}
        validate(o)
    _, found = await bulk.export(params={"_type": "Patient", "_typeFilter": "Patient?family=One"})
    assert ids(found, "Patient") == {clinic.p1["id"]}
    since = (await clinic.c.get(f"/Patient/{clinic.p3['id']}")).json()["meta"]["lastUpdated"]
    await asyncio.sleep(0.01)
    updated = (await clinic.c.put(f"/Patient/{clinic.p2['id']}", json={**clinic.p2, "gender": "male"})).json()
    _, found = await bulk.export(params={"_type": "Patient", "_since": since})
    assert ids(found, "Patient") == {updated["id"]}
    for bad in ({"_type": "Nonsense"}, {"_type": "ValueSet"}, {"_outputFormat": "text/csv"}, {"_since": "soon"},
                {"_typeFilter": "Observation?code=x"}, {"_typeFilter": "Patient?nonsense=1"}, {"foo": "bar"}):
        with pytest.raises(BulkError) as refused:
            await bulk.kickoff(params={"_type": "Patient", **bad} if "_type" not in bad else bad)
        assert refused.value.response.status_code == 400, bad
        assert refused.value.response.json()["resourceType"] == "OperationOutcome"
    with pytest.raises(BulkError) as refused:
        await bulk.kickoff("/Patient/$export", params={"_type": "Practitioner"})
    assert refused.value.response.status_code == 400
    r = await clinic.c.get("/$export")  # no Prefer: respond-async
    assert r.status_code == 400
    r = await clinic.c.get("/$export", headers={"Prefer": "respond-async", "Accept": "text/csv"})
    assert r.status_code == 406


async def test_status_polling_cancel_and_files(clinic: Clinic, scoped: Scoped) -> None:
    bulk = BulkClient(clinic.c)
    url = await bulk.kickoff()
    first = await clinic.c.get(url)
    if first.status_code == 202:
        assert first.headers["retry-after"] == "1"
        again = await clinic.c.get(url)  # at once: sooner than asked
        assert again.status_code in (429, 200)
        if again.status_code == 429:
            assert int(again.headers["retry-after"]) >= 1
    manifest = await bulk.wait(url)
    async with http(scoped, scoped.key(f"other-{uuid.uuid4().hex[:6]}", "system/*.*")) as other:
        assert (await other.get(url)).status_code == 404  # another tenant's job is not there
        assert (await other.get(manifest["output"][0]["url"])).status_code == 404
    async with http(scoped, scoped.key(clinic.tenant, "system/*.*", subject="another-client")) as peer:
        assert (await peer.get(url)).status_code == 404  # another client's job neither
    r = await clinic.c.get(manifest["output"][0]["url"], headers={"Accept": "text/html"})
    assert r.status_code == 406
    assert (await clinic.c.delete(url)).status_code == 202
    assert (await clinic.c.get(url)).status_code == 404
    assert (await clinic.c.get(manifest["output"][0]["url"])).status_code == 404
    assert (await clinic.c.delete(url)).status_code == 404


async def test_scopes(clinic: Clinic, scoped: Scoped) -> None:
    async with http(scoped, scoped.key(clinic.tenant, "system/Patient.rs")) as narrow:
        _, found = await BulkClient(narrow).export()
        assert set(found) == {"Patient"}  # only what the scopes let it read
        with pytest.raises(BulkError) as refused:
            await BulkClient(narrow).kickoff(params={"_type": "Observation"})
        assert refused.value.response.status_code == 403
    # the audit trail (issue 11): a user/ wildcard exports the clinic's records, not who accessed them
    async with http(scoped, scoped.key(clinic.tenant, "user/*.rs")) as user:
        with pytest.raises(BulkError) as refused:
            await BulkClient(user).kickoff(params={"_type": "Patient,AuditEvent"})
        assert refused.value.response.status_code == 403 and "AuditEvent" in refused.value.response.text
    async with http(scoped, scoped.key(clinic.tenant, "system/AuditEvent.rs", "system/AuditEvent.c")) as auditor:
        imported = (await auditor.post("/AuditEvent", json=make_audit_event(clinic.p1["id"]))).json()["id"]
        _, found = await BulkClient(auditor).export(params={"_type": "AuditEvent"})
        assert set(found) == {"AuditEvent"} and imported in ids(found, "AuditEvent")
    async with http(scoped, scoped.key(clinic.tenant, "patient/*.rs", patient=clinic.p1["id"])) as confined:
        with pytest.raises(BulkError) as refused:
            await BulkClient(confined).kickoff()
        assert refused.value.response.status_code == 403
    async with http(scoped, scoped.key(clinic.tenant, *SEED_SCOPES)) as seed:
        _, found = await BulkClient(seed).export("/Patient/$export")
        assert ids(found, "Patient") == clinic.ids["Patient"]
    async with http(scoped, scoped.key(clinic.tenant, "system/*.$export", subject="s2")) as no_status:
        url = await BulkClient(no_status).kickoff()
        assert (await no_status.get(url)).status_code == 403


async def test_files_split_at_the_configured_size(scoped_small: Scoped) -> None:
    tenant = f"split-{uuid.uuid4().hex[:6]}"
    async with http(scoped_small, scoped_small.key(tenant, "system/*.*")) as c:
        made = set()
        for i in range(12):
            made.add((await c.post("/Patient", json=make_patient(family=f"Split{i}"))).json()["id"])
        manifest, found = await BulkClient(c).export(params={"_type": "Patient"})
        assert len(manifest["output"]) > 1
        assert ids(found, "Patient") == made
        assert sum(o["count"] for o in manifest["output"]) == 12


@pytest.fixture(scope="module")
def scoped_small(settings: Any) -> Any:
    from tests.scoped import scoped_app

    with scoped_app(settings.model_copy(update={"export_file_max_bytes": 2048})) as app:
        yield app


def members(group: dict[str, Any]) -> set[str]:
    return {m["entity"]["reference"].split("/")[1] for m in group.get("member", [])}


async def test_a_group_per_practitioner_kept_current_and_exportable(clinic: Clinic) -> None:
    c = clinic.c
    panel = (await c.get(f"/Group/{clinic.doc['id']}")).json()
    assert panel["managingEntity"]["reference"] == f"Practitioner/{clinic.doc['id']}"
    assert members(panel) == {clinic.p1["id"], clinic.p2["id"]}
    other = await clinic.create(make_practitioner(family="Other"))
    assert members((await c.get(f"/Group/{other['id']}")).json()) == set()  # every practitioner has one
    # p2 moves to the other practitioner; p3 joins; p1 is deleted.
    p2 = {**clinic.p2, "generalPractitioner": [{"reference": f"Practitioner/{other['id']}"}]}
    assert (await c.put(f"/Patient/{clinic.p2['id']}", json=p2)).status_code == 200
    p3 = {**clinic.p3, "generalPractitioner": [{"reference": f"Practitioner/{clinic.doc['id']}"}]}
    assert (await c.put(f"/Patient/{clinic.p3['id']}", json=p3)).status_code == 200
    assert (await c.delete(f"/Patient/{clinic.p1['id']}")).status_code == 204
    assert members((await c.get(f"/Group/{clinic.doc['id']}")).json()) == {clinic.p3["id"]}
    assert members((await c.get(f"/Group/{other['id']}")).json()) == {clinic.p2["id"]}
    _, found = await BulkClient(c).export(f"/Group/{clinic.doc['id']}/$export")
    assert ids(found, "Patient") == {clinic.p3["id"]}
    assert {o["subject"]["reference"] for o in found["Observation"]} == {f"Patient/{clinic.p3['id']}"}
    # A family Group a client keeps is left as it is.
    family = (await c.post("/Group", json={"resourceType": "Group", "type": "person", "actual": True,
                                           "member": [{"entity": {"reference": f"Patient/{clinic.p2['id']}"}}]}))
    assert members((await c.get(f"/Group/{family.json()['id']}")).json()) == {clinic.p2["id"]}


async def test_the_capability_statement_lists_what_works(clinic: Clinic) -> None:
    rest = (await clinic.c.get("/metadata")).json()["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    assert {o["name"] for o in rest["operation"]} == {"export", "bulkdata-status"}
    by_type = {r["type"]: r for r in rest["resource"]}
    assert [o["name"] for o in by_type["Patient"]["operation"]] == ["export", "everything", "validate"]
    assert [o["name"] for o in by_type["Group"]["operation"]] == ["export", "validate"]
    assert [o["name"] for o in by_type["Observation"]["operation"]] == ["validate"]
    assert by_type["Patient"]["conditionalUpdate"] is True and by_type["Patient"]["conditionalDelete"] == "single"
    assert by_type["AuditEvent"]["conditionalDelete"] == "not-supported"


async def test_a_store_error_mid_export_pauses_the_job_which_resumes_from_its_checkpoint(
        clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    # A busy store timing one write out must not fail a long export for good: it is paused, then resumed.
    real = Jobs.put_chunk
    failures: list[str] = []

    async def flaky(self: Jobs, job: dict[str, Any], file_id: str, n: int, data: bytes) -> None:
        if not failures and job["tenant"] == clinic.tenant:
            failures.append(file_id)
            raise Unavailable()
        await real(self, job, file_id, n, data)

    monkeypatch.setattr(Jobs, "put_chunk", flaky)
    paused_before = JOBS.labels("export", "paused")._value.get()
    manifest, found = await BulkClient(clinic.c).export()
    assert failures and manifest["error"] == []
    assert JOBS.labels("export", "paused")._value.get() == paused_before + 1
    assert ids(found, "Patient") == clinic.ids["Patient"]
    assert ids(found, "Observation") == clinic.ids["Observation"]
    assert all(n == 1 for n in Counter(r["id"] for r in found["Observation"]).values())  # each once
