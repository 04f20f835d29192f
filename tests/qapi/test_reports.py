"""qapi reports (seed 002): the CSV dump of a date range, streamed; the encounter report made in the background,
its status, and its download — a zip that opens with the caller's password only (AES, not ZipCrypto)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

import httpx
import pytest
import pyzipper

from tests.qapi.conftest import new_id, waiting_room
from tests.qapi.seeds import APPOINTMENT_CREATE, PATIENT_CREATE, body

T0 = 1_905_312_600  # 2030-05-18T05:30:00Z
REPORT = {"from": "2030-05-18T00:00:00+00:00", "to": "2030-05-18T23:59:59+00:00",
          "presetId": "a2c6e3fc-c2f7-4a24-a0d6-eb2343a15469", "password": "IK5adv2N5V-gr£9v6"}


async def _visits(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> tuple[str, list[int]]:
    room = await waiting_room(fhir, slots=[T0, T0 + 900])
    pid = new_id()
    assert (await qapi.post("/patients", json=body(PATIENT_CREATE, id=pid, deceased=False, deceasedAt=None,
                                                   isLinkedByEmail=False, mrn=f"MRN-{pid}"))).status_code == 201
    saids = []
    for start in (T0, T0 + 900):
        r = await qapi.post(f"/patients/{pid}/appointments", json=body(
            APPOINTMENT_CREATE, date=start, waitingRoom=room["name"], externalId=new_id(), episodeOfCareId=None,
            reasons=["=HYPERLINK(\"x\")"]))
        assert r.status_code == 201, r.text
        saids.append(r.json()["id"])
    return pid, saids


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_csv_dump(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    pid, saids = await _visits(qapi, fhir)
    r = await qapi.get("/reports/csv-data-dump", params={"from": "2030-05-18", "to": "2030-05-18"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    mine = [row for row in _rows(r.text) if row["patientId"] == pid]
    assert [int(row["appointmentId"]) for row in mine] == saids
    assert mine[0]["lastName"] == "Shinoda" and mine[0]["mrn"] == f"MRN-{pid}" and mine[0]["durationSeconds"] == "900"
    assert mine[0]["reasons"] == "'=HYPERLINK(\"x\")"  # never a live spreadsheet formula
    outside = await qapi.get("/reports/csv-data-dump", params={"from": "2030-05-19", "to": "2030-05-20"})
    assert all(row["patientId"] != pid for row in _rows(outside.text))
    for params in ({"from": "2030-05-17"}, {"to": "2030-05-17"}, {"from": "2030-05-18", "to": "2030-05-17"},
                   {"from": "17/05/2030", "to": "2030-05-17"}):
        r = await qapi.get("/reports/csv-data-dump", params=params)
        assert r.status_code == 400 and "error" in r.json(), params


async def test_encounter_report(qapi: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    pid, saids = await _visits(qapi, fhir)
    r = await qapi.post("/encounter-report/create", json=REPORT)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["status"] == "pending" and set(made) == {"id", "status"}
    status = made
    for _ in range(200):
        status = (await qapi.get(f"/encounter-report/status/{made['id']}")).json()
        if status["status"] != "pending":
            break
        await asyncio.sleep(0.1)
    assert status == {"id": made["id"], "status": "completed"}
    r = await qapi.get(f"/encounter-report/download/{made['id']}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    # The local file header says method 99 (WinZip AES, APPNOTE.TXT 4.4.5 / AE-x), not the legacy ZipCrypto.
    assert r.content[:4] == b"PK\x03\x04" and int.from_bytes(r.content[8:10], "little") == 99
    with pyzipper.AESZipFile(io.BytesIO(r.content)) as zf:
        info = zf.infolist()[0]
        with pytest.raises(RuntimeError):
            zf.read(info.filename)  # no password, no CSV
        zf.setpassword(REPORT["password"].encode())
        rows = _rows(zf.read(info.filename).decode())
    assert [int(row["appointmentId"]) for row in rows if row["patientId"] == pid] == saids

    assert (await qapi.get(f"/encounter-report/status/{uuid.uuid4()}")).status_code == 404
    assert (await qapi.get(f"/encounter-report/download/{uuid.uuid4()}")).status_code == 404
    for change in ({"from": "2024-08-15 15:52"}, {"presetId": "preset"}, {"password": None},
                   {"to": "2030-05-17T00:00:00+00:00"}):
        r = await qapi.post("/encounter-report/create", json=body(REPORT, **change))
        assert r.status_code == 400 and "error" in r.json(), change
