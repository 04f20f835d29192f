"""Chained search, reverse chaining (_has) and _include:iterate / _revinclude:iterate (store/search_chains.py,
store/includes.py): chains up to three references deep, _has one level, inside the tenant and the caller's
confinement, bounded."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from store import search_chains
from tests.factories import TAG_SYSTEM, make_observation, make_patient, make_practitioner
from tests.fhir_rest.test_scopes import Clinic
from tests.fhir_rest.test_search import create

MRN = "https://fhirgraph.dev/fhir/sid/mrn"


def matches(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"}


def included(bundle: dict[str, Any]) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
            if e["search"]["mode"] == "include"}


async def get(fhir: httpx.AsyncClient, rt: str, params: dict[str, str] | list[tuple[str, str]],
              headers: dict[str, str] | None = None, status: int = 200) -> dict[str, Any]:
    r = await fhir.get(f"/{rt}", params=params, headers=headers or {})
    assert r.status_code == status, r.text[:400]
    body: dict[str, Any] = r.json()
    return body


def encounter(patient: str, tag: str, **overrides: Any) -> dict[str, Any]:
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{patient}"},
            "meta": {"tag": [{"system": TAG_SYSTEM, "code": tag}]}, **overrides}


@pytest.fixture
async def two_patients(fhir: httpx.AsyncClient, tag: str) -> dict[str, str]:
    """Two patients with names and MRNs of this test's own, an Observation and an Encounter each."""
    out = {}
    for who in ("a", "b"):
        family = f"Chain{who}{tag}"
        pid = await create(fhir, make_patient(family=family, tag=tag,
                                              identifier=[{"system": MRN, "value": f"{tag}-{who}"}]))
        out[who] = pid
        out[f"obs_{who}"] = await create(fhir, make_observation(pid, code="1234-5" if who == "a" else "9999-9",
                                                                tag=tag))
        out[f"enc_{who}"] = await create(fhir, encounter(pid, tag))
    return out


async def test_chained_parameters(fhir: httpx.AsyncClient, tag: str, two_patients: dict[str, str]) -> None:
    ids, mine = two_patients, ("_tag", f"{TAG_SYSTEM}|{tag}")
    family_a = f"Chaina{tag}"
    for name in ("subject:Patient.name", "subject.name", "patient.name", "patient:Patient.family"):
        found = await get(fhir, "Observation", [mine, (name, family_a)])
        assert matches(found) == {ids["obs_a"]}, name
    enc = await get(fhir, "Encounter", [mine, ("patient.identifier", f"{MRN}|{tag}-b")])
    assert matches(enc) == {ids["enc_b"]}
    # OR inside the chained value; AND with the search's own parameters
    both = await get(fhir, "Encounter", [mine, ("patient.identifier", f"{tag}-a,{tag}-b")])
    assert matches(both) == {ids["enc_a"], ids["enc_b"]}
    none = await get(fhir, "Observation", [mine, ("subject:Patient.name", family_a), ("code", "9999-9")])
    assert matches(none) == set()
    assert matches(await get(fhir, "Observation", [mine, ("subject.name", "nobody-at-all")])) == set()
    # the self link shows the chain (it was applied); a next link carries it on
    paged = await get(fhir, "Encounter", [mine, ("patient.identifier", f"{tag}-a,{tag}-b"), ("_count", "1")])
    links = {link["relation"]: link["url"] for link in paged["link"]}
    assert ("patient.identifier", f"{tag}-a,{tag}-b") in parse_qsl(urlsplit(links["self"]).query)
    second = (await fhir.get(links["next"])).json()
    assert matches(paged) | matches(second) == {ids["enc_a"], ids["enc_b"]}


async def test_chains_of_several_references(fhir: httpx.AsyncClient, tag: str) -> None:
    # Observation → its Patient → the Patient's general practitioner, by name; and → the managing Organization
    doctor = await create(fhir, make_practitioner(tag=tag, family=f"Gp{tag}"))
    org = await create(fhir, {"resourceType": "Organization", "name": f"Clinic{tag}"})
    mine = await create(fhir, make_patient(tag=tag, generalPractitioner=[{"reference": f"Practitioner/{doctor}"}],
                                           managingOrganization={"reference": f"Organization/{org}"}))
    other = await create(fhir, make_patient(tag=tag))
    obs = [await create(fhir, make_observation(pid, tag=tag)) for pid in (mine, other)]
    tagged = ("_tag", f"{TAG_SYSTEM}|{tag}")
    for name, value in (("subject:Patient.general-practitioner.name", f"Gp{tag}"),
                        ("patient.general-practitioner:Practitioner.family", f"Gp{tag}"),
                        ("subject.organization.name", f"Clinic{tag}")):
        assert matches(await get(fhir, "Observation", [tagged, (name, value)])) == {obs[0]}, name
    assert matches(await get(fhir, "Observation", [tagged, ("subject.general-practitioner.name", "nobody")])) == set()


async def test_reverse_chaining(fhir: httpx.AsyncClient, tag: str, two_patients: dict[str, str]) -> None:
    ids, mine = two_patients, ("_tag", f"{TAG_SYSTEM}|{tag}")
    assert matches(await get(fhir, "Patient", [mine, ("_has:Observation:patient:code", "1234-5")])) == {ids["a"]}
    assert matches(await get(fhir, "Patient", [mine, ("_has:Observation:subject:code",
                                                      "http://loinc.org|9999-9")])) == {ids["b"]}
    assert matches(await get(fhir, "Patient", [mine, ("_has:Encounter:patient:status", "finished")])) == \
        {ids["a"], ids["b"]}
    # two _has are ANDed
    assert matches(await get(fhir, "Patient", [mine, ("_has:Observation:patient:code", "1234-5"),
                                               ("_has:Encounter:patient:status", "planned")])) == set()


async def test_unsupported_chains_are_ignored_or_refused(fhir: httpx.AsyncClient, tag: str,
                                                         two_patients: dict[str, str]) -> None:
    mine = ("_tag", f"{TAG_SYSTEM}|{tag}")
    strict = {"Prefer": "handling=strict"}
    odd = ("subject:Patient.bogus", "subject.organization.partof.partof.name", "status.name", "subject:Slot.name",
           "_has:Observation", "_has:Observation:patient:bogus", "_has:Unicorn:patient:code",
           "_has:Observation:encounter:code", "_has:Observation:patient:_has:Encounter:patient:status")
    for name in odd:
        rt = "Patient" if name.startswith("_has") else "Observation"
        refused = await get(fhir, rt, [mine, (name, "x")], headers=strict, status=400)
        assert refused["resourceType"] == "OperationOutcome", name
        lenient = await get(fhir, rt, [mine, (name, "x")])  # FHIR's default: ignored, and left off the self link
        assert name not in lenient["link"][0]["url"], name
        assert len(matches(lenient)) == 2, name


async def test_a_chain_matching_too_many_is_refused(fhir: httpx.AsyncClient, tag: str,
                                                    two_patients: dict[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_chains, "MAX_CHAINED", 1)  # the app runs in this process
    mine = ("_tag", f"{TAG_SYSTEM}|{tag}")
    for rt, name, value in (("Observation", "subject:Patient.name", "Chain"),
                            ("Patient", "_has:Encounter:patient:_tag", f"{TAG_SYSTEM}|{tag}")):
        refused = await get(fhir, rt, [mine, (name, value)], status=400)
        assert "more than 1" in refused["issue"][0]["diagnostics"]
    # within the bound it works
    assert len(matches(await get(fhir, "Observation", [mine, ("subject.name", f"Chaina{tag}")]))) == 1


async def test_chains_stay_in_the_tenant(fhir: httpx.AsyncClient, fhir_b: httpx.AsyncClient, tag: str) -> None:
    # tenant B's patient has the name; tenant A's Observation points at that id: the chain finds nothing
    other = await create(fhir_b, make_patient(family=f"Foreign{tag}", tag=tag))
    await create(fhir, make_observation(other, tag=tag))
    mine = ("_tag", f"{TAG_SYSTEM}|{tag}")
    assert matches(await get(fhir, "Observation", [mine, ("subject:Patient.name", f"Foreign{tag}")])) == set()
    b_obs = await create(fhir_b, make_observation(other, tag=tag))
    assert matches(await get(fhir_b, "Observation", [mine, ("subject:Patient.name", f"Foreign{tag}")])) == {b_obs}
    assert matches(await get(fhir_b, "Patient", [mine, ("_has:Observation:patient:code", "44249-1")])) == {other}


async def test_chains_respect_the_patient_compartment(clinic: Clinic) -> None:
    i, c = clinic.ids, clinic.client
    me = clinic.key("patient/*.rs", patient=i["p1"])
    # p2's family is "Other": the intermediate Patient search sees only p1
    assert matches(await get(c, "Observation", {"subject:Patient.name": "Other"}, headers=me)) == set()
    assert matches(await get(c, "Observation", {"subject:Patient.name": "Reyes"}, headers=me)) == \
        {i["o1lab"], i["o1vit"]}
    assert matches(await get(c, "Patient", {"_has:Observation:patient:status": "final"}, headers=me)) == {i["p1"]}
    admin = clinic.as_(clinic.admin)
    assert matches(await get(c, "Patient", {"_has:Observation:patient:status": "final"}, headers=admin)) == \
        {i["p1"], i["p2"]}
    # the intermediate search is confined even where the searched type is not: Appointments of the whole
    # tenant, but Patients of the caller's compartment only
    mixed = clinic.key("user/Appointment.rs", "patient/Patient.rs", patient=i["p1"])
    assert matches(await get(c, "Appointment", {"patient.name": "Other"}, headers=admin)) == {i["a2"]}
    assert matches(await get(c, "Appointment", {"patient.name": "Other"}, headers=mixed)) == set()
    assert matches(await get(c, "Appointment", {"patient.name": "Reyes"}, headers=mixed)) == {i["a1"]}
    assert matches(await get(c, "Appointment", {}, headers=mixed)) == {i["a1"], i["a2"]}
    assert matches(await get(c, "Practitioner", {"_has:Appointment:practitioner:patient": i["p2"]},
                             headers=admin)) == {i["doc"]}
    # a chain through a type the caller may not read is refused
    only_obs = clinic.key("patient/Observation.rs", patient=i["p1"])
    r = await c.get("/Observation", params={"subject:Patient.name": "Reyes"}, headers=only_obs)
    assert r.status_code == 403


async def test_include_and_revinclude_iterate(fhir: httpx.AsyncClient, tag: str) -> None:
    doc = await create(fhir, make_practitioner(tag=tag))
    pid = await create(fhir, make_patient(tag=tag, generalPractitioner=[{"reference": f"Practitioner/{doc}"}]))
    enc = await create(fhir, encounter(pid, tag))
    obs = await create(fhir, make_observation(pid, tag=tag, encounter={"reference": f"Encounter/{enc}"}))
    # Observation → its patient → the patient's practitioner
    plain = await get(fhir, "Observation", [("_id", obs), ("_include", "Observation:patient"),
                                            ("_include", "Patient:general-practitioner")], status=400)
    assert plain["resourceType"] == "OperationOutcome"  # a plain _include names the searched type only
    found = await get(fhir, "Observation", [("_id", obs), ("_include", "Observation:patient"),
                                            ("_include:iterate", "Patient:general-practitioner")])
    assert included(found) == {f"Patient/{pid}", f"Practitioner/{doc}"}
    assert ("_include:iterate", "Patient:general-practitioner") in parse_qsl(urlsplit(found["link"][0]["url"]).query)
    # Patient ← its encounters ← their observations (and the observation's patient is not included twice)
    rev = await get(fhir, "Patient", [("_id", pid), ("_revinclude", "Encounter:patient"),
                                      ("_revinclude:iterate", "Observation:encounter"),
                                      ("_include:iterate", "Observation:patient")])
    assert included(rev) == {f"Encounter/{enc}", f"Observation/{obs}"}
    assert matches(rev) == {pid}
    assert (await fhir.get("/Patient", params={"_id": pid, "_include:bogus": "Patient:organization"})).status_code \
        == 400
