"""The Bulk Data export worker: one per instance, working one job of kind ``export`` at a time under a lease
(store/jobs.py: claims, pauses after a transient store error, failures; store/exports.py: what it reads).

A job is exported type by type, each from one store cursor in ``_id`` order, into NDJSON files of one type,
written to the store in chunks; after each chunk the checkpoint (``progress``: the type being exported, the last
``_id`` written, the open file and its next chunk; ``output``: the files finished) moves and the lease is renewed.
A worker that loses its lease (it stalled past it) or whose job was cancelled stops at its next checkpoint.
A killed worker's job is taken by the next instance (or the same one restarted) whose scan finds the lease lapsed,
and resumed from the checkpoint: the chunks written after it are dropped and written again, so every file holds
each resource once. Memory stays flat: a chunk's lines and the cursor's current batch.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson

from auth.audit import AuditTrail
from fhir_rest.bundles import subset
from store.exports import CHUNK_BYTES, KIND
from store.jobs import JobWorker, Lease
from store.repository import Repository
from store.types import SystemPrincipal

log = logging.getLogger("fhirgraph.export")

FAILED = "The export could not be completed; retry it"
# A new job's checkpoint: nothing exported yet.
START: dict[str, Any] = {"type": 0, "after": None, "file": None, "chunk": 0, "file_bytes": 0, "file_count": 0,
                         "exported": 0}


class ExportWorker:
    def __init__(self, repo: Repository, *, lease_s: float, scan_interval_s: float, file_max_bytes: int,
                 audit: AuditTrail | None = None, chunk_bytes: int = CHUNK_BYTES):
        self.repo = repo
        # A chunk is never larger than a file may be: a small file limit makes small chunks.
        self.file_max_bytes = file_max_bytes
        self.chunk_bytes = min(chunk_bytes, file_max_bytes)
        self.audit = audit
        self.worker = JobWorker(repo.jobs, KIND, self.work, lease_s=lease_s, poll_s=scan_interval_s,
                                failure=FAILED)

    def wake(self) -> None:
        """A job was just created here: look now rather than at the next scan."""
        self.worker.wake()

    async def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        """Stop, and give the current job's lease up so that another instance resumes it at once."""
        await self.worker.stop()

    async def work(self, lease: Lease) -> None:
        """Export the job from its checkpoint to the end (``Stopped`` when its lease is lost)."""
        await _Run(self, lease).run()


class _Run:
    """One job being worked: its checkpoint (``progress``), finished files (``output``) and the open chunk."""

    def __init__(self, worker: ExportWorker, lease: Lease):
        self.worker, self.lease, self.job = worker, lease, lease.job
        self.spec: dict[str, Any] = self.job["spec"]
        self.progress: dict[str, Any] = dict(self.job["progress"])
        self.closed: list[dict[str, Any]] = []  # files finished since the last checkpoint
        self.lines: list[bytes] = []
        self.size = 0

    async def run(self) -> None:
        types: list[str] = self.spec["types"]
        if self.progress.get("file"):
            # What a dead worker wrote after its last checkpoint is written again from there.
            await self.lease.drop_chunks(self.progress["file"], self.progress["chunk"])
        for index in range(self.progress["type"], len(types)):
            await self._export(index, types[index])
        await self.lease.finish()
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
        async for rid, resource in self.worker.repo.exports.rows(
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
        await self.lease.put_chunk(self.progress["file"], self.progress["chunk"], b"".join(self.lines))
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
        await self.lease.checkpoint(progress=self.progress, push={"output": self.closed} if self.closed else None)
        self.closed = []


def _elements_for(rt: str, elements: list[str]) -> list[str] | None:
    """``_elements`` (``element`` or ``Type.element``) as they apply to ``rt``; None: the whole resource."""
    mine = [e.rpartition(".")[2] for e in elements if not e.rpartition(".")[0] or e.rpartition(".")[0] == rt]
    return mine or None
