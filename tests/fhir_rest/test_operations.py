"""Patient/$everything and $validate (fhir_rest/operations.py), end to end."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.auth.test_audit import _trail
from tests.factories import make_allergy, make_appointment, make_observation, make_patient, make_practitioner
from tests.fhir_rest.test_chaining import encounter
from tests.fhir_rest.test_scopes import Clinic
from tests.fhir_rest.test_search import create


def refs(bundle: dict[str, Any]) -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])]


async def walk(fhir: httpx.AsyncClient, url: str, params: dict[str, str] | None = None,
               headers: dict[str, str] | None = None) -> tuple[list[str], int]:
    """Every entry of every page, following next links; and how many pages there were."""
    r = await fhir.get(url, params=params, headers=headers or {})
    found, pages = [], 0
    while True:
        assert r.status_code == 200, r.text[:300]
        bundle = r.json()
        assert bundle["type"] == "searchset"
        found += refs(bundle)
        pages += 1
        nxt = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if nxt is None:
            return found, pages
        r = await fhir.get(nxt, headers=headers or {})


@pytest.fixture
async def record(fhir: httpx.AsyncClient, tag: str) -> dict[str, str]:
    doc = await create(fhir, make_practitioner(tag=tag))
    pid = await create(fhir, make_patient(tag=tag))
    other = await create(fhir, make_patient(tag=tag, family="Else"))
    ids = {"doc": doc, "pid": pid, "other": other}
    ids["obs1"] = await create(fhir, make_observation(pid, tag=tag))
    ids["obs2"] = await create(fhir, make_observation(pid, tag=tag, code="8867-4"))
    ids["enc"] = await create(fhir, encounter(pid, tag))
    ids["allergy"] = await create(fhir, make_allergy(pid, tag=tag))
    ids["appt"] = await create(fhir, make_appointment(pid, practitioner_id=doc, tag=tag))
    ids["not_mine"] = await create(fhir, make_observation(other, tag=tag))
    return ids


async def test_everything_is_the_patients_compartment_paged(fhir: httpx.AsyncClient, record: dict[str, str]
                                                            ) -> None:
    i = record
    url = f"/Patient/{i['pid']}/$everything"
    mine = {f"Patient/{i['pid']}", f"Observation/{i['obs1']}", f"Observation/{i['obs2']}",
            f"Encounter/{i['enc']}", f"AllergyIntolerance/{i['allergy']}", f"Appointment/{i['appt']}"}
    whole, pages = await walk(fhir, url)
    assert whole[0] == f"Patient/{i['pid']}"  # the Patient first
    # the writes' Provenances are in the compartment too (Provenance.patient); nothing of the other patient
    assert mine <= set(whole) and f"Observation/{i['not_mine']}" not in whole
    assert {r.split("/")[0] for r in set(whole) - mine} <= {"Provenance"}
    assert pages == 1
    # paged by _count: every resource once, across type boundaries
    paged, pages = await walk(fhir, url, {"_count": "2"})
    assert sorted(paged) == sorted(whole) and len(paged) == len(set(paged)) and pages >= 4
    # _count=0: no resources and no next link (not an endless walk of empty pages)
    empty = (await fhir.get(url, params={"_count": "0"})).json()
    assert empty["entry"] == [] and [link["relation"] for link in empty["link"]] == ["self"]
    # _type, _since
    typed, _ = await walk(fhir, url, {"_type": "Observation,Encounter"})
    assert set(typed) == {f"Observation/{i['obs1']}", f"Observation/{i['obs2']}", f"Encounter/{i['enc']}"}
    assert (await walk(fhir, url, {"_since": "2999-01-01T00:00:00Z"}))[0] == []
    # POST: the same parameters in a Parameters body
    posted = await fhir.post(url, json={"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueString": "Observation"}, {"name": "_count", "valueInteger": 1}]})
    assert posted.status_code == 200, posted.text
    assert [e["resource"]["resourceType"] for e in posted.json()["entry"]] == ["Observation"]
    assert any(link["relation"] == "next" for link in posted.json()["link"])
    bad = await fhir.post(url, json={"resourceType": "Patient"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    assert set((await walk(fhir, url, {"_since": "2000-01-01T00:00:00Z"}))[0]) == set(whole)
    # refusals
    for params in ({"_type": "Unicorn"}, {"_type": "Practitioner"}, {"_since": "yesterday"},
                   {"_cursor": "bm9wZQ"}):
        r = await fhir.get(url, params=params)
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome", params
    assert (await fhir.get(f"/Patient/{uuid.uuid4()}/$everything")).status_code == 404
    # an other patient's cursor does not resume this one
    first = (await fhir.get(url, params={"_count": "1"})).json()
    cursor = next(link["url"] for link in first["link"] if link["relation"] == "next").split("_cursor=")[1]
    r = await fhir.get(f"/Patient/{i['other']}/$everything", params={"_cursor": cursor})
    assert r.status_code == 400


async def test_everything_stays_in_the_tenant(fhir_b: httpx.AsyncClient, record: dict[str, str]) -> None:
    assert (await fhir_b.get(f"/Patient/{record['pid']}/$everything")).status_code == 404


async def test_everything_checks_scopes_per_type(clinic: Clinic) -> None:
    i, c = clinic.ids, clinic.client
    me = clinic.key("patient/*.rs", patient=i["p1"])
    mine, _ = await walk(c, f"/Patient/{i['p1']}/$everything", headers=me)
    assert {f"Observation/{i['o1lab']}", f"Observation/{i['o1vit']}", f"Appointment/{i['a1']}"} <= set(mine)
    assert f"Observation/{i['o2']}" not in mine
    assert (await c.get(f"/Patient/{i['p2']}/$everything", headers=me)).status_code == 404
    # only Observations of one category may be read: the other types are left out, asking for one is a 403
    lab = clinic.key("patient/Patient.rs",
                     "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category"
                     "|laboratory", patient=i["p1"])
    narrow, _ = await walk(c, f"/Patient/{i['p1']}/$everything", headers=lab)
    assert set(narrow) == {f"Patient/{i['p1']}", f"Observation/{i['o1lab']}"}
    r = await c.get(f"/Patient/{i['p1']}/$everything", params={"_type": "Appointment"}, headers=lab)
    assert r.status_code == 403
    no_patient = clinic.key("patient/Observation.rs", patient=i["p1"])
    assert (await c.get(f"/Patient/{i['p1']}/$everything", headers=no_patient)).status_code == 403


async def test_everything_and_validate_are_audited_as_operations(fhir: httpx.AsyncClient,
                                                                 record: dict[str, str]) -> None:
    pid = record["pid"]
    assert (await fhir.get(f"/Patient/{pid}/$everything")).status_code == 200
    assert (await fhir.post("/Observation/$validate", json=make_observation(pid))).status_code == 200
    events = await _trail(fhir, {"patient": pid, "subtype": "operation"}, want=2)
    described = sorted(e.get("entity", [{}])[-1].get("description", "") for e in events)
    actions = sorted(e["action"] for e in events)
    assert len(events) >= 2 and actions == ["E", "R"], (described, actions)


# ---------------------------------------------------------------------------------------------- $validate


def outcome(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def errors(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in issues if i["severity"] == "error"]


async def test_validate_names_every_offending_element_and_writes_nothing(fhir: httpx.AsyncClient,
                                                                         tag: str) -> None:
    before = (await fhir.get("/Patient", params={"_tag": f"https://fhirgraph.dev/fhir/CodeSystem/test-run|{tag}",
                                                 "_summary": "count"})).json()["total"]
    good = outcome(await fhir.post("/Patient/$validate", json=make_patient(tag=tag)))
    assert not errors(good) and good[0]["severity"] == "information"
    bad = make_patient(tag=tag, birthDate="14/03/1988", bogus=1)
    issues = errors(outcome(await fhir.post("/Patient/$validate", json=bad)))
    paths = {p for i in issues for p in i.get("expression", [])}
    assert {"Patient.birthDate", "Patient.bogus"} <= paths
    coded = errors(outcome(await fhir.post("/Patient/$validate", json=make_patient(gender="feminine"))))
    assert any(i["code"] == "code-invalid" and i["expression"] == ["Patient.gender"] for i in coded)
    status = errors(outcome(await fhir.post("/Observation/$validate", json={
        "resourceType": "Observation", "status": "banana", "code": {"text": "Weight"}})))
    assert any(i["code"] == "code-invalid" and i["expression"] == ["Observation.status"] for i in status)
    strict = errors(outcome(await fhir.post("/Patient/$validate", json={"resourceType": "Patient", "active": "yes"})))
    assert {p for i in strict for p in i["expression"]} == {"Patient.active"}
    # the same answer a create gets, as a finding rather than a 422
    created = await fhir.post("/Patient", json=bad)
    assert created.status_code == 422
    assert {p for i in created.json()["issue"] for p in i.get("expression", [])} == paths
    # a Parameters body, modes, a profile (not checked: said so)
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": make_patient(tag=tag)}, {"name": "mode", "valueCode": "create"},
        {"name": "profile", "valueUri": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"}]}
    issues = outcome(await fhir.post("/Patient/$validate", json=params))
    assert not errors(issues) and any(i["severity"] == "warning" for i in issues)
    after = (await fhir.get("/Patient", params={"_tag": f"https://fhirgraph.dev/fhir/CodeSystem/test-run|{tag}",
                                                "_summary": "count"})).json()["total"]
    assert after == before == 0


async def test_validate_update_and_delete_modes(fhir: httpx.AsyncClient, tag: str) -> None:
    patient = (await fhir.post("/Patient", json=make_patient(tag=tag))).json()
    pid = patient["id"]

    def parameters(mode: str, resource: dict[str, Any] | None = None) -> dict[str, Any]:
        items: list[dict[str, Any]] = [{"name": "mode", "valueCode": mode}]
        if resource is not None:
            items.append({"name": "resource", "resource": resource})
        return {"resourceType": "Parameters", "parameter": items}

    ok = outcome(await fhir.post(f"/Patient/{pid}/$validate", json=parameters("update", {**patient,
                                                                                        "gender": "male"})))
    assert not errors(ok)
    wrong_id = outcome(await fhir.post(f"/Patient/{pid}/$validate", json=parameters("update", {**patient,
                                                                                              "id": "other"})))
    assert errors(wrong_id)
    assert not errors(outcome(await fhir.post(f"/Patient/{pid}/$validate", json=parameters("delete"))))
    audit = await _trail(fhir, {"patient": pid}, want=1)
    refused = errors(outcome(await fhir.post(f"/AuditEvent/{audit[0]['id']}/$validate",
                                             json=parameters("delete"))))
    assert "append-only" in refused[0]["diagnostics"]
    # modes in the wrong place, no resource, a body that is not FHIR JSON, an unknown type
    assert (await fhir.post("/Patient/$validate", json=parameters("update", patient))).status_code == 400
    assert (await fhir.post(f"/Patient/{pid}/$validate", json=parameters("create", patient))).status_code == 400
    assert (await fhir.post("/Patient/$validate", json={"resourceType": "Parameters"})).status_code == 400
    assert (await fhir.post("/Patient/$validate", json=make_observation(pid))).status_code == 200  # a finding
    assert (await fhir.post("/Patient/$validate", content=b"<Patient/>",
                            headers={"Content-Type": "application/fhir+xml"})).status_code == 415
    assert (await fhir.post("/Unicorn/$validate", json={"resourceType": "Unicorn"})).status_code == 404
    # nothing changed
    assert (await fhir.get(f"/Patient/{pid}")).json()["meta"]["versionId"] == "1"


async def test_validate_applies_the_callers_confinement(clinic: Clinic) -> None:
    i, c = clinic.ids, clinic.client
    writer = clinic.key("patient/Observation.crus", patient=i["p1"])
    assert not errors(outcome(await c.post("/Observation/$validate", json=make_observation(i["p1"]),
                                           headers=writer)))
    outside = errors(outcome(await c.post("/Observation/$validate", json=make_observation(i["p2"]),
                                          headers=writer)))
    assert outside and outside[0]["code"] == "forbidden"
    reader = clinic.key("patient/Observation.rs", patient=i["p1"])
    assert (await c.post("/Observation/$validate", json=make_observation(i["p1"]), headers=reader)).status_code \
        == 403
