"""SMART scopes at the FHIR REST door: 403 insufficient_scope in OperationOutcome shape, the patient compartment
(404 outside it, searches and includes inside it, writes into it), granular scopes, open discovery."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.factories import make_appointment, make_audit_event, make_observation, make_patient, make_practitioner

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


class Clinic:
    """A tenant of the scoped app with two patients, their observations and a practitioner."""

    def __init__(self, scoped: Any, client: httpx.AsyncClient):
        self.scoped, self.client = scoped, client
        self.tenant = f"scopes-{uuid.uuid4().hex[:8]}"
        self.admin = scoped.key(self.tenant, "system/*.*")
        self.ids: dict[str, str] = {}

    def as_(self, key: str) -> dict[str, str]:
        return {"X-API-Key": key}

    async def put(self, name: str, resource: dict[str, Any]) -> str:
        rid = self.ids[name] = f"{name}-{uuid.uuid4().hex[:8]}"
        r = await self.client.put(f"/{resource['resourceType']}/{rid}", json={**resource, "id": rid},
                                  headers=self.as_(self.admin))
        assert r.status_code == 201, r.text
        return rid

    async def seed(self) -> None:
        p1, p2 = await self.put("p1", make_patient()), await self.put("p2", make_patient(family="Other"))
        doc = await self.put("doc", make_practitioner())
        await self.put("o1lab", make_observation(p1, category="laboratory"))
        await self.put("o1vit", make_observation(p1, category="vital-signs"))
        await self.put("o2", make_observation(p2))
        await self.put("a1", make_appointment(p1, practitioner_id=doc))
        await self.put("a2", make_appointment(p2, practitioner_id=doc))

    def key(self, *scopes: str, patient: str | None = None) -> dict[str, str]:
        return self.as_(self.scoped.key(self.tenant, *scopes, patient=patient))


def ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


def assert_forbidden(r: httpx.Response, needed: str) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["www-authenticate"] == 'Bearer realm="fhirgraph", error="insufficient_scope"'
    assert r.headers["content-type"].startswith("application/fhir+json")
    issue = r.json()["issue"][0]
    assert issue["code"] == "forbidden"
    assert issue["diagnostics"].startswith("insufficient_scope:") and needed in issue["diagnostics"]


async def test_each_interaction_needs_its_scope(clinic: Clinic) -> None:
    c, p1 = clinic.client, clinic.ids["p1"]
    reader = clinic.key("user/Patient.read")
    assert (await c.get(f"/Patient/{p1}", headers=reader)).status_code == 200  # the read lane
    assert (await c.get(f"/Patient/{p1}/_history/1", headers=reader)).status_code == 200
    assert (await c.get(f"/Patient/{p1}/_history", headers=reader)).status_code == 200
    assert (await c.get("/Patient", headers=reader)).status_code == 200
    assert_forbidden(await c.get(f"/Observation/{clinic.ids['o1lab']}", headers=reader),
                     "requires user/Observation.r or system/Observation.r")
    assert_forbidden(await c.get("/Observation", headers=reader), "user/Observation.s")
    assert_forbidden(await c.get("/Observation/_history", headers=reader), "user/Observation.s")
    assert_forbidden(await c.post("/Patient", json=make_patient(), headers=reader), "user/Patient.c")
    # a system client is told the system/ scope first
    assert_forbidden(await c.post("/Patient/$validate", json=make_patient(), headers=clinic.key("system/*.rs")),
                     "requires system/Patient.c or user/Patient.c")
    assert_forbidden(await c.put(f"/Patient/{p1}", json={**make_patient(), "id": p1}, headers=reader),
                     "user/Patient.u")
    assert_forbidden(await c.patch(f"/Patient/{p1}", content=b"[]", headers={
        **reader, "Content-Type": "application/json-patch+json"}), "user/Patient.u")
    assert_forbidden(await c.delete(f"/Patient/{p1}", headers=reader), "user/Patient.d")
    # v2 spelling: read without search
    only_r = clinic.key("user/Patient.r")
    assert (await c.get(f"/Patient/{p1}", headers=only_r)).status_code == 200
    assert_forbidden(await c.get("/Patient", headers=only_r), "user/Patient.s")
    writer = clinic.key("user/Observation.cu")
    r = await c.post("/Observation", json=make_observation(p1), headers=writer)
    assert r.status_code == 201, r.text
    assert_forbidden(await c.delete(f"/Observation/{r.json()['id']}", headers=writer), "user/Observation.d")


async def test_discovery_stays_open_and_no_scopes_reads_nothing(clinic: Clinic) -> None:
    c = clinic.client
    assert (await c.get("/metadata")).status_code == 200
    none = clinic.key("openid", "fhirUser")
    assert_forbidden(await c.get(f"/Patient/{clinic.ids['p1']}", headers=none), "Patient.r")


async def test_a_patient_context_sees_only_its_compartment(clinic: Clinic) -> None:
    c, i = clinic.client, clinic.ids
    me = clinic.key("patient/*.read", "launch/patient", patient=i["p1"])
    assert (await c.get(f"/Patient/{i['p1']}", headers=me)).status_code == 200
    assert (await c.get(f"/Observation/{i['o1lab']}", headers=me)).status_code == 200
    for path in (f"/Patient/{i['p2']}", f"/Observation/{i['o2']}", f"/Observation/{i['o2']}/_history/1",
                 f"/Observation/{i['o2']}/_history", f"/Appointment/{i['a2']}"):
        r = await c.get(path, headers=me)
        assert r.status_code == 404, (path, r.text)  # not 403: its existence is not revealed
        assert r.json()["issue"][0]["code"] == "not-found"
    assert ids((await c.get("/Patient", headers=me)).json()) == {i["p1"]}
    assert ids((await c.get("/Observation", headers=me)).json()) == {i["o1lab"], i["o1vit"]}
    assert ids((await c.get("/Observation", params={"subject": f"Patient/{i['p2']}"}, headers=me)).json()) == set()
    assert ids((await c.get("/Appointment", headers=me)).json()) == {i["a1"]}
    history = (await c.get("/Observation/_history", headers=me)).json()
    assert {e["resource"]["id"] for e in history.get("entry", [])} == {i["o1lab"], i["o1vit"]}
    # Practitioner is in no patient compartment: not readable under a patient/ scope.
    assert_forbidden(await c.get(f"/Practitioner/{i['doc']}", headers=me), "no patient compartment")


async def test_includes_never_leave_the_compartment_or_the_readable_types(clinic: Clinic) -> None:
    c, i = clinic.client, clinic.ids
    me = clinic.key("patient/*.rs", patient=i["p1"])
    bundle = (await c.get("/Patient", params={"_revinclude": "Observation:subject"}, headers=me)).json()
    assert ids(bundle) == {i["p1"]} and ids(bundle, "include") == {i["o1lab"], i["o1vit"]}
    # The appointment's practitioner is not readable under patient/ scopes: left out, the search still answers.
    bundle = (await c.get("/Appointment", params={"_include": "Appointment:actor"}, headers=me)).json()
    assert ids(bundle) == {i["a1"]} and ids(bundle, "include") == {i["p1"]}
    # Types without a read scope are left out of a user's includes too.
    user = clinic.key("user/Patient.rs")
    bundle = (await c.get("/Patient", params={"_id": f"{i['p1']},{i['p2']}", "_revinclude": "Observation:subject"},
                          headers=user)).json()
    assert ids(bundle) == {i["p1"], i["p2"]} and ids(bundle, "include") == set()
    admin = clinic.as_(clinic.admin)
    bundle = (await c.get("/Patient", params={"_id": i["p2"], "_revinclude": "Observation:subject"},
                          headers=admin)).json()
    assert ids(bundle, "include") == {i["o2"]}


async def test_the_audit_trail_needs_a_scope_naming_it_or_a_system_one(clinic: Clinic) -> None:
    # Issue 11: the trail is the clinic administrators'; a practitioner's or a patient's wildcard does not reach it.
    c, i = clinic.client, clinic.ids
    made = await c.post("/AuditEvent", json=make_audit_event(i["p1"]), headers=clinic.key("system/AuditEvent.c"))
    assert made.status_code == 201, made.text
    ae = made.json()["id"]
    reads = [("/AuditEvent", {"patient": i["p1"]}), (f"/AuditEvent/{ae}", {}), (f"/AuditEvent/{ae}/_history/1", {}),
             (f"/AuditEvent/{ae}/_history", {}), ("/AuditEvent/_history", {})]
    wildcards = [clinic.key("user/*.rs"), clinic.key("user/*.read"), clinic.key("user/*.cruds"),
                 clinic.key("patient/*.rs", "launch/patient", patient=i["p1"]), clinic.key("patient/*.read",
                                                                                      patient=i["p1"])]
    for who in wildcards:
        for path, params in reads:
            assert_forbidden(await c.get(path, params=params, headers=who), "AuditEvent")
        search = await c.get("/AuditEvent", headers=who)
        assert_forbidden(search, "does not grant AuditEvent")
        # an include of the trail is left out, as of any type the caller may not read; the search still answers
        bundle = (await c.get("/Patient", params={"_id": i["p1"], "_revinclude": "AuditEvent:entity"},
                              headers=who)).json()
        assert ids(bundle) == {i["p1"]} and ids(bundle, "include") == set()
        # $everything leaves it out, and refuses it by name
        assert ae not in ids((await c.get(f"/Patient/{i['p1']}/$everything", headers=who)).json())
        assert_forbidden(await c.get(f"/Patient/{i['p1']}/$everything", params={"_type": "AuditEvent"},
                                     headers=who), "AuditEvent")
    named = [clinic.key("user/AuditEvent.rs"), clinic.key("user/AuditEvent.read"),
             clinic.key("system/AuditEvent.rs"), clinic.key("system/AuditEvent.read"), clinic.key("system/*.rs"),
             clinic.as_(clinic.admin)]
    for who in named:
        found = await c.get("/AuditEvent", params={"patient": i["p1"], "_id": ae}, headers=who)
        assert ids(found.json()) == {ae}, found.text
        assert (await c.get(f"/AuditEvent/{ae}", headers=who)).status_code == 200
    for who in (clinic.key("user/Patient.rs", "user/AuditEvent.rs"), clinic.as_(clinic.admin)):
        bundle = (await c.get("/Patient", params={"_id": i["p1"], "_revinclude": "AuditEvent:entity"},
                              headers=who)).json()
        assert ae in ids(bundle, "include")
    # reading the trail is not writing it: that still needs system/AuditEvent.c (wildcards never grant it)
    for who in (clinic.key("user/AuditEvent.cruds"), clinic.as_(clinic.admin)):
        assert_forbidden(await c.post("/AuditEvent", json=make_audit_event(i["p1"]), headers=who),
                         "system/AuditEvent.c")


async def test_patient_context_writes_must_target_its_compartment(clinic: Clinic) -> None:
    c, i = clinic.client, clinic.ids
    me = clinic.key("patient/Observation.crus", patient=i["p1"])
    r = await c.post("/Observation", json=make_observation(i["p1"]), headers=me)
    assert r.status_code == 201, r.text
    assert_forbidden(await c.post("/Observation", json=make_observation(i["p2"]), headers=me), "compartment")
    mine = r.json()
    assert_forbidden(await c.put(f"/Observation/{mine['id']}",
                                 json={**mine, "subject": {"reference": f"Patient/{i['p2']}"}}, headers=me),
                     "compartment")
    theirs = {**make_observation(i["p2"]), "id": i["o2"]}
    assert (await c.put(f"/Observation/{i['o2']}", json=theirs, headers=me)).status_code == 404
    ok = await c.put(f"/Observation/{mine['id']}", json={**mine, "status": "amended"}, headers=me)
    assert ok.status_code == 200, ok.text


async def test_granular_scopes_filter_searches_and_reads(clinic: Clinic) -> None:
    c, i = clinic.client, clinic.ids
    lab = clinic.key(f"patient/Observation.rs?category={LAB}", patient=i["p1"])
    assert ids((await c.get("/Observation", headers=lab)).json()) == {i["o1lab"]}
    assert (await c.get(f"/Observation/{i['o1lab']}", headers=lab)).status_code == 200
    assert (await c.get(f"/Observation/{i['o1vit']}", headers=lab)).status_code == 404
    user_lab = clinic.key("user/Observation.rs?category=laboratory")
    assert ids((await c.get("/Observation", headers=user_lab)).json()) == {i["o1lab"]}
