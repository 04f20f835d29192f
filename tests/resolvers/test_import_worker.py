"""Background patient imports survive their worker: a job whose process died (its lease ran out) is resumed by
an ``ImportWorker`` — any instance's — after the last stored chunk, as the caller who asked for it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from app.settings import Settings
from auth.policy import authorize
from graph.errors import code_of
from resolvers import patient_import
from store.client import StoreHandle, open_store


@dataclass
class Pages:
    default_page_size: int = 50
    max_page_size: int = 500


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[StoreHandle]:
    handle = await open_store(settings.mongodb_uri, settings.db_name)
    yield handle
    await handle.close()


async def test_a_job_left_by_a_dead_worker_is_resumed_as_its_caller(store: StoreHandle) -> None:
    repo, tenant, tag = store.repo, f"imp-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    rows = [{"first_name": f"Late{i}", "last_name": f"Resumed{tag}", "chart_number": f"R-{tag}-{i}",
             "date_of_birth": "1990-02-03"} for i in range(patient_import.CHUNK + 7)]
    by = {"tenant": tenant, "subject": "Practitioner/front-desk", "scopes": ["user/Patient.cruds"], "patient": None}
    job = await repo.jobs.create(tenant, patient_import.KIND, {"mode": "skip_existing", "rows": rows, "by": by},
                                 keep_s=3600)
    # The process that took the request claimed it, stored its first chunk of results, and died.
    assert await repo.jobs.claim(patient_import.KIND, "dead-worker", 0.2, job_id=job["_id"]) is not None
    first = [{"i": i, "s": "created", "p": None, "e": None} for i in range(patient_import.CHUNK)]
    assert await repo.jobs.checkpoint(job["_id"], "dead-worker", 0.2, processed=patient_import.CHUNK,
                                      push={"results": first})

    worker = patient_import.ImportWorker(authorize=authorize, code_of=code_of, settings=Pages(), poll_s=0.05)
    worker.start(repo)
    try:
        for _ in range(200):
            done = await repo.jobs.get(tenant, job["_id"], patient_import.KIND)
            if done is not None and done["status"] != "pending":
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert done is not None and done["status"] == "completed" and done["attempts"] == 2
    assert [r["i"] for r in done["results"]] == list(range(len(rows)))
    # Only the rows after the stored chunk were worked again, as the caller: in their tenant, by their subject.
    from store.types import SystemPrincipal

    page = await repo.search(SystemPrincipal(tenant=tenant), "Patient", [("family", f"Resumed{tag}")], count=100)
    assert sorted(p["name"][0]["given"][0] for p in page.resources) == sorted(
        f"Late{i}" for i in range(patient_import.CHUNK, len(rows)))
