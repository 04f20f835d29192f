"""Background jobs and their files (DESIGN.md decision 14), one mechanism for every kind — Bulk Data exports
(fhir_rest/bulk/), qapi encounter reports (fhir_rest/qapi/reports.py), GraphQL bulk patient imports
(resolvers/patient_import.py): store documents with leases, so that one instance works a job, a crashed one's job
is resumed by another from its checkpoint, and every instance sharing the store answers its status and serves its
files.

``jobs`` — one document per job: ``tenant``, ``kind``, ``spec`` (what to make), ``secret`` (a value the worker
needs and nobody may read back, already encrypted by the caller; removed when the job ends), ``status``
(``pending`` → ``completed`` | ``failed``; a cancelled job is removed), the lease (``owner``, ``until`` in
wall-clock seconds), ``attempts`` (claims so far), the checkpoint (fields of the kind's own, moved by
``Lease.checkpoint``: an export's ``progress`` and ``output``, an import's ``processed`` and ``results``), the
result (``size``/``chunks`` of a report's file, ``error`` of a failed job), ``keep_s`` and ``expires`` (a TTL
index removes the job; reset to ``keep_s`` from completion when it completes).

``job_chunks`` — the files, in chunks (``_id = <file>/<n>``: ``file``, ``n``, ``job``, ``data``, ``expires``),
never on a local disk: every instance serves them. A chunk is written (an idempotent upsert), then the checkpoint
that covers it moves; a worker that dies between the two writes the same chunk again when the job resumes.
A report's one file is named by its job's id.

``JobWorker`` works one kind: it claims a pending job whose lease is free or expired (one atomic
find-and-modify; each claim counts an attempt) and runs the kind's work with a ``Lease``, whose every checkpoint
renews the lease and stops the work (``Stopped``) once it is no longer this instance's or the job is gone.
A transient store error (``Unavailable``, ``TimedOut``) pauses the job — its lease released, claimable again
after a backoff — and the next claim resumes it from its checkpoint; any other error fails it, and so does the
claim past ``MAX_ATTEMPTS`` (a job whose workers keep dying). Each transition is a metric state
(store/metrics.py): ``queued``, ``running`` | ``resumed``, then ``completed``, ``failed``, ``paused`` or
``cancelled`` (stopped here: cancelled, taken over, shutting down).

Upgrade: export jobs used to live in ``export_jobs``/``export_chunks`` (status ``in-progress``, ``failure``).
``ensure_indexes`` (start-up) moves them here; the jobs moved in progress are held under a lease of the move's
until their chunks are across, then released: a new instance resumes them from their checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from store.driver import call, detached, unavailable
from store.errors import TimedOut, Unavailable
from store.logs import described
from store.metrics import job as job_metric

log = logging.getLogger("fhirgraph.jobs")

JOBS = "jobs"
CHUNKS = "job_chunks"
# Claims of one job before it fails (each resumes from the checkpoint; a restart counts too).
MAX_ATTEMPTS = 8
# The longest pause after a transient store error (the pause doubles with each attempt up to it).
MAX_PAUSE_S = 60.0
# How long a stopping worker waits for its cancelled task before it cancels it again (JobWorker.stop).
STOP_RETRY_S = 1.0
# What a job that failed tells its client (a kind may say more).
FAILED = "The job could not be completed; retry it"
# Where export jobs were kept before they joined the others (moved at start-up: module docstring).
OLD_EXPORT_JOBS, OLD_EXPORT_CHUNKS = "export_jobs", "export_chunks"
MOVE_BATCH = 16


def _expiry(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _expired(doc: dict[str, Any]) -> bool:
    """Past its expiry: a real MongoDB's TTL monitor removes it within a minute; until then it is absent."""
    expires = doc.get("expires")
    if not isinstance(expires, datetime):
        return False
    return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) < datetime.now(UTC)


class Stopped(Exception):
    """The lease was lost or the job is gone (cancelled): stop working it, quietly."""


class Jobs:
    def __init__(self, db: AsyncDatabase[Any], *, clock: Callable[[], float] = time.time):
        self.db = db
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
            IndexModel([("file", ASCENDING), ("n", ASCENDING)], name="file_n"),
            IndexModel([("expires", ASCENDING)], name="ttl", expireAfterSeconds=0),
        ]))
        await self._adopt_old_exports()

    # ------------------------------------------------------------------ the doors' side

    async def create(self, tenant: str, kind: str, spec: dict[str, Any], *, keep_s: float,
                     secret: str | None = None, **fields: Any) -> dict[str, Any]:
        """A new pending job, free for any instance's worker to take; ``fields``: the kind's own (its initial
        checkpoint, what its status answers)."""
        doc = {**fields, "_id": str(uuid.uuid4()), "tenant": tenant, "kind": kind, "spec": spec, "secret": secret,
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

    async def polled(self, job_id: str, at: float, earliest: float) -> float | None:
        """Note a status request at ``at`` unless the previous one was after ``earliest`` (then: the time of the
        previous one, for a 429). One conditional update, shared by every instance."""
        res = await call(self._jobs.update_one({"_id": job_id, "polled": {"$lte": earliest}},
                                               {"$set": {"polled": at}}))
        if res.matched_count == 1:
            return None
        doc = await call(self._jobs.find_one({"_id": job_id}, {"polled": 1}))
        return float((doc or {}).get("polled", 0.0))

    async def cancel(self, tenant: str, job_id: str, kind: str) -> bool:
        """Remove the job and its files; False when there was none. Its worker notices at its next checkpoint
        and stops."""
        res = await call(self._jobs.delete_one({"_id": job_id, "tenant": tenant, "kind": kind}))
        if res.deleted_count == 0:
            return False
        await call(self._chunks.delete_many({"job": job_id}))
        return True

    async def file(self, tenant: str, kind: str, file_id: str) -> dict[str, Any] | None:
        """The completed job whose ``output`` lists ``file_id``, and that entry (None: no such file)."""
        job: dict[str, Any] | None = await call(self._jobs.find_one(
            {"tenant": tenant, "kind": kind, "status": "completed", "output.file": file_id}, {"secret": 0}))
        if job is None or _expired(job):
            return None
        entry = next(o for o in job["output"] if o["file"] == file_id)
        return {"job": job, "entry": entry}

    async def chunks(self, file_id: str, *, count: int | None = None,
                     timeout_s: float) -> AsyncIterator[bytes]:
        """The file's bytes, one chunk per round trip, in order — its ``count`` chunks (a chunk missing then is a
        ``LookupError``), or (None) up to the first missing one; each read under a deadline of its own
        (``timeout_s``), so that a long download is not cut at the request's."""
        n = 0
        while count is None or n < count:
            doc = await detached(call(self._chunks.find_one({"_id": f"{file_id}/{n}"})), timeout_s)
            if doc is None:
                if count is None:
                    return
                raise LookupError(f"chunk {n} of file {file_id} is missing")
            yield bytes(doc["data"])
            n += 1

    # ------------------------------------------------------------------ the worker's side

    async def claim(self, kind: str, owner: str, ttl: float, *, job_id: str | None = None) -> dict[str, Any] | None:
        """Take the lease of one pending job of ``kind`` (``job_id``: that one) that nobody holds (or whose
        holder's lease expired, or whose pause is over), with its secret — one atomic find-and-modify, which
        counts an attempt; None when there is none. A job past ``MAX_ATTEMPTS`` claims is failed instead."""
        now = self._clock()
        which: dict[str, Any] = {"kind": kind, "status": "pending", "until": {"$lt": now}}
        if job_id is not None:
            which["_id"] = job_id
        doc: dict[str, Any] | None = await call(self._jobs.find_one_and_update(
            which,
            {"$set": {"owner": owner, "until": now + ttl}, "$inc": {"attempts": 1}},
            sort=[("until", ASCENDING)], return_document=ReturnDocument.AFTER))
        if doc is not None and doc["attempts"] > MAX_ATTEMPTS:
            await self.fail(doc["_id"], owner, "gave up after repeated failures")
            return None
        return doc

    async def checkpoint(self, job_id: str, owner: str, ttl: float, *, push: dict[str, list[Any]] | None = None,
                         **state: Any) -> bool:
        """Store how far ``owner`` got (fields of the job document; ``push``: items appended to its lists) and
        renew its lease, in one conditional update; False when the job is no longer ``owner``'s or is gone
        (then nothing changes, and the worker stops)."""
        change: dict[str, Any] = {"$set": {**state, "until": self._clock() + ttl}}
        if push:
            change["$push"] = {k: {"$each": v} for k, v in push.items()}
        res = await call(self._jobs.update_one({"_id": job_id, "owner": owner, "status": "pending"}, change))
        return res.matched_count == 1

    async def release(self, job_id: str, owner: str, *, pause_s: float = 0.0) -> None:
        """Give the lease up: at once (a clean stop: another worker, or this one restarted, resumes), or
        claimable again only after ``pause_s`` (a transient store error: resumed from the checkpoint then)."""
        until = self._clock() + pause_s if pause_s else 0.0
        await call(self._jobs.update_one({"_id": job_id, "owner": owner, "status": "pending"},
                                         {"$set": {"owner": None, "until": until}}))

    async def finish(self, job_id: str, owner: str, *, keep_s: float, **result: Any) -> bool:
        """Complete the job if ``owner`` still holds it (``result``: fields of the job document); it and its
        files are kept ``keep_s`` from now; its secret is removed. False when it is no longer ``owner``'s."""
        expires = _expiry(keep_s)
        res = await call(self._jobs.update_one(
            {"_id": job_id, "owner": owner, "status": "pending"},
            {"$set": {**result, "status": "completed", "finished": self._clock(), "owner": None, "until": 0.0,
                      "expires": expires},
             "$unset": {"secret": ""}}))
        if res.matched_count == 1:
            await call(self._chunks.update_many({"job": job_id}, {"$set": {"expires": expires}}))
        return res.matched_count == 1

    async def fail(self, job_id: str, owner: str, error: str) -> bool:
        """Fail the job if ``owner`` still holds it (``error``: what its client is told); its secret is removed."""
        res = await call(self._jobs.update_one(
            {"_id": job_id, "owner": owner, "status": "pending"},
            {"$set": {"status": "failed", "error": error, "finished": self._clock(), "owner": None, "until": 0.0},
             "$unset": {"secret": ""}}))
        return res.matched_count == 1

    async def put_chunk(self, job: dict[str, Any], file_id: str, n: int, data: bytes) -> None:
        await call(self._chunks.replace_one(
            {"_id": f"{file_id}/{n}"},
            {"_id": f"{file_id}/{n}", "file": file_id, "n": n, "job": job["_id"], "data": data,
             "expires": _expiry(float(job["keep_s"]))}, upsert=True))

    async def drop_chunks(self, file_id: str, from_n: int) -> None:
        """Chunks of ``file_id`` from ``from_n`` on (written by a worker that died before its checkpoint)."""
        await call(self._chunks.delete_many({"file": file_id, "n": {"$gte": from_n}}))

    # ------------------------------------------------------------------ the upgrade

    async def _adopt_old_exports(self) -> None:
        """Move the export jobs and chunks of ``export_jobs``/``export_chunks`` here (module docstring): each
        document is inserted (a copy another instance moved first is kept) and then deleted there."""
        old_jobs, old_chunks = self.db[OLD_EXPORT_JOBS], self.db[OLD_EXPORT_CHUNKS]
        if not {OLD_EXPORT_JOBS, OLD_EXPORT_CHUNKS} & set(await call(self.db.list_collection_names())):
            return
        mover = f"upgrade-{uuid.uuid4().hex[:12]}"
        held: list[str] = []
        while batch := await call(old_jobs.find({}).limit(MOVE_BATCH).to_list()):
            moved = [_adopted(doc, mover, self._clock() + 600.0) for doc in batch]
            await _insert_new(self._jobs, moved)
            held += [d["_id"] for d in moved if d["owner"] == mover]
            await call(old_jobs.delete_many({"_id": {"$in": [d["_id"] for d in batch]}}))
        while batch := await call(old_chunks.find({}).limit(MOVE_BATCH).to_list()):
            await _insert_new(self._chunks, batch)
            await call(old_chunks.delete_many({"_id": {"$in": [d["_id"] for d in batch]}}))
        if held:
            await call(self._jobs.update_many({"_id": {"$in": held}, "owner": mover},
                                              {"$set": {"owner": None, "until": 0.0}}))
            log.info("upgrade: %d export jobs in progress moved to %s", len(held), JOBS)


def _adopted(doc: dict[str, Any], mover: str, until: float) -> dict[str, Any]:
    """An ``export_jobs`` document as a job of kind ``export``; one in progress held by ``mover`` until ``until``."""
    out = {k: v for k, v in doc.items() if k != "failure"}
    out["kind"] = "export"
    if doc.get("status") == "in-progress":
        out.update(status="pending", owner=mover, until=until)
    if doc.get("status") == "failed":
        out["error"] = doc.get("failure")
    out.setdefault("attempts", 0)
    return out


async def _insert_new(coll: Any, docs: list[dict[str, Any]]) -> None:
    """Insert ``docs``, keeping any already there (a duplicate key is another mover's copy, or newer)."""
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        if exc.details.get("writeConcernErrors") or any(
                e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise unavailable(exc) from exc
    except PyMongoError as exc:
        raise unavailable(exc) from exc


class Lease:
    """A claimed job, as its work sees it: the document and the calls that need the lease to still be ours."""

    def __init__(self, jobs: Jobs, job: dict[str, Any], owner: str, lease_s: float):
        self.jobs, self.job, self.owner, self.lease_s = jobs, job, owner, lease_s

    @property
    def id(self) -> str:
        return str(self.job["_id"])

    async def checkpoint(self, *, push: dict[str, list[Any]] | None = None, **state: Any) -> None:
        """Move the checkpoint (``Jobs.checkpoint``) and renew the lease; ``Stopped`` when it is lost."""
        if not await self.jobs.checkpoint(self.id, self.owner, self.lease_s, push=push, **state):
            raise Stopped

    async def put_chunk(self, file_id: str, n: int, data: bytes) -> None:
        await self.jobs.put_chunk(self.job, file_id, n, data)

    async def drop_chunks(self, file_id: str, from_n: int) -> None:
        await self.jobs.drop_chunks(file_id, from_n)

    async def finish(self, **result: Any) -> None:
        """Complete the job (``Jobs.finish``); ``Stopped`` when the lease was lost."""
        if not await self.jobs.finish(self.id, self.owner, keep_s=float(self.job["keep_s"]), **result):
            raise Stopped


Work = Callable[[Lease], Awaitable[None]]


class JobWorker:
    """The worker of one kind on this instance: one job at a time, claimed with a lease (module docstring).
    ``work`` does the job and ends it with ``Lease.finish``; ``failure`` is what a failed job's client is told."""

    def __init__(self, jobs: Jobs, kind: str, work: Work, *, lease_s: float, poll_s: float, failure: str = FAILED):
        self.jobs, self.kind, self.work = jobs, kind, work
        self.lease_s, self.poll_s, self.failure = lease_s, poll_s, failure
        self.owner = f"{kind}-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """A job was just created here: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"jobs-{self.kind}")

    async def stop(self) -> None:
        """Stop; the job being worked gives its lease up (``run``) so that another instance resumes it at once.

        The task is cancelled again each second until it has ended, and the loop ends at its next turn: a
        cancellation absorbed on its way (a library's wait on an unreachable store that ends in its own error
        instead) would otherwise leave the worker polling forever and the shutdown waiting for it."""
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_RETRY_S)
        if not task.cancelled():
            task.exception()  # retrieved: its end is the stop, not an error to report

    async def take(self, job_id: str) -> None:
        """Claim ``job_id`` and work it (the instance that created it, at once); nothing when another holds it."""
        job = await self.jobs.claim(self.kind, self.owner, self.lease_s, job_id=job_id)
        if job is not None:
            await self.run(job)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                job = await self.jobs.claim(self.kind, self.owner, self.lease_s)
                if job is not None:
                    await self.run(job)
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the store unavailable: look again at the next poll
                log.warning("%s worker: %s", self.kind, described(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()
            self._wake.clear()

    async def run(self, job: dict[str, Any]) -> None:
        """Work a claimed ``job`` until it completes, pauses, fails or is no longer this worker's."""
        job_id, attempts = str(job["_id"]), int(job.get("attempts") or 1)
        job_metric(self.kind, "resumed" if attempts > 1 else "running")
        ended = "cancelled"  # also when this instance stops working it (taken over, shutting down)
        try:
            await self.work(Lease(self.jobs, job, self.owner, self.lease_s))
            ended = "completed"
        except Stopped:
            log.info("%s %s: stopped (cancelled, or taken over)", self.kind, job_id[:8])
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.jobs.release(job_id, self.owner)
            raise
        except Exception as exc:
            if isinstance(exc, Unavailable | TimedOut) and attempts < MAX_ATTEMPTS:
                # The store was busy or away for a moment: resumed from the checkpoint after a pause (longer
                # each attempt), up to MAX_ATTEMPTS claims; only then failed. Should the release fail too, the
                # lease runs out instead.
                ended = "paused"
                pause = min(MAX_PAUSE_S, self.poll_s * 2 ** attempts)
                with contextlib.suppress(Exception):
                    await self.jobs.release(job_id, self.owner, pause_s=pause)
                log.warning("%s %s paused %.0f s after a store error, resumed from its checkpoint then: %s",
                            self.kind, job_id[:8], pause, described(exc))
            else:
                ended = "failed"
                log.warning("%s %s failed (attempt %d): %s", self.kind, job_id[:8], attempts, described(exc))
                with contextlib.suppress(Exception):  # else its lease runs out, and the attempt cap fails it
                    await self.jobs.fail(job_id, self.owner, self.failure)
        finally:
            job_metric(self.kind, ended)
