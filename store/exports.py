"""Bulk Data export jobs and their files (FHIR Bulk Data Access IG v2, https://hl7.org/fhir/uv/bulkdata/export.html;
DESIGN.md decision 14): store documents with leases, so that one instance works a job, a crashed one's job is
resumed by another, and every instance sharing the store can answer its status and serve its files.

``export_jobs`` — one document per job: its tenant and owner, what to export (``spec``), the ``transactionTime``,
``status`` (``in-progress`` → ``completed`` | ``failed``; a cancelled job is removed), the lease (``owner``,
``until`` in wall-clock seconds), the checkpoint (``progress``: the type being exported, the last ``_id`` written,
the open file and its next chunk) and the finished ``output``. ``expires``: a TTL index removes the job.

``export_chunks`` — the NDJSON files, in chunks of at most ``CHUNK_BYTES`` (``_id = <file>/<n>``, one document each),
never on a local disk: every instance serves them. A chunk is written (an idempotent upsert), then the checkpoint
that covers it moves; a worker that dies between the two rewrites the same chunk when the job resumes. ``expires``:
a TTL index removes them (devdb has no TTL monitor: ``sweep`` and the readers' own expiry check cover it).

``rows`` streams the resources to export from one cursor per type, in ``_id`` order (the resume point), reading
``batch`` documents per round trip: memory stays flat whatever the size of the export.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from store.confinement import COMPARTMENT
from store.driver import call, detached, unavailable
from store.keys import date_range
from store.layout import NO_KEYS, live, strip
from store.metrics import job as job_metric
from store.search import compile_params
from store.types import Resource

JOBS = "export_jobs"
CHUNKS = "export_chunks"
CHUNK_BYTES = 512 * 1024
# Claims of one job before a store error fails it (each resumes from the checkpoint; a restart counts too).
MAX_ATTEMPTS = 8
# A group or patient list is matched this many patients per $in (a query stays well under 16 MB).
PATIENTS_PER_QUERY = 2000


def _expiry(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def patient_filter(rt: str, patients: list[str] | None) -> dict[str, Any] | None:
    """The resources of ``rt`` in the Patient compartment of any of ``patients`` (None: of any patient at all);
    None when ``rt`` is in no patient compartment."""
    if rt == "Patient":
        if patients is None:
            return {}
        return {"_sys.id": {"$in": patients}}
    names = COMPARTMENT.get(rt)
    if names is None:
        return None
    if patients is None:
        match: Any = {"$regex": "^Patient/"}
    else:
        match = {"$in": [f"Patient/{p}" for p in patients]}
    ors = [{f"_sys.k.{name}": match} for name in names]
    return ors[0] if len(ors) == 1 else {"$or": ors}


class ExportJobs:
    def __init__(self, db: AsyncDatabase[Any], *, clock: Any = time.time):
        self.db = db
        self._jobs = db[JOBS]
        self._chunks = db[CHUNKS]
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._jobs.create_indexes([
            IndexModel([("expires", ASCENDING)], name="ttl", expireAfterSeconds=0),
            IndexModel([("status", ASCENDING), ("until", ASCENDING)], name="status_until"),
        ])
        await self._chunks.create_indexes([
            IndexModel([("file", ASCENDING), ("n", ASCENDING)], name="file_n"),
            IndexModel([("job", ASCENDING)], name="job"),
            IndexModel([("expires", ASCENDING)], name="ttl", expireAfterSeconds=0),
        ])

    # ------------------------------------------------------------------ the doors' side

    async def create(self, tenant: str, owner: str, spec: dict[str, Any], *, transaction_time: str,
                     request: str, keep_s: float) -> dict[str, Any]:
        """A new job, in progress and free for any instance's worker to take."""
        doc = {"_id": str(uuid.uuid4()), "tenant": tenant, "job_owner": owner, "spec": spec,
               "transactionTime": transaction_time, "request": request, "status": "in-progress",
               "owner": None, "until": 0.0, "progress": {"type": 0, "after": None, "file": None, "chunk": 0,
                                                         "file_bytes": 0, "file_count": 0, "exported": 0},
               "output": [], "errors": [], "created": self._clock(), "polled": 0.0, "keep_s": keep_s,
               "expires": _expiry(keep_s)}
        await call(self._jobs.insert_one(doc))
        job_metric("export", "queued")
        return doc

    async def get(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        """The job (None when absent, expired or another tenant's)."""
        doc: dict[str, Any] | None = await call(self._jobs.find_one({"_id": job_id, "tenant": tenant}))
        if doc is None or _expired(doc):
            return None
        return doc

    async def polled(self, job_id: str, at: float, earliest: float) -> float | None:
        """Note a status request at ``at`` unless the previous one was after ``earliest`` (then: the time of the
        previous one, for a 429). One conditional update, shared by every instance."""
        res = await call(self._jobs.update_one({"_id": job_id, "polled": {"$lte": earliest}},
                                               {"$set": {"polled": at}}))
        if res.matched_count == 1:
            return None
        doc = await call(self._jobs.find_one({"_id": job_id}, {"polled": 1}))
        return float((doc or {}).get("polled", 0.0))

    async def cancel(self, tenant: str, job_id: str) -> bool:
        """Remove the job and its files (Bulk Data ``DELETE`` of the status URL); False when there was none.
        Its worker notices at its next checkpoint and stops."""
        res = await call(self._jobs.delete_one({"_id": job_id, "tenant": tenant}))
        if res.deleted_count == 0:
            return False
        await call(self._chunks.delete_many({"job": job_id}))
        return True

    async def file(self, tenant: str, file_id: str) -> dict[str, Any] | None:
        """The finished job whose output holds ``file_id``, and that output entry (None: no such file)."""
        job: dict[str, Any] | None = await call(self._jobs.find_one(
            {"tenant": tenant, "status": "completed", "output.file": file_id}))
        if job is None or _expired(job):
            return None
        entry = next(o for o in job["output"] if o["file"] == file_id)
        return {"job": job, "entry": entry}

    async def chunks(self, file_id: str, *, timeout_s: float) -> AsyncIterator[bytes]:
        """The file's bytes, one chunk per round trip, in order; each read under a deadline of its own
        (``timeout_s``), so that a long download is not cut at the request's."""
        n = 0
        while True:
            doc = await detached(call(self._chunks.find_one({"_id": f"{file_id}/{n}"})), timeout_s)
            if doc is None:
                return
            yield bytes(doc["data"])
            n += 1

    # ------------------------------------------------------------------ the worker's side

    async def claim(self, owner: str, ttl: float) -> dict[str, Any] | None:
        """Take the lease of a job in progress whose lease is free or expired (one atomic find-and-modify), or
        None when there is none."""
        now = self._clock()
        doc: dict[str, Any] | None = await call(self._jobs.find_one_and_update(
            {"status": "in-progress", "until": {"$lt": now}},
            {"$set": {"owner": owner, "until": now + ttl}, "$inc": {"attempts": 1}},
            sort=[("created", ASCENDING)], return_document=ReturnDocument.AFTER))
        return doc

    async def checkpoint(self, job_id: str, owner: str, ttl: float, progress: dict[str, Any],
                         closed: list[dict[str, Any]]) -> bool:
        """Move the job's checkpoint, append the files ``closed`` since the last one to its output, and renew the
        lease — one update; False when the lease is no longer ``owner``'s or the job is gone (cancelled): then
        nothing changes and the worker stops."""
        update: dict[str, Any] = {"$set": {"progress": progress, "until": self._clock() + ttl}}
        if closed:
            update["$push"] = {"output": {"$each": closed}}
        res = await call(self._jobs.update_one({"_id": job_id, "owner": owner, "status": "in-progress"}, update))
        return res.matched_count == 1

    async def finish(self, job_id: str, owner: str, keep_s: float) -> bool:
        res = await call(self._jobs.update_one(
            {"_id": job_id, "owner": owner, "status": "in-progress"},
            {"$set": {"status": "completed", "owner": None, "until": 0.0,
                      "completed": self._clock(), "expires": _expiry(keep_s)}}))
        if res.matched_count == 1:
            await call(self._chunks.update_many({"job": job_id}, {"$set": {"expires": _expiry(keep_s)}}))
        return res.matched_count == 1

    async def fail(self, job_id: str, owner: str, message: str) -> None:
        await call(self._jobs.update_one(
            {"_id": job_id, "owner": owner, "status": "in-progress"},
            {"$set": {"status": "failed", "owner": None, "until": 0.0, "failure": message}}))

    async def release(self, job_id: str, owner: str, *, pause_s: float = 0.0) -> None:
        """Give the lease up: at once (a clean shutdown; another instance, or this one restarted, resumes), or
        claimable again only after ``pause_s`` (a store error: resumed from the checkpoint after a pause)."""
        until = self._clock() + pause_s if pause_s else 0.0
        await call(self._jobs.update_one({"_id": job_id, "owner": owner}, {"$set": {"owner": None, "until": until}}))

    async def put_chunk(self, job: dict[str, Any], file_id: str, n: int, data: bytes) -> None:
        await call(self._chunks.replace_one(
            {"_id": f"{file_id}/{n}"},
            {"_id": f"{file_id}/{n}", "file": file_id, "n": n, "job": job["_id"], "tenant": job["tenant"],
             "data": data, "expires": _expiry(job["keep_s"])}, upsert=True))

    async def drop_chunks(self, file_id: str, from_n: int) -> None:
        """Chunks of ``file_id`` past the checkpoint (written by a worker that died before moving it)."""
        await call(self._chunks.delete_many({"file": file_id, "n": {"$gte": from_n}}))

    async def sweep(self) -> int:
        """Remove expired jobs and chunks (what a TTL index does on a real MongoDB)."""
        now = datetime.now(UTC)
        try:
            jobs = await self._jobs.delete_many({"expires": {"$lt": now}})
            chunks = await self._chunks.delete_many({"expires": {"$lt": now}})
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        return int(jobs.deleted_count) + int(chunks.deleted_count)

    async def rows(self, tenant: str, rt: str, *, after: str | None, transaction_time: str, since: str | None,
                   type_filters: list[list[tuple[str, str]]], patients: list[str] | None, compartment: bool,
                   batch: int = 500) -> AsyncIterator[tuple[str, Resource]]:
        """``(_id, resource)`` of every current, not deleted ``rt`` of ``tenant`` last updated by
        ``transaction_time`` (and after ``since``), matching any of ``type_filters`` (FHIR search parameters),
        in the Patient compartment of ``patients`` when ``compartment`` (None: of any patient), after the
        ``_id`` ``after``, in ``_id`` order — from one cursor (or one per ``PATIENTS_PER_QUERY`` patients)."""
        clauses: list[dict[str, Any]] = [{"_sys.lu": {"$lte": (date_range(transaction_time) or ("",))[0]}}]
        if since:
            clauses.append({"_sys.lu": {"$gt": (date_range(since) or ("",))[0]}})
        if type_filters:
            ors = []
            for params in type_filters:
                found, _, _ = compile_params(rt, params, tenant, strict=True)
                ors.append({"$and": found} if len(found) > 1 else found[0] if found else {})
            clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
        groups: list[list[str] | None] = [None]
        if compartment and patients is not None:
            groups = [patients[i:i + PATIENTS_PER_QUERY] for i in range(0, len(patients), PATIENTS_PER_QUERY)]
            if not groups:
                return
        if len(groups) > 1:
            # Several cursors cannot resume by one _id: the resume point is per cursor, so read them as one
            # ordered stream by merging on _id (each is sorted).
            async for row in _merged([self._cursor(tenant, rt, clauses, g, compartment, after, batch)
                                      for g in groups]):
                yield row
            return
        async for row in self._cursor(tenant, rt, clauses, groups[0], compartment, after, batch):
            yield row

    async def _cursor(self, tenant: str, rt: str, clauses: list[dict[str, Any]], patients: list[str] | None,
                      compartment: bool, after: str | None, batch: int) -> AsyncIterator[tuple[str, Resource]]:
        parts = list(clauses)
        if compartment:
            found = patient_filter(rt, patients)
            if found is None:
                return
            if found:
                parts.append(found)
        if after is not None:
            parts.append({"_id": {"$gt": after}})
        filt = live(tenant, parts)
        try:
            cursor = self.db[rt].find(filt, NO_KEYS).sort([("_id", ASCENDING)]).batch_size(batch)
            async for doc in cursor:
                yield doc["_id"], strip(doc)
        except PyMongoError as exc:
            raise unavailable(exc) from exc


async def _merged(streams: list[AsyncIterator[tuple[str, Resource]]]) -> AsyncIterator[tuple[str, Resource]]:
    heads: list[tuple[str, Resource] | None] = [await anext(s, None) for s in streams]
    last: str | None = None
    while True:
        live_heads = [(h[0], i) for i, h in enumerate(heads) if h is not None]
        if not live_heads:
            return
        key, i = min(live_heads)
        head = heads[i]
        heads[i] = await anext(streams[i], None)
        if head is not None and key != last:  # a resource in two patients' compartments: once
            last = key
            yield head


def _expired(doc: dict[str, Any]) -> bool:
    expires = doc.get("expires")
    if not isinstance(expires, datetime):
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires < datetime.now(UTC)
