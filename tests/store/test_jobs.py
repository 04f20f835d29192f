"""Background jobs (store/jobs.py): one worker holds a job's lease; a job whose worker died is taken by another
once the lease expires; only the holder may move or finish it; the secret leaves with the job's end; files in
chunks. ``JobWorker``: a transient store error pauses a job, which resumes from its checkpoint; any other error,
or too many claims, fails it. Export jobs of an older version are moved in at start-up and resume."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from store.client import StoreHandle
from store.errors import Invalid, Unavailable
from store.jobs import MAX_ATTEMPTS, Jobs, JobWorker, Lease
from store.metrics import JOBS


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def kind() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # a kind of its own: no other run's jobs to claim


async def test_one_worker_at_a_time_and_takeover(store: StoreHandle) -> None:
    clock = Clock()
    jobs, k = Jobs(store.repo.db, clock=clock), kind()
    job = await jobs.create("t-jobs", k, {"n": 1}, secret="sealed", keep_s=60)
    assert (await jobs.get("t-jobs", job["_id"], k) or {})["status"] == "pending"
    assert "secret" not in (await jobs.get("t-jobs", job["_id"], k) or {})
    assert await jobs.get("other-tenant", job["_id"], k) is None
    assert await jobs.get("t-jobs", job["_id"], "another-kind") is None

    first = await jobs.claim(k, "a", ttl=10)
    assert first is not None and first["_id"] == job["_id"] and first["secret"] == "sealed"
    assert await jobs.claim(k, "b", ttl=10) is None  # a holds it
    clock.now += 11  # a died: its lease runs out
    second = await jobs.claim(k, "b", ttl=10)
    assert second is not None and second["_id"] == job["_id"] and second["attempts"] == 2
    assert not await jobs.checkpoint(job["_id"], "a", 10, step=1)  # a learns it lost the job
    assert not await jobs.finish(job["_id"], "a", keep_s=60)

    await jobs.put_chunk(second, job["_id"], 0, b"hello ")
    await jobs.put_chunk(second, job["_id"], 1, b"world")
    assert await jobs.finish(job["_id"], "b", keep_s=60, size=11, chunks=2)
    done = await jobs.get("t-jobs", job["_id"], k)
    assert done is not None and done["status"] == "completed"
    assert b"".join([c async for c in jobs.chunks(job["_id"], count=2, timeout_s=5)]) == b"hello world"
    raw = await store.repo.db["jobs"].find_one({"_id": job["_id"]})
    assert "secret" not in raw  # the password's ciphertext is gone too
    assert await jobs.claim(k, "c", ttl=10) is None


async def test_a_transient_error_pauses_the_job_and_the_next_claim_resumes_from_its_checkpoint(
        store: StoreHandle) -> None:
    clock = Clock()
    jobs, k = Jobs(store.repo.db, clock=clock), kind()
    job = await jobs.create("t-jobs", k, {"steps": 5}, keep_s=60, done=0)
    worked: list[int] = []

    async def work(lease: Lease) -> None:
        for step in range(lease.job["done"], lease.job["spec"]["steps"]):
            if step == 3 and lease.job["attempts"] == 1:
                raise Unavailable()  # the store away for a moment, after the checkpoint of step 2
            worked.append(step)
            await lease.checkpoint(done=step + 1)
        await lease.finish(result="ok")

    worker = JobWorker(jobs, k, work, lease_s=30, poll_s=1)
    paused = JOBS.labels(k, "paused")._value.get()
    await worker.take(job["_id"])
    assert JOBS.labels(k, "paused")._value.get() == paused + 1
    held = await jobs.get("t-jobs", job["_id"], k) or {}
    assert held["status"] == "pending" and held["owner"] is None and held["done"] == 3
    await worker.take(job["_id"])
    assert await jobs.get("t-jobs", job["_id"], k) == held  # paused: not claimable before its pause ends
    clock.now += 2 * 2  # poll_s * 2 ** attempts
    await worker.take(job["_id"])
    done = await jobs.get("t-jobs", job["_id"], k) or {}
    assert done["status"] == "completed" and done["result"] == "ok" and done["attempts"] == 2
    assert worked == [0, 1, 2, 3, 4]  # each step once: the second claim started at the checkpoint


async def test_any_other_error_fails_the_job_and_so_do_too_many_claims(store: StoreHandle) -> None:
    clock = Clock()
    jobs, k = Jobs(store.repo.db, clock=clock), kind()

    async def refused(lease: Lease) -> None:
        raise Invalid("not a transient error")

    job = await jobs.create("t-jobs", k, {}, secret="sealed", keep_s=60)
    await JobWorker(jobs, k, refused, lease_s=30, poll_s=1, failure="Told the client").take(job["_id"])
    failed = await store.repo.db["jobs"].find_one({"_id": job["_id"]})
    assert failed["status"] == "failed" and failed["error"] == "Told the client" and "secret" not in failed

    crashing = await jobs.create("t-jobs", k, {}, keep_s=60)
    for _ in range(MAX_ATTEMPTS):  # each worker dies holding it
        assert await jobs.claim(k, "dying", ttl=1, job_id=crashing["_id"]) is not None
        clock.now += 2
    assert await jobs.claim(k, "next", ttl=1, job_id=crashing["_id"]) is None
    assert (await jobs.get("t-jobs", crashing["_id"], k) or {})["status"] == "failed"


async def test_export_jobs_of_the_previous_version_are_moved_in_and_resume(store: StoreHandle) -> None:
    # A database of its own: the suite's running app works export jobs of the shared one, and would claim the
    # moved job before this test's worker does.
    db, tenant = store.client[f"fhirgraph_upgrade_{uuid.uuid4().hex[:8]}"], f"t-up-{uuid.uuid4().hex[:6]}"
    later = datetime.now(UTC) + timedelta(hours=1)
    # As the previous version stored them: one export in progress (one chunk written past its checkpoint by a
    # worker that then died), one completed.
    running = {"_id": str(uuid.uuid4()), "tenant": tenant, "job_owner": "o", "spec": {"types": ["Patient"]},
               "transactionTime": "2026-01-01T00:00:00Z", "request": "r", "status": "in-progress",
               "owner": "old-instance", "until": 0.0, "attempts": 1, "created": 1.0, "polled": 0.0, "keep_s": 60,
               "progress": {"type": 0, "after": "t/1", "file": "f1", "chunk": 1, "file_bytes": 5, "file_count": 1,
                            "exported": 1}, "output": [], "errors": [], "expires": later}
    completed = {**running, "_id": str(uuid.uuid4()), "status": "completed", "owner": None,
                 "output": [{"type": "Patient", "file": "f0", "count": 1}]}
    await db["export_jobs"].insert_many([running, completed])
    chunk: dict[str, Any] = {"tenant": tenant, "expires": later}
    await db["export_chunks"].insert_many([
        {**chunk, "_id": "f0/0", "file": "f0", "n": 0, "job": completed["_id"], "data": b"done\n"},
        {**chunk, "_id": "f1/0", "file": "f1", "n": 0, "job": running["_id"], "data": b"older\n"},
        {**chunk, "_id": "f1/1", "file": "f1", "n": 1, "job": running["_id"], "data": b"past the checkpoint\n"}])

    # Another instance starting at the same time already moved one chunk (and a worker rewrote it since).
    await db["job_chunks"].insert_one({"_id": "f1/0", "file": "f1", "n": 0, "job": running["_id"],
                                       "data": b"kept\n", "expires": later})
    jobs = Jobs(db)
    await jobs.ensure_indexes()  # start-up
    await jobs.ensure_indexes()  # a second instance starting: nothing left to move
    assert await db["export_jobs"].count_documents({}) == 0 and await db["export_chunks"].count_documents({}) == 0
    found = await jobs.file(tenant, "export", "f0")
    assert found is not None and found["job"]["_id"] == completed["_id"]
    assert [c async for c in jobs.chunks("f0", timeout_s=5)] == [b"done\n"]

    seen: list[dict[str, Any]] = []

    async def resume(lease: Lease) -> None:
        seen.append(lease.job["progress"])
        await lease.drop_chunks(lease.job["progress"]["file"], lease.job["progress"]["chunk"])
        await lease.put_chunk("f1", 1, b"again\n")
        await lease.checkpoint(push={"output": [{"type": "Patient", "file": "f1", "count": 2}]})
        await lease.finish()

    await JobWorker(jobs, "export", resume, lease_s=30, poll_s=1).take(running["_id"])
    assert seen == [running["progress"]]
    assert (await jobs.get(tenant, running["_id"], "export") or {})["status"] == "completed"
    assert b"".join([c async for c in jobs.chunks("f1", timeout_s=5)]) == b"kept\nagain\n"
    await store.client.drop_database(db.name)


async def test_stopping_a_worker_gives_its_job_up_at_once(store: StoreHandle) -> None:
    jobs, k = store.repo.jobs, kind()
    job = await jobs.create("t-jobs", k, {}, keep_s=60)
    started = asyncio.Event()

    async def forever(lease: Lease) -> None:
        started.set()
        await asyncio.Event().wait()

    worker = JobWorker(jobs, k, forever, lease_s=300, poll_s=0.05)
    worker.start()
    await asyncio.wait_for(started.wait(), 10)
    await worker.stop()
    assert await jobs.claim(k, "next-instance", ttl=10) is not None  # not after the 300 s lease
    assert (await jobs.get("t-jobs", job["_id"], k) or {})["attempts"] == 2


async def test_a_worker_stops_even_when_a_cancellation_is_absorbed_on_its_way(store: StoreHandle) -> None:
    """A library waiting on an unreachable store may end the wait in its own error instead of letting the
    cancellation through: the worker, which takes such errors for a passing outage and looks again, still stops
    (the shutdown waited for it for ever before)."""
    claims: list[str] = []
    claimed = asyncio.Event()

    class Absorbing(Jobs):
        async def claim(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
            claims.append("claim")
            claimed.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise Unavailable("the store went away") from None  # the cancellation absorbed
            return None

    worker = JobWorker(Absorbing(store.repo.jobs.db), kind(), lambda lease: asyncio.sleep(0), lease_s=30,
                       poll_s=0.01)
    worker.start()
    await asyncio.wait_for(claimed.wait(), 10)
    stopping = asyncio.ensure_future(worker.stop())
    done, _ = await asyncio.wait({stopping}, timeout=10)
    assert stopping in done  # before: polling for ever, and the shutdown waiting for it
    assert claims == ["claim"]  # the loop ended at its next turn, not polling again
