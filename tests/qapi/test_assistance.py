"""qapi assistance requests (seed 002, virtual nursing): a device found by its serial number, its patient's MRN,
building/floor/room/bed or department/room/bed; the request a FHIR ServiceRequest; the seed's messages."""

from __future__ import annotations

from typing import Any

import httpx

from store.naming import SID
from tests.qapi.conftest import new_id
from tests.qapi.seeds import ASSISTANCE_BY_DEPARTMENT, ASSISTANCE_BY_DEVICE, ASSISTANCE_BY_MRN, ASSISTANCE_BY_PLACE

PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
MISSING = ("Service Request Error: Missing Required Parameters. Please include either Device ID, Patient ID, or a "
           "combination of Building, Floor, Room, and Bed (opt.), or Department, Room, and Bed (opt.) to proceed")


async def _location(fhir: httpx.AsyncClient, name: str, kind: str, parent: str | None = None) -> str:
    loc: dict[str, Any] = {"resourceType": "Location", "status": "active", "name": name,
                           "physicalType": {"coding": [{"system": PHYSICAL, "code": kind}]}}
    if parent:
        loc["partOf"] = {"reference": f"Location/{parent}"}
    r = await fhir.post("/Location", json=loc)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _ward(fhir: httpx.AsyncClient) -> dict[str, str]:
    """A building (floor 2, room 431, bed 2) and a department (room 431, bed 2) of unique names, a device at each
    bed, the first watching a patient with an MRN of its own."""
    tag = new_id()
    building = await _location(fhir, f"hospital {tag}", "bu")
    floor = await _location(fhir, "floor 2", "lvl", building)
    room = await _location(fhir, "431", "ro", floor)
    bed = await _location(fhir, "bed 2", "bd", room)
    dept = await _location(fhir, f"emergency department {tag}", "wa")
    dept_room = await _location(fhir, "431", "ro", dept)
    dept_bed = await _location(fhir, "bed 2", "bd", dept_room)
    mrn = f"MRN-{tag}"
    patient = (await fhir.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Lukashik",
                                                                                      "given": ["Yura", "A"]}],
                                                  "birthDate": "2024-03-28",
                                                  "identifier": [{"system": SID["mrn"], "value": mrn}]})).json()
    serials = {}
    for where, name, who in ((bed, "ICC-CL-01-02", patient["id"]), (dept_bed, "ICC-CL-09-01", None)):
        serial = new_id()
        device: dict[str, Any] = {"resourceType": "Device", "status": "active", "serialNumber": serial,
                                  "identifier": [{"system": SID["device-serial"], "value": serial}],
                                  "deviceName": [{"name": name, "type": "user-friendly-name"}],
                                  "type": {"text": "robot"}, "location": {"reference": f"Location/{where}"}}
        if who:
            device["patient"] = {"reference": f"Patient/{who}"}
        r = await fhir.post("/Device", json=device)
        assert r.status_code == 201, r.text
        serials[where] = serial
    return {"tag": tag, "mrn": mrn, "patient": patient["id"], "serial": serials[bed], "dept_serial": serials[dept_bed],
            "building": building, "bed": bed}


async def test_request_get_cancel_by_place(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    ward = await _ward(fhir)
    lookup = {**ASSISTANCE_BY_PLACE, "building": f"hospital {ward['tag']}"}
    r = await qapi.post("/request-assistance", json=lookup)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["device"] == ward["serial"] and made["status"] == "incomplete" and made["room"] == "431"
    assert made["careLocation"]["name"] == "ICC-CL-01-02" and made["careLocation"]["video"]["type"] == "robot"
    assert made["patient"]["id"] == ward["patient"] and made["patient"]["mrn"] == ward["mrn"]
    assert made["patient"]["firstName"] == "Yura" and made["patient"]["middleName"] == "A"
    assert made["location"] == {"id": ward["building"], "name": f"hospital {ward['tag']}"}
    assert made["createdFromExternalApi"] is True and made["avSessions"] == [] and made["finishedAt"] is None

    sr = (await fhir.get(f"/ServiceRequest/{made['id']}")).json()
    assert sr["status"] == "active" and sr["subject"] == {"reference": f"Patient/{ward['patient']}"}
    assert sr["locationReference"] == [{"reference": f"Location/{ward['bed']}"}]

    again = await qapi.post("/request-assistance", json={**ASSISTANCE_BY_DEVICE, "deviceSerialNumber": ward["serial"]})
    assert again.status_code == 409  # one open request per device
    # GET names the device any other way, from a JSON body as the seed sends it, or from the query
    by_mrn = await qapi.request("GET", "/request-assistance", json={**ASSISTANCE_BY_MRN, "patientMrn": ward["mrn"]})
    assert by_mrn.status_code == 200 and by_mrn.json() == made
    assert (await qapi.get("/request-assistance", params={"deviceSerialNumber": ward["serial"]})).json() == made

    gone = await qapi.request("DELETE", "/request-assistance", json=lookup)
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled" and gone.json()["finishedAt"]
    assert (await fhir.get(f"/ServiceRequest/{made['id']}")).json()["status"] == "revoked"
    r = await qapi.request("GET", "/request-assistance", json=lookup)
    assert r.status_code == 404 and r.json() == {"message": "Service Request Error: Request not found"}
    assert (await qapi.request("DELETE", "/request-assistance", json=lookup)).status_code == 404
    assert (await qapi.post("/request-assistance", json=lookup)).status_code == 201  # a new one after cancelling


async def test_by_department_and_the_seed_errors(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    ward = await _ward(fhir)
    r = await qapi.post("/request-assistance",
                        json={**ASSISTANCE_BY_DEPARTMENT, "department": f"emergency department {ward['tag']}"})
    assert r.status_code == 201 and r.json()["device"] == ward["dept_serial"] and r.json()["patient"] is None
    for lookup in ({}, {"room": "431"}, {"building": "hospital", "room": "431"}, {"bed": "bed 2"}):
        r = await qapi.post("/request-assistance", json=lookup)
        assert r.status_code == 400 and r.json() == {"message": MISSING}, lookup  # seed 002: a bare message
    for lookup in (ASSISTANCE_BY_DEVICE, {"patientMrn": new_id()}, {**ASSISTANCE_BY_PLACE, "building": new_id()}):
        r = await qapi.post("/request-assistance", json=lookup)
        assert r.status_code == 404
        assert r.json() == {"message": "Device could not be found from the data submitted"}
    r = await qapi.get("/request-assistance", params={"deviceSerialNumber": new_id()})
    assert r.status_code == 404 and r.json() == {"message": "Service Request Error: Request not found"}
