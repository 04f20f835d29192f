"""Background jobs and their files (DESIGN.md decision 14): store documents with leases, so that one instance
works a job, a crashed one's job is taken over by another once its lease expires, and every instance sharing
the store answers its status and serves its file.

``jobs`` — one document per job: ``tenant``, ``kind`` (e.g. ``encounter-report``), ``spec`` (what to make),
``secret`` (a value the worker needs and nobody may read back, already encrypted by the caller; removed when the
job ends), ``status`` (``pending`` → ``completed`` | ``failed``), the lease (``owner``, ``until`` in wall-clock
seconds), ``attempts``, the finished file's ``size`` and ``chunks``, ``expires`` (a TTL index removes the job).

``job_chunks`` — the file, in chunks (``_id = <job>/<n>``), never on a local disk. A worker writes every chunk,
then marks the job completed (conditional on still holding its lease); a worker that dies before that leaves
chunks a successor overwrites. ``expires``: a TTL index removes them with their job (devdb has no TTL monitor:
``get`` and ``chunks`` check the expiry themselves).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from store.driver import call
from store.logs import described
from store.metrics import job as job_metric

log = logging.getLogger("fhirgraph.jobs")

JOBS = "jobs"
CHUNKS = "job_chunks"
MAX_ATTEMPTS = 3


def _expiry(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _expired(doc: dict[str, Any]) -> bool:
    expires = doc.get("expires")
    if not isinstance(expires, datetime):
        return False
    return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) < datetime.now(UTC)


class Jobs:
    def __init__(self, db: AsyncDatabase[Any], *, clock: Callable[[], float] = time.time):
        self._jobs = db[JOBS]
        self._chunks = db[CHUNKS]
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await call(self._jobs.create_indexes([
            IndexModel([("expires", ASCENDING)], name="ttl", expireAfterSeconds=0),
            IndexModel([("kind", ASCENDING), ("status", ASCENDING), ("until", ASCENDING)], name="claim"),
        ]))
        await call(self._chunks.create_indexes([
            IndexModel([("job", ASCENDING), ("n", ASCENDING)], name="job_n"),
            IndexModel([("expires", ASCENDING)], name="ttl", expireAfterSeconds=0),
        ]))

    async def create(self, tenant: str, kind: str, spec: dict[str, Any], *, secret: str | None,
                     keep_s: float) -> dict[str, Any]:
        """A new pending job, free for any instance's worker to take."""
        doc = {"_id": str(uuid.uuid4()), "tenant": tenant, "kind": kind, "spec": spec, "secret": secret,
               "status": "pending", "owner": None, "until": 0.0, "attempts": 0, "created": self._clock(),
               "keep_s": keep_s, "expires": _expiry(keep_s)}
        await call(self._jobs.insert_one(doc))
        job_metric(kind, "queued")
        return doc

    async def get(self, tenant: str, job_id: str, kind: str) -> dict[str, Any] | None:
        """The job (without its secret); None when absent, expired, of another kind or another tenant's."""
        doc: dict[str, Any] | None = await call(self._jobs.find_one({"_id": job_id, "tenant": tenant, "kind": kind},
                                                                    {"secret": 0}))
        return None if doc is None or _expired(doc) else doc

    async def claim(self, kind: str, owner: str, ttl: float, *, job_id: str | None = None) -> dict[str, Any] | None:
        """Take the lease of one pending job of ``kind`` (``job_id``: that one) that nobody holds (or whose
        holder's lease expired), with its secret — one atomic find-and-modify; None when there is none."""
        now = self._clock()
        which: dict[str, Any] = {"kind": kind, "status": "pending", "until": {"$lt": now}}
        if job_id is not None:
            which["_id"] = job_id
        doc: dict[str, Any] | None = await call(self._jobs.find_one_and_update(
            which,
            {"$set": {"owner": owner, "until": now + ttl}, "$inc": {"attempts": 1}},
            sort=[("until", ASCENDING)], return_document=ReturnDocument.AFTER))
        if doc is not None and doc["attempts"] > MAX_ATTEMPTS:
            await self.finish(doc["_id"], owner, "failed", error="gave up after repeated failures")
            return None
        return doc

    async def renew(self, job_id: str, owner: str, ttl: float) -> bool:
        """Extend ``owner``'s lease; False when it is no longer ``owner``'s (then stop working the job)."""
        res = await call(self._jobs.update_one({"_id": job_id, "owner": owner, "status": "pending"},
                                               {"$set": {"until": self._clock() + ttl}}))
        return res.matched_count == 1

    async def release(self, job_id: str, owner: str) -> None:
        """Give the lease up at once (a clean stop before the job is done): another worker may take it."""
        await call(self._jobs.update_one({"_id": job_id, "owner": owner, "status": "pending"},
                                         {"$set": {"owner": None, "until": 0.0}}))

    async def progress(self, job_id: str, owner: str, ttl: float, *, push: dict[str, list[Any]] | None = None,
                       **state: Any) -> bool:
        """Store how far ``owner`` got (fields of the job document, e.g. ``processed``; ``push``: items appended
        to its lists) and extend its lease, in one write; False when the job is no longer ``owner``'s (then stop
        working it)."""
        change: dict[str, Any] = {"$set": {**state, "until": self._clock() + ttl}}
        if push:
            change["$push"] = {k: {"$each": v} for k, v in push.items()}
        res = await call(self._jobs.update_one({"_id": job_id, "owner": owner, "status": "pending"}, change))
        return res.matched_count == 1

    async def put_chunk(self, job: dict[str, Any], n: int, data: bytes) -> None:
        await call(self._chunks.replace_one(
            {"_id": f"{job['_id']}/{n}"},
            {"job": job["_id"], "n": n, "data": data, "expires": job["expires"]}, upsert=True))

    async def finish(self, job_id: str, owner: str, status: str, *, size: int = 0, chunks: int = 0,
                     error: str | None = None) -> bool:
        """End the job (``completed`` or ``failed``) if ``owner`` still holds it; its secret is removed."""
        res = await call(self._jobs.update_one(
            {"_id": job_id, "owner": owner, "status": "pending"},
            {"$set": {"status": status, "size": size, "chunks": chunks, "error": error, "finished": self._clock(),
                      "owner": None, "until": 0.0},
             "$unset": {"secret": ""}}))
        return res.matched_count == 1

    async def chunks(self, job: dict[str, Any]) -> AsyncIterator[bytes]:
        """The job's file, chunk by chunk (one round trip each: memory stays at one chunk)."""
        for n in range(int(job.get("chunks") or 0)):
            doc = await call(self._chunks.find_one({"_id": f"{job['_id']}/{n}"}))
            if doc is None:
                raise LookupError(f"chunk {n} of job {job['_id']} is missing")
            yield bytes(doc["data"])


async def work_jobs(jobs: Jobs, kind: str, owner: str, work: Callable[[dict[str, Any]], Awaitable[None]], *,
                    lease_s: float, poll_s: float) -> None:
    """A worker's loop, forever: claim a pending job of ``kind`` whose lease is free or expired and ``work`` it;
    none waiting, look again after ``poll_s``. A failure (the store unavailable) is logged and retried at the
    next poll; cancellation ends the loop."""
    while True:
        try:
            job = await jobs.claim(kind, owner, lease_s)
            if job is None:
                await asyncio.sleep(poll_s)
                continue
            await work(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the store unavailable: try again at the next poll
            log.warning("%s worker: %s", kind, described(exc))
            await asyncio.sleep(poll_s)

