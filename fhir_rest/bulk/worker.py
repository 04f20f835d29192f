"""The Bulk Data export worker: one per instance, working one job at a time under a lease (store/exports.py).

A job is exported type by type, each from one store cursor in ``_id`` order, into NDJSON files of one type,
written to the store in chunks; after each chunk the checkpoint (the last ``_id`` written, the open file and its
next chunk) moves and the lease is renewed. A worker that loses its lease (it stalled past it) or whose job was
cancelled stops at its next checkpoint. A killed worker's job is taken by the next instance (or the same one
restarted) whose scan finds the lease lapsed, and resumed from the checkpoint: the chunks written after it are
dropped and written again, so every file holds each resource once. Memory stays flat: a chunk's lines and the
cursor's current batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import orjson

from auth.audit import AuditTrail
from fhir_rest.bundles import subset
from store.errors import DomainError, TimedOut, Unavailable
from store.exports import CHUNK_BYTES, MAX_ATTEMPTS
from store.logs import described
from store.metrics import job as job_metric
from store.repository import Repository
from store.types import SystemPrincipal

log = logging.getLogger("fhirgraph.export")


class Stopped(Exception):
    """The lease was lost or the job cancelled: stop working it, quietly."""


class ExportWorker:
    def __init__(self, repo: Repository, *, lease_s: float, scan_interval_s: float, file_max_bytes: int,
                 keep_s: float, audit: AuditTrail | None = None, chunk_bytes: int = CHUNK_BYTES):
        self.repo = repo
        self.jobs = repo.exports
        self.lease_s, self.scan_interval_s = lease_s, scan_interval_s
        # A chunk is never larger than a file may be: a small file limit makes small chunks.
        self.file_max_bytes, self.keep_s = file_max_bytes, keep_s
        self.chunk_bytes = min(chunk_bytes, file_max_bytes)
        self.audit = audit
        self.instance = f"export-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: str | None = None
        self._last_sweep = 0.0

    def wake(self) -> None:
        """A job was just created here: look now rather than at the next scan."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bulk-export")

    async def stop(self) -> None:
        """Stop, and give the current job's lease up so that another instance resumes it at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._current is not None:
            with contextlib.suppress(Exception):
                await self.jobs.release(self._current, self.instance)

    async def _run(self) -> None:
        while True:
            try:
                job = await self.jobs.claim(self.instance, self.lease_s)
                if job is not None:
                    await self.work(job)
                    continue
                if time.monotonic() - self._last_sweep > 60:
                    self._last_sweep = time.monotonic()
                    await self.jobs.sweep()
            except asyncio.CancelledError:
                raise
            except DomainError as exc:
                log.warning("export worker: %s", described(exc))
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one bad job
                log.error("export worker: %s", described(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.scan_interval_s):
                    await self._wake.wait()
            self._wake.clear()

    async def work(self, job: dict[str, Any]) -> None:
        """Export ``job`` from its checkpoint to the end (or until its lease is lost)."""
        self._current = job["_id"]
        progress = job.get("progress") or {}
        job_metric("export", "resumed" if progress.get("exported") or progress.get("chunk") else "running")
        ended = "cancelled"  # also when this instance stops working it (taken over, shutting down)
        try:
            await _Run(self, job).run()
            ended = "completed"
        except Stopped:
            log.info("export %s: stopped (cancelled, or taken over)", job["_id"][:8])
        except DomainError as exc:
            attempts = job.get("attempts", 1)
            if isinstance(exc, Unavailable | TimedOut) and attempts < MAX_ATTEMPTS:
                # The store was busy or away for a moment: resumed from the checkpoint after a pause, up to
                # MAX_ATTEMPTS claims; only then failed.
                ended = "paused"
                pause = min(60.0, self.scan_interval_s * 2 ** attempts)
                with contextlib.suppress(DomainError):
                    await self.jobs.release(job["_id"], self.instance, pause_s=pause)
                log.warning("export %s paused %.0f s after a store error, resumed from its checkpoint then: %s",
                            job["_id"][:8], pause, described(exc))
            else:
                ended = "failed"
                await self.jobs.fail(job["_id"], self.instance, "The export could not be completed; retry it")
                log.warning("export %s failed (attempt %d): %s", job["_id"][:8], attempts, described(exc))
        finally:
            self._current = None
            job_metric("export", ended)


class _Run:
    """One job being worked: its checkpoint (``progress``), finished files (``output``) and the open chunk."""

    def __init__(self, worker: ExportWorker, job: dict[str, Any]):
        self.worker, self.job = worker, job
        self.jobs = worker.jobs
        self.spec: dict[str, Any] = job["spec"]
        self.progress: dict[str, Any] = dict(job["progress"])
        self.closed: list[dict[str, Any]] = []  # files finished since the last checkpoint
        self.lines: list[bytes] = []
        self.size = 0

    async def run(self) -> None:
        types: list[str] = self.spec["types"]
        if self.progress.get("file"):
            # What a dead worker wrote after its last checkpoint is written again from there.
            await self.jobs.drop_chunks(self.progress["file"], self.progress["chunk"])
        for index in range(self.progress["type"], len(types)):
            await self._export(index, types[index])
        if not await self.jobs.finish(self.job["_id"], self.worker.instance, self.worker.keep_s):
            raise Stopped
        audit = self.worker.audit
        if audit is not None:
            audit.record(SystemPrincipal(self.job["tenant"], subject="bulk-export"), "operation", 200,
                         description="$export completed")

    async def _export(self, index: int, rt: str) -> None:
        resume = self.progress["type"] == index
        after = self.progress.get("after") if resume else None
        if not resume:
            self.progress.update(type=index, after=None, file=None, chunk=0, file_bytes=0, file_count=0)
        elements = _elements_for(rt, self.spec.get("elements") or [])
        compartment = self.spec["level"] != "system"
        last = after
        async for rid, resource in self.jobs.rows(
                self.job["tenant"], rt, after=after, transaction_time=self.job["transactionTime"],
                since=self.spec.get("since"), type_filters=self.spec.get("filters", {}).get(rt, []),
                patients=self.spec.get("patients"), compartment=compartment):
            line = orjson.dumps(subset(resource, elements, None) if elements else resource) + b"\n"
            self.lines.append(line)
            self.size += len(line)
            last = rid
            if self.size >= self.worker.chunk_bytes:
                await self._flush(rt, last)
        await self._flush(rt, last)
        self._close(rt)
        self.progress.update(type=index + 1, after=None, file=None, chunk=0, file_bytes=0, file_count=0)
        await self._checkpoint()

    async def _flush(self, rt: str, last: str | None) -> None:
        """Write the open chunk, then move the checkpoint past it (module docstring)."""
        if not self.lines:
            return
        if self.progress.get("file") is None:
            self.progress.update(file=str(uuid.uuid4()), chunk=0, file_bytes=0, file_count=0)
        await self.jobs.put_chunk(self.job, self.progress["file"], self.progress["chunk"], b"".join(self.lines))
        self.progress["chunk"] += 1
        self.progress["file_bytes"] += self.size
        self.progress["file_count"] += len(self.lines)
        self.progress["exported"] = self.progress.get("exported", 0) + len(self.lines)
        self.progress["after"] = last
        self.lines, self.size = [], 0
        if self.progress["file_bytes"] >= self.worker.file_max_bytes:
            self._close(rt)
        await self._checkpoint()

    def _close(self, rt: str) -> None:
        if self.progress.get("file") and self.progress.get("file_count"):
            self.closed.append({"type": rt, "file": self.progress["file"], "count": self.progress["file_count"]})
        self.progress.update(file=None, chunk=0, file_bytes=0, file_count=0)

    async def _checkpoint(self) -> None:
        if not await self.jobs.checkpoint(self.job["_id"], self.worker.instance, self.worker.lease_s,
                                          self.progress, self.closed):
            raise Stopped
        self.closed = []


def _elements_for(rt: str, elements: list[str]) -> list[str] | None:
    """``_elements`` (``element`` or ``Type.element``) as they apply to ``rt``; None: the whole resource."""
    mine = [e.rpartition(".")[2] for e in elements if not e.rpartition(".")[0] or e.rpartition(".")[0] == rt]
    return mine or None
