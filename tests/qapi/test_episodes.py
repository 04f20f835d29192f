"""qapi episodes of care (seed 002): a FHIR EpisodeOfCare written with the seed's body, read back in the seed's
shapes (also through FHIR REST and GraphQL), its status machine, its appointments, and assigning one."""

from __future__ import annotations

from typing import Any

import httpx

from store.naming import EXT
from tests.qapi.conftest import new_id, waiting_room
from tests.qapi.seeds import APPOINTMENT_CREATE, EPISODE, PATIENT_CREATE, body

T0 = 1_905_226_200


async def _patient(qapi: httpx.AsyncClient) -> str:
    pid = new_id()
    r = await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceased=False, deceasedAt=None,
                                               isLinkedByEmail=False))
    assert r.status_code == 201, r.text
    return pid


async def test_create_list_get_update(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient, graphql: Any) -> None:
    pid = await _patient(qapi)
    r = await qapi.post(f"/patients/{pid}/episodes", json=EPISODE)
    assert r.status_code == 201, r.text
    eid = r.json()["episodeId"]
    assert set(r.json()) == {"episodeId"}

    stored = (await fhir.get(f"/EpisodeOfCare/{eid}")).json()
    assert stored["status"] == "planned" and stored["patient"] == {"reference": f"Patient/{pid}"}
    assert stored["period"] == {"start": "2023-03-29", "end": "2023-04-29"}
    data = await graphql("query($id: ID!) { patient(id: $id) { episodes { edges { node { id name status } } } } }",
                         id=pid)
    assert data["patient"]["episodes"]["edges"] == [{"node": {"id": eid, "name": "covid care", "status": "PLANNED"}}]

    listed = (await qapi.get(f"/patients/{pid}/episodes")).json()
    assert listed == {"episodes": [{"id": eid, "patientId": pid, "name": "covid care", "from": "2023-03-29",
                                    "to": "2023-04-29", "type": "covid", "status": "planning",
                                    "objective": "care covid patient", "reasonIncomplete": "unknown"}]}
    spid = (await qapi.get(f"/patients/{pid}")).json()
    one = (await qapi.get(f"/episodes/{eid}")).json()
    assert one["soloPatientId"] is not None and one["externalPatientId"] == pid
    assert {k: v for k, v in one.items() if k not in ("soloPatientId", "externalPatientId")} == \
        {k: v for k, v in listed["episodes"][0].items() if k != "patientId"}
    assert spid  # the patient exists in the seed's shape too

    r = await qapi.put(f"/episodes/{eid}", json=body(EPISODE, status="ACTIVE", name="covid care 2"))
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["name"] == "covid care 2"
    r = await qapi.put(f"/episodes/{eid}", json=body(EPISODE, status="FINISHED"))
    assert r.status_code == 400 and "reasonIncomplete" in r.json()["error"]["message"]
    r = await qapi.put(f"/episodes/{eid}", json=body(EPISODE, status="FINISHED", reasonIncomplete=None))
    assert r.status_code == 200 and r.json()["status"] == "finished" and r.json()["reasonIncomplete"] is None
    r = await qapi.put(f"/episodes/{eid}", json=body(EPISODE, status="ACTIVE"))
    assert r.status_code == 409 and r.json()["error"]["message"] == \
        "An episode that is finished cannot become active"


async def test_validation_and_missing(qapi: httpx.AsyncClient) -> None:
    pid = await _patient(qapi)
    for field in ("name", "type", "from", "status"):
        r = await qapi.post(f"/patients/{pid}/episodes", json=body(EPISODE, **{field: None}))
        assert r.status_code == 400 and field in r.json()["error"]["message"], field
    assert (await qapi.post(f"/patients/{pid}/episodes", json=body(EPISODE, status="string"))).status_code == 400
    assert (await qapi.post(f"/patients/{pid}/episodes", json=body(EPISODE, to="2023-01-01"))).status_code == 400
    assert (await qapi.post(f"/patients/{pid}/episodes", json=body(EPISODE, **{"from": "YYYY-MM-DD"}))
            ).status_code == 400
    assert (await qapi.post(f"/patients/{new_id()}/episodes", json=EPISODE)).status_code == 404
    assert (await qapi.get(f"/episodes/{new_id()}")).json() == {"error": {"message": "Episode not found"}}
    assert (await qapi.get(f"/patients/{pid}/episodes")).json() == {"episodes": []}


async def test_appointments_of_an_episode_and_assign(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir, slots=[T0, T0 + 900])
    pid = await _patient(qapi)
    eid = (await qapi.post(f"/patients/{pid}/episodes", json=EPISODE)).json()["episodeId"]
    other = (await qapi.post(f"/patients/{pid}/episodes", json=EPISODE)).json()["episodeId"]
    first = (await qapi.post(f"/patients/{pid}/appointments", json=body(
        APPOINTMENT_CREATE, date=T0, waitingRoom=room["name"], externalId=new_id(), episodeOfCareId=eid))).json()
    second = (await qapi.post(f"/patients/{pid}/appointments", json=body(
        APPOINTMENT_CREATE, date=T0 + 900, waitingRoom=room["name"], externalId=new_id(), episodeOfCareId=None,
        reasons=[]))).json()
    assert (await qapi.put(f"/appointments/{first['id']}/visit-note",
                           json={"name": "Intake", "questions": [{"id": "q1", "value": ["yes"]}]})).status_code == 204

    got = (await qapi.get(f"/episodes/{eid}/appointments")).json()
    assert got["episode"]["id"] == eid
    assert got["appointments"] == [{"appointmentId": first["id"], "date": T0, "reasons": ["headache"],
                                    "hasNotes": True, "episodeOfCareId": eid}]

    r = await qapi.put(f"/appointments/{second['id']}/episode/assign", json={"episodeId": eid})
    assert r.status_code == 200 and r.json() == {"id": second["id"], "episodeOfCareId": eid}
    got = (await qapi.get(f"/episodes/{eid}/appointments")).json()["appointments"]
    assert [a["appointmentId"] for a in got] == [first["id"], second["id"]]
    assert got[1]["hasNotes"] is False

    r = await qapi.put(f"/appointments/{first['id']}/episode/assign", json={"episodeId": other})
    assert r.status_code == 200
    appt = (await fhir.get("/Appointment", params={"episode-of-care": f"EpisodeOfCare/{other}"})).json()
    assert len(appt["entry"]) == 1
    assert {"url": EXT["episode-of-care"], "valueReference": {"reference": f"EpisodeOfCare/{other}"}} in \
        appt["entry"][0]["resource"]["extension"]
    r = await qapi.put(f"/appointments/{first['id']}/episode/assign", json={})
    assert r.status_code == 200 and r.json()["episodeOfCareId"] is None
    assert (await qapi.get(f"/episodes/{other}/appointments")).json()["appointments"] == []

    stranger = await _patient(qapi)
    theirs = (await qapi.post(f"/patients/{stranger}/episodes", json=EPISODE)).json()["episodeId"]
    r = await qapi.put(f"/appointments/{first['id']}/episode/assign", json={"episodeId": theirs})
    assert r.status_code == 400
    r = await qapi.put(f"/appointments/{first['id']}/episode/assign", json={"episodeId": new_id()})
    assert r.status_code == 404
