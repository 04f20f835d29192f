"""qapi reports (seed 002): ``GET /reports/csv-data-dump?from&to`` and the encounter report —
``POST /encounter-report/create``, ``GET /encounter-report/status/{id}``, ``GET /encounter-report/download/{id}``.

Both are the visits (FHIR Appointments) of a date range, one CSV row each with its patient, waiting room and
encounter (``COLUMNS``), read page by page from the store's keyset cursors: one page of rows is in memory at a
time, whatever the size of the clinic.

The CSV dump streams as it is read. The encounter report is a background job (store/jobs.py): the create answers
at once (``pending``); one instance's ``ReportWorker`` takes the job's lease, writes the CSV into a zip locked
with the caller's password under WinZip AES-256 (pyzipper; never legacy ZipCrypto) in a temporary file (never
the whole file in memory), then stores the zip in chunks in the store, so any instance serves the download; a
worker that dies mid-job loses its lease and another makes the report again (and one that meets a transient
store error pauses it, to be made again after a backoff). The password is kept only for the
worker, encrypted (Fernet) under a key shared through the store, and removed when the job ends. ``presetId``
is recorded: the report's columns are the one preset this server has.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import hashlib
import io
import re
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyzipper
from cryptography.fernet import Fernet
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fhir_rest.qapi import appointment_map as amap
from fhir_rest.qapi.http import allowed, json_object, reply, req_str
from fhir_rest.qapi.table import Op, Param
from fhir_rest.services import services
from store.driver import deadline, paced
from store.errors import Conflict, Forbidden, Invalid, NotFound
from store.fhirjson import ident
from store.jobs import JobWorker, Lease
from store.naming import SID
from store.repository import Repository
from store.types import PrincipalLike, Resource, SystemPrincipal

KIND = "encounter-report"
COLUMNS = ("appointmentId", "appointmentFhirId", "externalId", "date", "durationSeconds", "status",
           "waitingRoom", "patientId", "soloPatientId", "mrn", "firstName", "lastName", "birthDate", "reasons",
           "encounterId", "encounterStatus")
PAGE = 500
MAX_DUMP_DAYS = 366
KEEP_S = 7 * 86_400
LEASE_S = 120.0
POLL_S = 1.0
CHUNK = 1024 * 1024
PAGE_DEADLINE_S = 30.0
NEEDS = (("search", "Appointment"), ("read", "Patient"), ("read", "HealthcareService"), ("search", "Encounter"))
ATOM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")


def _clinic_wide(request: Request) -> PrincipalLike:
    """The caller, when it may read every visit of its clinic (a report is not for a patient-confined key)."""
    principal, decisions = allowed(request, *NEEDS)
    if any(d.within is not None for d in decisions.values()):
        raise Forbidden("insufficient_scope: reports need clinic-wide access to appointments and patients")
    return principal


# ---------------------------------------------------------------------------------------------- rows


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    # A cell starting with = + - @ would run as a formula in a spreadsheet: quote it as text (OWASP CSV injection).
    writer.writerows([["'" + c if isinstance(c, str) and c[:1] in ("=", "+", "-", "@", "\t", "\r") else c
                       for c in row] for row in rows])
    return out.getvalue().encode()


def header() -> bytes:
    return _csv([list(COLUMNS)])


async def visit_rows(repo: Repository, principal: PrincipalLike, start: datetime, end: datetime,
                     page_deadline_s: float | None = None) -> AsyncIterator[bytes]:
    """The CSV rows (no header) of the appointments starting in [start, end), a page per chunk, by date."""
    params = [("date", f"ge{start.strftime('%Y-%m-%dT%H:%M:%SZ')}"),
              ("date", f"lt{end.strftime('%Y-%m-%dT%H:%M:%SZ')}")]
    after = None
    while True:
        with deadline(page_deadline_s) if page_deadline_s else contextlib.nullcontext():
            page = await repo.search(principal, "Appointment", params, count=PAGE, sort="date", after=after)
            appts = page.resources
            pids = {p for a in appts if (p := amap.patient_id(a))}
            rids = {r for a in appts if (r := amap.room_id(a))}
            patients, rooms, found = await asyncio.gather(
                repo.read_many(principal, "Patient", pids), repo.read_many(principal, "HealthcareService", rids),
                repo.find_by_reference(principal, "Encounter", "appointment", [f"Appointment/{a['id']}" for a in appts])
                if appts else _none())
        encounters: dict[str, Resource] = {}
        for enc, refs in found:
            for ref in refs:
                encounters.setdefault(ref.removeprefix("Appointment/"), enc)
        if appts:
            yield _csv([_row(a, patients, rooms, encounters) for a in appts])
        if not page.next_cursor:
            return
        after = page.next_cursor


async def _none() -> list[tuple[Resource, list[str]]]:
    return []


def _row(a: Resource, patients: dict[str, Resource], rooms: dict[str, Resource],
         encounters: dict[str, Resource]) -> list[Any]:
    patient = patients.get(amap.patient_id(a) or "") or {}
    name = next((n for n in patient.get("name") or () if isinstance(n, dict)), {})
    given = [g for g in name.get("given") or () if isinstance(g, str)]
    room = rooms.get(amap.room_id(a) or "") or {}
    enc = encounters.get(a["id"]) or {}
    start, end = a.get("start"), a.get("end")
    seconds = None
    if start and end:
        with contextlib.suppress(ValueError):
            seconds = int((datetime.fromisoformat(end.replace("Z", "+00:00"))
                           - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds())
    return [amap.said(a), a["id"], ident(a, SID["external-id"]), start, seconds, amap.workflow(a),
            room.get("name"), patient.get("id"), ident(patient, SID["spid"]) if patient else None,
            ident(patient, SID["mrn"]) if patient else None, given[0] if given else None, name.get("family"),
            patient.get("birthDate"),
            "; ".join(r["text"] for r in a.get("reasonCode") or () if isinstance(r, dict) and r.get("text")),
            enc.get("id"), enc.get("status")]


# ---------------------------------------------------------------------------------------------- CSV dump


def _day(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    if not raw:
        raise Invalid(f"{name} is required", field=name)
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{name} must be a date (YYYY-MM-DD)", field=name) from None


async def csv_dump(request: Request) -> Response:
    principal = _clinic_wide(request)
    first, last = _day(request, "from"), _day(request, "to")
    if last < first:
        raise Invalid("to must not be before from", field="to")
    if (last - first).days >= MAX_DUMP_DAYS:
        raise Invalid(f"The date range may span at most {MAX_DUMP_DAYS} days", field="to")
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)  # "to" is inclusive
    repo = services(request).repo
    # Pages after the first each get a deadline of their own: a long dump is not cut at the request's.
    rows = paced(visit_rows(repo, principal, start, end), PAGE_DEADLINE_S)
    first_chunk = await anext(rows, b"")  # a store failure before anything is sent is a clean error answer

    async def body() -> AsyncIterator[bytes]:
        yield header() + first_chunk
        async for chunk in rows:
            yield chunk

    name = f"report-{first.isoformat()}-{last.isoformat()}.csv"
    return StreamingResponse(body(), media_type="application/octet-stream",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


# ---------------------------------------------------------------------------------------------- encounter report


async def _box(repo: Repository) -> Fernet:
    """The key the report passwords are encrypted under while their job waits (shared by every instance)."""
    secret = await repo.identity.shared_secret("qapi-report-passwords", secrets.token_hex(32))
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"report-passwords\n{secret}".encode()).digest()))


def _atom(body: dict[str, Any], name: str) -> datetime:
    raw = req_str(body, name, max_len=40)
    try:
        if not ATOM.match(raw):
            raise ValueError(raw)
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid(f'{name} must be a date and time in ATOM format ("Y-m-d\\TH:i:sP")', field=name) from None


async def create_report(request: Request) -> Response:
    principal = _clinic_wide(request)
    body = await json_object(request)
    start, end = _atom(body, "from"), _atom(body, "to")
    if end < start:
        raise Invalid("to must not be before from", field="to")
    preset = req_str(body, "presetId", max_len=64).strip()
    try:
        uuid.UUID(preset)
    except ValueError:
        raise Invalid("presetId: This is not a valid UUID.", field="presetId") from None
    password = req_str(body, "password", max_len=128)
    repo = services(request).repo
    sealed = (await _box(repo)).encrypt(password.encode()).decode()
    job = await repo.jobs.create(principal.tenant, KIND, {"from": start.isoformat(), "to": end.isoformat(),
                                                          "presetId": preset}, secret=sealed, keep_s=KEEP_S)
    return reply({"id": job["_id"], "status": "pending"}, 201)


async def _job(request: Request) -> dict[str, Any]:
    principal = _clinic_wide(request)
    rid = request.path_params["report_id"]
    job = None
    if len(rid) <= 64:
        job = await services(request).repo.jobs.get(principal.tenant, rid, KIND)
    if job is None:
        raise NotFound("Report not found")
    return job


async def report_status(request: Request) -> Response:
    job = await _job(request)
    return reply({"id": job["_id"], "status": job["status"]})


async def download(request: Request) -> Response:
    job = await _job(request)
    if job["status"] != "completed":
        raise Conflict(f"The report is {job['status']}: there is nothing to download")
    # The file is named by its job; a chunk missing before the last is an error, not a short download.
    chunks = services(request).repo.jobs.chunks(job["_id"], count=int(job.get("chunks") or 0),
                                                timeout_s=services(request).settings.db_timeout_s)
    name = f"encounter-report-{job['_id']}.zip"
    return StreamingResponse(chunks, media_type="application/octet-stream",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Content-Length": str(job.get("size") or 0), "Cache-Control": "no-store",
                                      "X-Content-Type-Options": "nosniff"})


class ReportWorker:
    """Works the encounter reports of every tenant sharing the store, one job at a time, with a lease
    (store/jobs.py's ``JobWorker``: a transient store error pauses the job, which is made again from the start)."""

    def __init__(self, repo: Repository | None = None, *, poll_s: float = POLL_S, lease_s: float = LEASE_S):
        self.repo: Repository = repo  # type: ignore[assignment]  # set by the lifespan before start()
        self.poll_s = poll_s
        self.lease_s = lease_s
        self._worker: JobWorker | None = None

    def start(self) -> None:
        if self.repo is None:
            raise RuntimeError("ReportWorker.start() before its store is open")
        self._worker = JobWorker(self.repo.jobs, KIND, self.work, lease_s=self.lease_s, poll_s=self.poll_s,
                                 failure="The report could not be made; order it again")
        self._worker.start()

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()

    async def work(self, lease: Lease) -> None:
        password = (await _box(self.repo)).decrypt(str(lease.job.get("secret") or "").encode())
        size, chunks = await self._make(lease, password)
        await lease.finish(size=size, chunks=chunks)

    async def _make(self, lease: Lease, password: bytes) -> tuple[int, int]:
        job = lease.job
        spec = job["spec"]
        principal = SystemPrincipal(job["tenant"])
        start, end = datetime.fromisoformat(spec["from"]), datetime.fromisoformat(spec["to"])
        with tempfile.SpooledTemporaryFile(max_size=CHUNK) as out:
            with pyzipper.AESZipFile(out, "w", compression=pyzipper.ZIP_DEFLATED,
                                     encryption=pyzipper.WZ_AES) as zf:
                zf.setpassword(password)
                with zf.open("encounter-report.csv", "w") as entry:
                    entry.write(header())
                    async for rows in visit_rows(self.repo, principal, start, end + timedelta(seconds=1),
                                                 PAGE_DEADLINE_S):
                        await asyncio.to_thread(entry.write, rows)  # compression and AES off the loop
                        await lease.checkpoint()  # the lease renewed; Stopped when it was lost
            size = out.tell()
            out.seek(0)
            n = 0
            while data := out.read(CHUNK):
                with deadline(PAGE_DEADLINE_S):
                    await lease.put_chunk(lease.id, n, data)
                n += 1
        return size, n


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    tag = "Reports"
    day = {"type": "string", "format": "date"}
    binary = {"type": "string", "format": "binary"}
    status = s.obj({"id": s.STR, "status": {"type": "string", "enum": ["pending", "completed", "failed"]}},
                   required=("id", "status"))
    return [
        Op("GET", "/reports/csv-data-dump", csv_dump, "Get CSV report", tag, reply=binary,
           reply_type="application/octet-stream", errors=(400,),
           params=(Param("from", day, "Left date range for the report.", required=True),
                   Param("to", day, "Right date range for the report (inclusive).", required=True)),
           description="Download CSV report for a specific date range (at most 366 days): one row per visit. "
                       "All parameters are required."),
        Op("POST", "/encounter-report/create", create_report, "Set encounter-report generation in create", tag,
           ok=201, body=s.ENCOUNTER_REPORT, reply=status, errors=(400, 415),
           description="Order a zipped CSV encounter report for a date range and preset, locked with the password "
                       "(WinZip AES-256). It is generated in the background: poll its status."),
        Op("GET", "/encounter-report/status/{report_id}", report_status, "Check report status", tag, reply=status,
           errors=(404,), description="Get status (pending, completed, failed) of report."),
        Op("GET", "/encounter-report/download/{report_id}", download, "Get encounter report", tag, reply=binary,
           reply_type="application/octet-stream", errors=(404, 409),
           description="The zipped CSV, once completed (409 before)."),
    ]
