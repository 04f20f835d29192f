"""qapi appointment attachments and patient documents (seed 002): the file's bytes become a FHIR Binary and its
DocumentReference (visible through FHIR REST), only the seed's types and only when the bytes are that type;
soft delete; a patient document is a DocumentReference of the patient."""

from __future__ import annotations

import base64

import httpx

from tests.qapi.conftest import new_id, waiting_room
from tests.qapi.seeds import APPOINTMENT_CREATE, PATIENT_CREATE, PATIENT_DOCUMENT, body

T0 = 1_905_139_800
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _appointment(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> tuple[str, int, str]:
    room = await waiting_room(fhir, slots=[T0])
    pid = new_id()
    r = await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceased=False, deceasedAt=None,
                                               isLinkedByEmail=False))
    assert r.status_code == 201, r.text
    r = await qapi.post(f"/patients/{pid}/appointments", json=body(APPOINTMENT_CREATE, date=T0,
                                                                  waitingRoom=room["name"], externalId=new_id(),
                                                                  episodeOfCareId=None))
    assert r.status_code == 201, r.text
    said = r.json()["id"]
    appt = (await qapi.get(f"/appointments/{said}")).json()
    fhir_id = (await fhir.get("/Appointment", params={"patient": f"Patient/{pid}"})).json()["entry"][0]["resource"]
    assert appt["id"] == said
    return pid, said, fhir_id["id"]


async def test_upload_list_delete_as_the_seed_shows(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    pid, said, appt_id = await _appointment(qapi, fhir)
    r = await qapi.post(f"/appointments/{said}/attachments", params={"fileName": "UploadedPDF.pdf"}, content=PDF,
                        headers={"Content-Type": "application/pdf"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert set(made) == {"id", "appointmentId", "title", "mimeType", "size", "uploadedAt", "deleted"}
    assert made["appointmentId"] == appt_id and made["title"] == "UploadedPDF.pdf"
    assert made["mimeType"] == "application/pdf" and made["size"] == len(PDF) and made["deleted"] is False
    assert made["uploadedAt"].endswith("+00:00")

    doc = (await fhir.get(f"/DocumentReference/{made['id']}")).json()
    assert doc["subject"] == {"reference": f"Patient/{pid}"}
    assert doc["context"]["related"] == [{"reference": f"Appointment/{appt_id}"}]
    binary_ref = doc["content"][0]["attachment"]["url"]
    binary = (await fhir.get(f"/{binary_ref}")).json()
    assert base64.b64decode(binary["data"]) == PDF and binary["contentType"] == "application/pdf"

    r = await qapi.post(f"/appointments/{appt_id}/attachments", content=PNG, headers={"Content-Type": "image/png"})
    assert r.status_code == 201 and r.json()["title"] == "Attachment.png"
    listed = (await qapi.get(f"/appointments/{said}/attachments")).json()
    assert [a["id"] for a in listed["attachments"]] == [made["id"], r.json()["id"]]

    gone = await qapi.delete(f"/appointments/{said}/attachments/{made['id']}")
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    listed = (await qapi.get(f"/appointments/{said}/attachments")).json()["attachments"]
    assert [a["deleted"] for a in listed] == [True, False]
    assert (await fhir.get(f"/DocumentReference/{made['id']}")).json()["status"] == "entered-in-error"
    assert (await qapi.delete(f"/appointments/{said}/attachments/{new_id()}")).status_code == 404


async def test_refuses_other_types_and_lying_bytes(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    _, said, _ = await _appointment(qapi, fhir)
    r = await qapi.post(f"/appointments/{said}/attachments", content=b"hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    assert r.json() == {"error": {"message": 'Mime type "text/plain" not supported. Available file mime-types: '
                                             '"application/pdf", "application/x-pdf", "image/pdf", "image/png", '
                                             '"image/jpeg"'}}
    r = await qapi.post(f"/appointments/{said}/attachments", content=b"<html><script>alert(1)</script>",
                        headers={"Content-Type": "image/png"})
    assert r.status_code == 400 and "image/png" in r.json()["error"]["message"]
    r = await qapi.post(f"/appointments/{said}/attachments", content=b"", headers={"Content-Type": "image/png"})
    assert r.status_code == 400
    r = await qapi.post(f"/appointments/{said}/attachments", content=PDF + b"\x00" * (5 * 1024 * 1024),
                        headers={"Content-Type": "application/pdf"})
    assert r.status_code == 413 and "error" in r.json()
    r = await qapi.post("/appointments/999999999/attachments", content=PDF, headers={"Content-Type": "image/pdf"})
    assert r.status_code == 404 and r.json() == {"error": {"message": "Appointment not found"}}
    assert (await qapi.get(f"/appointments/{said}/attachments")).json() == {"attachments": []}


async def test_patient_document(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    pid = new_id()
    assert (await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceased=False, deceasedAt=None,
                                                   isLinkedByEmail=False))).status_code == 201
    r = await qapi.post(f"/patients/{pid}/documents", json=PATIENT_DOCUMENT)
    assert r.status_code == 201 and r.json() == []
    docs = (await fhir.get("/DocumentReference", params={"patient": f"Patient/{pid}"})).json()["entry"]
    doc = docs[0]["resource"]
    assert doc["description"] == "document name" and doc["date"] == "2017-11-11T02:25:40Z"
    text = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert text == "question 1\nresponse to question 1"
    for missing in ("name", "dateTime", "responses"):
        r = await qapi.post(f"/patients/{pid}/documents", json=body(PATIENT_DOCUMENT, **{missing: None}))
        assert r.status_code == 400 and missing in r.json()["error"]["message"]
    r = await qapi.post(f"/patients/{pid}/documents", json=body(PATIENT_DOCUMENT, responses=[{"question": "q"}]))
    assert r.status_code == 400
    assert (await qapi.post(f"/patients/{new_id()}/documents", json=PATIENT_DOCUMENT)).status_code == 404
