"""qapi patients (seed 002) with the seed's own bodies: what they write is a FHIR Patient (FHIR REST, GraphQL),
read back in the seed's shape; every rule of the seed answered with its error."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from store.naming import SID
from tests.qapi.conftest import new_id
from tests.qapi.seeds import PATIENT, PATIENT_CREATE, body


def _ident(resource: dict[str, Any], system: str) -> str | None:
    return next((i["value"] for i in resource.get("identifier", []) if i.get("system") == system), None)


async def test_create_as_the_seed_shows_then_read_it_everywhere(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient,
                                                                graphql: Any) -> None:
    pid = new_id()
    r = await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, isLinkedByEmail=False, groupType=None,
                                               groupName=None))
    assert r.status_code == 201, r.text
    spid = r.json()
    assert isinstance(spid, int) and spid > 0

    stored = (await fhir.get(f"/Patient/{pid}")).json()
    assert stored["resourceType"] == "Patient" and _ident(stored, SID["spid"]) == str(spid)
    assert _ident(stored, SID["mrn"]) == "MRN-123"
    assert stored["name"][0]["family"] == "Shinoda" and stored["name"][0]["given"] == ["Mike"]
    assert stored["deceasedDateTime"] == "2020-03-31T10:12:00Z"
    assert stored["maritalStatus"]["coding"][0]["code"] == "M"

    got = await qapi.get(f"/patients/{pid}")
    assert got.status_code == 200
    expected = {**PATIENT, "sharedEmailGroup": None}
    assert got.json() == expected
    by_spid = (await qapi.get(f"/patients/id/type/SPID/value/{spid}")).json()
    assert by_spid == {**{k: v for k, v in expected.items() if k != "sharedEmailGroup"},
                       "groupType": None, "groupName": None}

    data = await graphql("query($id: ID!) { patient(id: $id) { spid firstName lastName mrn status "
                         "maritalStatus } }", id=pid)
    assert data["patient"] == {"spid": str(spid), "firstName": "Mike", "lastName": "Shinoda", "mrn": "MRN-123",
                               "status": "DECEASED", "maritalStatus": "MARRIED"}


async def test_spids_are_per_practice_and_distinct_under_concurrency(qapi: httpx.AsyncClient) -> None:
    ids = [new_id() for _ in range(8)]
    answers = await asyncio.gather(*(qapi.post("/patients", json={"id": i, "name": [{"firstName": "A",
                                                                                      "lastName": "B"}]})
                                     for i in ids))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    spids = [a.json() for a in answers]
    assert len(set(spids)) == len(spids)


async def test_update_changes_only_the_fields_given(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    pid = new_id()
    spid = (await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceased=False, deceasedAt=None,
                                                   isLinkedByEmail=False))).json()
    r = await qapi.put(f"/patients/{pid}", json={"mrn": "MRN-999", "telecom": [{"use": "work", "system": "email",
                                                                                "value": "w@example.com"}]})
    assert r.status_code == 200 and r.json() == []
    got = (await qapi.get(f"/patients/{pid}")).json()
    assert got["mrn"] == "MRN-999" and got["telecom"] == [{"use": "work", "system": "email", "value": "w@example.com"}]
    assert got["name"] == PATIENT["name"] and got["deceased"] is False and got["deceasedAt"] is None

    r = await qapi.put(f"/patients/id/type/SPID/value/{spid}", json={"active": False})
    assert r.status_code == 200
    stored = (await fhir.get(f"/Patient/{pid}")).json()
    assert stored["active"] is False
    assert (await qapi.get(f"/patients/{pid}")).json()["active"] is False


async def test_the_seeds_rules(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    no_id = await qapi.post("/patients", json=body(PATIENT_CREATE, id=None))
    assert no_id.status_code == 400 and no_id.json() == {"error": {"message": "id is required"}}
    pid = new_id()
    no_date = await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceasedAt=None))
    assert no_date.status_code == 400 and "deceasedAt is required" in no_date.json()["error"]["message"]
    stray = await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceased=False))
    assert stray.status_code == 400 and "deceasedAt" in stray.json()["error"]["message"]
    absent = await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceased=None))
    assert absent.status_code == 400
    assert (await fhir.get(f"/Patient/{pid}")).status_code == 404  # nothing written by the refusals

    assert (await qapi.post("/patients", json={"id": pid})).status_code == 201
    again = await qapi.post("/patients", json={"id": pid})
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    on_put = await qapi.put(f"/patients/{pid}", json={"deceasedAt": "2020-03-31 10:12 AM"})
    assert on_put.status_code == 400
    for bad in ({"gender": "robot"}, {"birthDate": "15/08/1983"}, {"maritalStatus": "complicated"},
                {"name": "Mike"}, {"telecom": [{"system": "pigeon", "value": "x"}]}, {"active": "yes"}):
        r = await qapi.put(f"/patients/{pid}", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert set(r.json()) == {"error"} and r.json()["error"]["message"]


async def test_not_found_and_bad_bodies_in_the_seeds_shape(qapi: httpx.AsyncClient) -> None:
    for path in ("/patients/nobody-here", "/patients/id/type/SPID/value/999999999"):
        r = await qapi.get(path)
        assert r.status_code == 404 and r.json() == {"error": {"message": "Patient not found"}}
    r = await qapi.get("/patients/id/type/SPID/value/abc")
    assert r.status_code == 400
    r = await qapi.post("/patients", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = await qapi.post("/patients", content=b"id=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and set(r.json()) == {"error"}
    r = await qapi.delete("/patients/x")
    assert r.status_code == 405 and set(r.json()) == {"error"}


async def test_family_group_shares_an_email(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    name = f"Family {new_id()}"
    first, second = new_id(), new_id()
    for pid in (first, second):
        r = await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceased=False, deceasedAt=None,
                                                   isLinkedByEmail=True, groupType="family", groupName=name))
        assert r.status_code == 201, r.text
    got = (await qapi.get(f"/patients/{first}")).json()
    assert got["isLinkedByEmail"] is True and got["sharedEmailGroup"] == {"type": "family", "name": name}
    groups = (await fhir.get("/Group", params={"member": f"Patient/{second}"})).json()
    group = groups["entry"][0]["resource"]
    assert group["type"] == "person" and group["name"] == name
    assert sorted(m["entity"]["reference"] for m in group["member"]) == sorted(f"Patient/{p}" for p in (first, second))

    missing = await qapi.put(f"/patients/{first}", json={"isLinkedByEmail": True})
    assert missing.status_code == 400 and "sharedEmailGroup" in missing.json()["error"]["message"]
    r = await qapi.put(f"/patients/{first}", json={"isLinkedByEmail": False})
    assert r.status_code == 200
    assert (await qapi.get(f"/patients/{first}")).json()["sharedEmailGroup"] is None
    group = (await fhir.get(f"/Group/{group['id']}")).json()
    assert [m["entity"]["reference"] for m in group["member"]] == [f"Patient/{second}"]
