"""Background jobs (store/jobs.py): one worker holds a job's lease; a job whose worker died is taken by another
once the lease expires; only the holder may finish it; the secret leaves with the job's end; files in chunks."""

from __future__ import annotations

import asyncio
import uuid

from store.client import StoreHandle


async def test_one_worker_at_a_time_and_takeover(store: StoreHandle) -> None:
    jobs = store.repo.jobs
    kind = f"test-{uuid.uuid4().hex[:8]}"  # a kind of its own: no other run's jobs to claim
    job = await jobs.create("t-jobs", kind, {"n": 1}, secret="sealed", keep_s=60)
    assert (await jobs.get("t-jobs", job["_id"], kind))["status"] == "pending"
    assert "secret" not in (await jobs.get("t-jobs", job["_id"], kind) or {})
    assert await jobs.get("other-tenant", job["_id"], kind) is None

    first = await jobs.claim(kind, "a", ttl=0.2)
    assert first is not None and first["_id"] == job["_id"] and first["secret"] == "sealed"
    assert await jobs.claim(kind, "b", ttl=10) is None  # a holds it
    await asyncio.sleep(0.3)  # a died: its lease runs out
    second = await jobs.claim(kind, "b", ttl=10)
    assert second is not None and second["_id"] == job["_id"]
    assert not await jobs.renew(job["_id"], "a", 10)  # a learns it lost the job
    assert not await jobs.finish(job["_id"], "a", "completed")

    await jobs.put_chunk(second, 0, b"hello ")
    await jobs.put_chunk(second, 1, b"world")
    assert await jobs.finish(job["_id"], "b", "completed", size=11, chunks=2)
    done = await jobs.get("t-jobs", job["_id"], kind)
    assert done is not None and done["status"] == "completed"
    assert b"".join([c async for c in jobs.chunks(done)]) == b"hello world"
    raw = await store.repo.db["jobs"].find_one({"_id": job["_id"]})
    assert "secret" not in raw  # the password's ciphertext is gone too
    assert await jobs.claim(kind, "c", ttl=10) is None
