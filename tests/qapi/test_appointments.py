"""qapi appointments (seed 002) with the seed's bodies: created for a patient by id, HSID or SPID as a FHIR
Appointment that books its waiting room's slot; read back in the seed's shape; updated, cancelled; links."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from store.naming import EXT, SID
from tests.qapi.conftest import new_id, waiting_room
from tests.qapi.seeds import APPOINTMENT_CREATE, APPOINTMENT_UPDATE, PATIENT, PATIENT_CREATE, body

T0 = 1_905_053_400  # a future weekday morning, on the quarter hour


async def _patient(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient, **changes: Any) -> tuple[str, int]:
    pid = new_id()
    r = await qapi.post("/patients", json=body(PATIENT_CREATE, **{"id": pid, "deceased": False, "deceasedAt": None,
                                                                  "isLinkedByEmail": False, **changes}))
    assert r.status_code == 201, r.text
    return pid, r.json()


def _ident(resource: dict[str, Any], system: str) -> str | None:
    return next((i["value"] for i in resource.get("identifier", []) if i.get("system") == system), None)


async def test_create_get_update_as_the_seed_shows(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient,
                                                   graphql: Any) -> None:
    room = await waiting_room(fhir, slots=[T0, T0 + 900])
    pid, _ = await _patient(qapi, fhir)
    episode = (await fhir.post("/EpisodeOfCare", json={"resourceType": "EpisodeOfCare", "status": "active",
                                                        "patient": {"reference": f"Patient/{pid}"}})).json()
    external = new_id()
    sent = body(APPOINTMENT_CREATE, date=T0, waitingRoom=room["name"], externalId=external,
                episodeOfCareId=episode["id"])
    r = await qapi.post(f"/patients/{pid}/appointments", json=sent)
    assert r.status_code == 201, r.text
    made = r.json()
    assert set(made) == {"id", "visitUrl"} and isinstance(made["id"], int)
    assert pid not in made["visitUrl"] and "Shinoda" not in made["visitUrl"]

    stored = (await fhir.get("/Appointment", params={"identifier": f"{SID['said']}|{made['id']}"})).json()
    appt = stored["entry"][0]["resource"]
    assert appt["status"] == "booked" and appt["start"] == "2030-05-15T05:30:00Z"
    assert appt["slot"] == [{"reference": f"Slot/{room['slots'][0]['id']}"}]
    assert _ident(appt, SID["external-id"]) == external and _ident(appt, SID["account-number"]) == "ABC123456789"
    assert appt["reasonCode"] == [{"text": "headache"}]
    assert {"url": EXT["episode-of-care"], "valueReference": {"reference": f"EpisodeOfCare/{episode['id']}"}} \
        in appt["extension"]
    slot = (await fhir.get(f"/Slot/{room['slots'][0]['id']}")).json()
    assert slot["status"] == "busy"  # booked: no longer offered

    got = (await qapi.get(f"/appointments/{made['id']}")).json()
    assert got == {
        "id": made["id"], "date": T0, "duration": 900, "reasons": ["headache"], "status": "scheduled",
        "videoCall": None, "externalId": external,
        "patient": {"id": pid, "demographics": {**body(PATIENT, deceased=False), "deceasedAt": None,
                                                "sharedEmailGroup": None}},
        "providers": [{"id": room["practitioner"]["id"], "email": "clara@whovians.com", "firstName": "Clara",
                       "middleName": "Oswin", "lastName": "Oswald"}],
    }
    assert (await qapi.get(f"/appointments/{appt['id']}")).json() == got  # by FHIR id too
    data = await graphql("query($id: ID!) { appointment(id: $id) { said externalId } }", id=appt["id"])
    assert data["appointment"] == {"said": str(made["id"]), "externalId": external}

    moved = await qapi.put(f"/appointments/{made['id']}", json={"date": T0 + 900, "reasons": ["vomit"]})
    assert moved.status_code == 200 and moved.json() == made
    again = (await fhir.get(f"/Appointment/{appt['id']}")).json()
    assert again["slot"] == [{"reference": f"Slot/{room['slots'][1]['id']}"}]
    assert (await fhir.get(f"/Slot/{room['slots'][0]['id']}")).json()["status"] == "free"
    assert (await qapi.get(f"/appointments/{made['id']}")).json()["reasons"] == ["vomit"]

    cancelled = await qapi.put(f"/appointments/{made['id']}",
                               json=body(APPOINTMENT_UPDATE, date=None, duration=None, externalId=external))
    assert cancelled.status_code == 200
    assert (await fhir.get(f"/Appointment/{appt['id']}")).json()["status"] == "cancelled"
    assert (await qapi.get(f"/appointments/{made['id']}")).json()["status"] == "cancelled"
    assert (await fhir.get(f"/Slot/{room['slots'][1]['id']}")).json()["status"] == "free"


async def test_create_by_hsid_and_spid_and_the_default_duration(qapi: httpx.AsyncClient,
                                                               fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir, minutes=20)
    hsid = new_id()
    patient = (await fhir.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Hs"}],
                                                 "identifier": [{"system": SID["hsid"], "value": hsid}]})).json()
    spid = int(_ident(patient, SID["spid"]) or 0)
    assert spid > 0  # every new Patient has a SPID, whichever door created it
    by_hsid = await qapi.post(f"/patients/HSID/{hsid}/appointments",
                              json=body(APPOINTMENT_CREATE, waitingRoom=room["name"], duration=None, externalId=None,
                                        episodeOfCareId=None))
    assert by_hsid.status_code == 201, by_hsid.text
    assert (await qapi.get(f"/appointments/{by_hsid.json()['id']}")).json()["duration"] == 1200
    by_spid = await qapi.post(f"/patients/id/type/SPID/value/{spid}/appointments",
                              json={"waitingRoom": room["name"].upper()})
    assert by_spid.status_code == 201, by_spid.text
    got = (await qapi.get(f"/appointments/{by_spid.json()['id']}")).json()
    assert got["patient"]["id"] == patient["id"] and got["providers"] == []


async def test_gets_at_once_each_show_their_own_video_call_and_family_group(qapi: httpx.AsyncClient,
                                                                              fhir: httpx.AsyncClient) -> None:
    """Concurrent gets share the lookups of encounters and family groups (store/referencing.py); each still gets
    its own appointment's: the video call of its Encounter (none when it has none), its patient's group."""
    room = await waiting_room(fhir, practitioner=False)
    family = f"Family {new_id()}"
    linked, _ = await _patient(qapi, fhir, isLinkedByEmail=True, groupType="family", groupName=family)
    alone, _ = await _patient(qapi, fhir)
    saids = []
    for pid in (linked, alone, linked):
        r = await qapi.post(f"/patients/{pid}/appointments", json={"waitingRoom": room["name"], "date": T0})
        assert r.status_code == 201, r.text
        saids.append(r.json()["id"])
    ids = [(await fhir.get("/Appointment", params={"identifier": f"{SID['said']}|{n}"})).json()["entry"][0]
           ["resource"]["id"] for n in saids]
    encounters = []
    for appt, status in ((ids[0], "in-progress"), (ids[1], "finished")):
        r = await fhir.post("/Encounter", json={
            "resourceType": "Encounter", "status": status, "appointment": [{"reference": f"Appointment/{appt}"}],
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"}})
        assert r.status_code == 201, r.text
        encounters.append(r.json()["id"])
    got = [r.json() for r in await asyncio.gather(*(qapi.get(f"/appointments/{n}") for n in saids * 2))]
    assert [g["videoCall"] for g in got] == [{"id": encounters[0], "status": "on call"},
                                             {"id": encounters[1], "status": "complete"}, None] * 2
    groups = [g["patient"]["demographics"]["sharedEmailGroup"] for g in got]
    assert groups == [{"type": "family", "name": family}, None, {"type": "family", "name": family}] * 2


async def test_errors_in_the_seeds_shape(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir)
    pid, _ = await _patient(qapi, fhir)
    url = f"/patients/{pid}/appointments"
    cases = [({}, 400, "waitingRoom is required"),
             ({"waitingRoom": "no such room anywhere"}, 400, "not found"),
             ({"waitingRoom": room["name"], "duration": 0}, 400, "should be in range [1, 86400]"),
             ({"waitingRoom": room["name"], "duration": 86401}, 400, "should be in range [1, 86400]"),
             ({"waitingRoom": room["name"], "date": "tomorrow"}, 400, "date must be an integer"),
             ({"waitingRoom": room["name"], "episodeOfCareId": "nope"}, 400, "Episode of care not found")]
    for sent, status, message in cases:
        r = await qapi.post(url, json=sent)
        assert r.status_code == status and message in r.json()["error"]["message"], (sent, r.text)
    assert (await qapi.post("/patients/nobody/appointments", json={"waitingRoom": room["name"]})).status_code == 404
    assert (await qapi.post("/patients/HSID/nobody/appointments",
                            json={"waitingRoom": room["name"]})).status_code == 404
    booked = await qapi.post(url, json={"waitingRoom": room["name"], "externalId": (ext := new_id())})
    assert booked.status_code == 201
    dup = await qapi.post(url, json={"waitingRoom": room["name"], "externalId": ext})
    assert dup.status_code == 409
    said = booked.json()["id"]
    bad_status = await qapi.put(f"/appointments/{said}", json={"status": "completed"})
    assert bad_status.status_code == 400 and "only cancelled" in bad_status.json()["error"]["message"]
    assert (await qapi.get("/appointments/999999999999")).json() == {"error": {"message": "Appointment not found"}}


async def test_concurrent_creates_with_one_external_id_make_one_appointment(qapi: httpx.AsyncClient,
                                                                           fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir)
    pid, _ = await _patient(qapi, fhir)
    ext = new_id()
    sent = {"waitingRoom": room["name"], "externalId": ext, "date": T0}
    answers = await asyncio.gather(*(qapi.post(f"/patients/{pid}/appointments", json=sent) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409], [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert r.json() == {"error": {"message": f"An appointment with externalId {ext} already exists"}}
    found = (await fhir.get("/Appointment", params={"identifier": f"{SID['external-id']}|{ext}"})).json()
    assert len(found.get("entry", [])) == 1
    # two updates moving two other appointments onto one new external id at once: one wins
    made = [(await qapi.post(f"/patients/{pid}/appointments", json={"waitingRoom": room["name"]})).json()["id"]
            for _ in range(2)]
    moved = new_id()
    puts = await asyncio.gather(*(qapi.put(f"/appointments/{said}", json={"externalId": moved}) for said in made))
    assert sorted(r.status_code for r in puts) == [200, 409], [r.text for r in puts]


async def test_a_said_names_the_appointment_whichever_door_wrote_it(qapi: httpx.AsyncClient,
                                                                   fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir)
    pid, _ = await _patient(qapi, fhir)
    said = (await qapi.post(f"/patients/{pid}/appointments", json={"waitingRoom": room["name"]})).json()["id"]
    # qapi's own appointment has the id derived from its SAID: a read by SAID is a read by id
    stored = (await fhir.get(f"/Appointment/said-{said}")).json()
    assert _ident(stored, SID["said"]) == str(said)
    # one written through FHIR REST keeps the store's id and is found by its SAID all the same
    other = (await fhir.post("/Appointment", json={
        "resourceType": "Appointment", "status": "booked", "start": "2031-01-01T09:00:00Z",
        "end": "2031-01-01T09:15:00Z", "participant": [{"actor": {"reference": f"Patient/{pid}"},
                                                         "status": "accepted"}]})).json()
    other_said = int(_ident(other, SID["said"]) or 0)
    assert not other["id"].startswith("said-")
    assert (await qapi.get(f"/appointments/{other_said}")).json()["id"] == other_said
    # an id that looks derived but holds another number does not answer for that number
    lookalike = {k: v for k, v in other.items() if k not in ("identifier", "meta")}
    put = await fhir.put(f"/Appointment/said-{other_said + 1000000}",
                         json={**lookalike, "id": f"said-{other_said + 1000000}"})
    assert put.status_code == 201 and _ident(put.json(), SID["said"]) != str(other_said + 1000000)
    assert (await qapi.get(f"/appointments/{other_said + 1000000}")).status_code == 404
    assert (await qapi.get(f"/appointments/{other_said}")).json()["id"] == other_said


async def test_a_renamed_waiting_room_is_found_by_its_new_name_at_once(qapi: httpx.AsyncClient,
                                                                       fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir)
    pid, _ = await _patient(qapi, fhir)
    url = f"/patients/{pid}/appointments"
    assert (await qapi.post(url, json={"waitingRoom": room["name"]})).status_code == 201
    stored = (await fhir.get(f"/HealthcareService/{room['room']['id']}")).json()
    renamed = f"{room['name']} renamed"
    assert (await fhir.put(f"/HealthcareService/{stored['id']}", json={**stored, "name": renamed})).status_code == 200
    assert (await qapi.post(url, json={"waitingRoom": renamed})).status_code == 201
    old = await qapi.post(url, json={"waitingRoom": room["name"]})
    assert old.status_code == 400 and "not found" in old.json()["error"]["message"]


async def test_links_are_stable_distinct_and_reveal_nothing(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir)
    pid, _ = await _patient(qapi, fhir)
    external = new_id()
    made = (await qapi.post(f"/patients/{pid}/appointments",
                            json={"waitingRoom": room["name"], "externalId": external})).json()
    said = made["id"]
    provider = (await qapi.get(f"/appointments/{said}/provider-link")).json()
    assert provider == {"id": said, "providerVisitUrl": provider["providerVisitUrl"]}
    links = (await qapi.get(f"/appointments/{external}/video-call-links")).json()
    assert links == {"appointmentExternalId": external, "providerVisitUrl": provider["providerVisitUrl"],
                     "patientVisitUrl": made["visitUrl"]}
    assert (await qapi.get(f"/appointments/id/type/SAID/value/{said}/video-call-links")).json() == links
    assert links["providerVisitUrl"] != links["patientVisitUrl"]
    for url in links.values():
        assert pid not in url and "Shinoda" not in url and "MRN" not in url
    assert (await qapi.get(f"/appointments/{said}/msteams-provider-link")).status_code == 400
    teams = await qapi.get(f"/appointments/{said}/msteams-provider-link", headers={"Teams-Auth-Token": "t"})
    assert teams.status_code == 200 and teams.json()["id"] == said
    assert teams.json()["msTeamsProviderVisitUrl"].startswith("https://teams.microsoft.com/")
    other = (await qapi.post(f"/patients/{pid}/appointments", json={"waitingRoom": room["name"]})).json()
    assert other["visitUrl"] != made["visitUrl"]
    assert (await qapi.get(f"/appointments/{new_id()}/video-call-links")).status_code == 404


async def test_slots_offer_only_free_ones(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    starts = [T0 + 600 + i * 900 for i in range(4)]
    room = await waiting_room(fhir, slots=starts)
    params = {"after": T0, "before": T0 + 4200, "waitingRoom": room["name"]}
    r = await qapi.get("/appointment-slots", params=params)
    assert r.status_code == 200
    assert r.json() == [{"date": s, "duration": 900} for s in starts]
    pid, _ = await _patient(qapi, fhir)
    assert (await qapi.post(f"/patients/{pid}/appointments",
                            json={"waitingRoom": room["name"], "date": starts[1]})).status_code == 201
    assert [s["date"] for s in (await qapi.get("/appointment-slots", params=params)).json()] == \
        [starts[0], starts[2], starts[3]]
    assert (await qapi.get("/appointment-slots", params={**params, "duration": 1800})).json() == []
    for bad, message in (({"after": None}, "after is required"), ({"before": "x"}, "before must be a unix"),
                         ({"waitingRoom": None}, "waitingRoom is required"),
                         ({"duration": 0}, "duration should be in range [1, 86400]"),
                         ({"before": T0 - 1}, "later than after")):
        query = {k: v for k, v in {**params, **bad}.items() if v is not None}
        r = await qapi.get("/appointment-slots", params=query)
        assert r.status_code == 400 and message in r.json()["error"]["message"], (bad, r.text)


async def test_waiting_rooms(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir)
    listed = (await qapi.get("/waiting-rooms")).json()
    assert {"id": room["room"]["id"], "name": room["name"], "serviceLine": "Demo", "serviceType": "Other"} in listed


async def test_visit_note_put_then_get(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    room = await waiting_room(fhir)
    pid, _ = await _patient(qapi, fhir)
    said = (await qapi.post(f"/patients/{pid}/appointments", json={"waitingRoom": room["name"]})).json()["id"]
    assert (await qapi.get(f"/appointments/{said}/visit-note")).json() == []
    seed = {"name": "Acute Neurology - Physician Services",
            "questions": [{"id": "923c5621-66a1-49a3-aa7b-a7753cbfd139", "value": ["Male"]}]}
    r = await qapi.put(f"/appointments/{said}/visit-note", json=seed)
    assert r.status_code == 204, r.text
    notes = (await qapi.get(f"/appointments/{said}/visit-note")).json()
    assert len(notes) == 1 and notes[0]["template"]["name"] == seed["name"] and notes[0]["comments"] == []
    assert [(x["question"], x["response"]) for x in notes[0]["responses"]] == \
        [(["923c5621-66a1-49a3-aa7b-a7753cbfd139"], ["Male"])]
    assert set(notes[0]["responses"][0]["dateTime"]) == {"date", "timezone_type", "timezone"}
    stored = (await fhir.get(f"/QuestionnaireResponse/{notes[0]['id']}")).json()
    assert stored["subject"] == {"reference": f"Patient/{pid}"}
    assert stored["item"][0]["answer"] == [{"valueString": "Male"}]
    seed["questions"][0]["value"] = ["Female"]
    assert (await qapi.put(f"/appointments/{said}/visit-note", json=seed)).status_code == 204
    again = (await qapi.get(f"/appointments/{said}/visit-note")).json()
    assert [x["response"] for x in again[0]["responses"]] == [["Female"]] and again[0]["id"] == notes[0]["id"]
    bad = await qapi.put(f"/appointments/{said}/visit-note", json={"name": "x", "questions": []})
    assert bad.status_code == 400 and "questions" in bad.json()["error"]["message"]
