"""qapi perfect answer (seed 002): the patient created or updated by MRN, the appointment in the location's
waiting room with the reason's template answered, the seed's error bodies, and one visit per 24 hours."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from store.naming import EXT, SID
from tests.qapi.conftest import new_id
from tests.qapi.seeds import PERFECT_ANSWER, body


async def _location(fhir: httpx.AsyncClient) -> str:
    geo = str(uuid.uuid4())
    loc = (await fhir.post("/Location", json={"resourceType": "Location", "name": "Neuro ward",
                                              "identifier": [{"system": SID["geolocation"], "value": geo}]})).json()
    for name in ("Acute Neurology - Physician Services", "EEG - Physician Services"):
        r = await fhir.post("/HealthcareService", json={
            "resourceType": "HealthcareService", "active": True, "name": name,
            "location": [{"reference": f"Location/{loc['id']}"}],
            "extension": [{"url": EXT["slot-duration"], "valueDuration": {"value": 30, "unit": "min",
                                                                          "system": "http://unitsofmeasure.org",
                                                                          "code": "min"}}]})
        assert r.status_code == 201
    return geo


async def test_the_seed_flow(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient, graphql: Any) -> None:
    geo = await _location(fhir)
    mrn = f"AA-{new_id()}"
    r = await qapi.post("/perfect-answer", json=body(PERFECT_ANSWER, locationId=geo, mrn=mrn))
    assert r.status_code == 201, r.text
    made = r.json()
    assert set(made) == {"patientId", "encounterId"}
    patient = (await fhir.get(f"/Patient/{made['patientId']}")).json()
    assert patient["birthDate"] == "2001-01-20" and patient["name"][0]["family"] == "Doe"
    encounter = (await fhir.get(f"/Encounter/{made['encounterId']}")).json()
    appt_id = encounter["appointment"][0]["reference"].split("/")[1]
    appt = (await fhir.get(f"/Appointment/{appt_id}")).json()
    assert appt["reasonCode"] == [{"text": "EEG Stat"}]
    room = next(p["actor"] for p in appt["participant"] if "HealthcareService" in p["actor"]["reference"])
    assert room["display"] == "EEG - Physician Services"
    said = next(i["value"] for i in appt["identifier"] if i["system"] == SID["said"])
    note = (await qapi.get(f"/appointments/{said}/visit-note")).json()[0]
    assert note["template"]["name"] == "EEG - Physician Services"
    answers = {tuple(x["question"]): x["response"] for x in note["responses"]}
    assert answers[("requestingProvider",)] == ["Bob Dylan"] and answers[("caller",)] == ["Caller name"]
    data = await graphql("query($id: ID!) { patient(id: $id) { id } }", id=made["patientId"])
    assert data["patient"] == {"id": made["patientId"]}

    again = await qapi.post("/perfect-answer", json=body(PERFECT_ANSWER, locationId=geo, mrn=mrn, firstName="Jon"))
    assert again.status_code == 409
    assert again.json() == {"error": {"message": "A visit has already been created for the patient within 24 hours"}}
    assert (await fhir.get(f"/Patient/{made['patientId']}")).json()["name"][0]["given"] == ["John"]  # unchanged


async def test_the_seed_errors(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    r = await qapi.post("/perfect-answer", json=PERFECT_ANSWER)  # the seed's example: locationId "123"
    assert r.status_code == 400
    assert r.json() == {"error": {"message": "Bad parameters [locationId: This is not a valid UUID.]"}}
    r = await qapi.post("/perfect-answer", json=body(PERFECT_ANSWER, locationId=str(uuid.uuid4()), reason="Flu",
                                                     mrn=None))
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert message.startswith("Bad parameters [") and "mrn:" in message and "reason:" in message
    r = await qapi.post("/perfect-answer", json=body(PERFECT_ANSWER, locationId=str(uuid.uuid4())))
    assert r.status_code == 400 and "Geolocation Id" in r.json()["error"]["message"]
