"""The PHI audit trail (seed 000: "PHI access is logged to your clinic's immutable audit trail"; DESIGN.md
decision 13): every access a door serves, every refusal and every token issued becomes an AuditEvent in the
tenant's store, in IHE BALP shape (auth/balp.py), written off the request path.

On the request a door only appends an ``Access`` (a tuple) to an in-memory queue: ``note`` (or ``record``, which
builds the tuple). A background task takes the queue in batches — a full one (``batch_size`` records) as soon as
it is queued, and every ``interval_s`` whatever is held, so a record waits at most about ``interval_s`` and a busy
trail still writes full batches — builds the AuditEvents and hands them to the store, one bulk append per tenant
per batch (store/audit.py, which emits no outbox event: see there).

Losing nothing:

- **Store unavailable**: a batch that could not be written is kept, with its AuditEvents already built (so a retry
  stores the same ids, and stores each record once), and retried with exponential backoff (``retry_base_s`` up to
  ``retry_max_s``).
- **Queue full** (``max_pending`` records held, e.g. while the store is down): backpressure, not loss. Before a
  door serves PHI it awaits ``admit()``, which returns at once while there is room and otherwise waits up to
  ``wait_s`` for the flusher to make some; past that the request is refused with 503 (``Unavailable``) before any
  PHI is served — an access that cannot be recorded is not granted. The store the audit is written to is the store
  the data is read from, so a trail that cannot be written mostly means reads failing too. Records noted without
  ``admit()`` (refusals, token issuance) are still kept past the bound: they are few, and dropping them would lose
  exactly the security events an auditor looks for.
- **Clean shutdown**: ``stop()`` (the lifespan's end) flushes everything still held, retrying for up to
  ``shutdown_s``; only a store still unreachable after that loses records, and that is logged with their count.

Auditing can be turned off (``FHIRGRAPH_AUDIT=false``, e.g. for benches): every call is then a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import Counter, Gauge

from auth.balp import TOKEN_ISSUED, Access, audit_event
from store.driver import deadline
from store.errors import DomainError, Unavailable
from store.logs import described
from store.types import PrincipalLike, Resource

if TYPE_CHECKING:
    from store.audit import AuditLog

log = logging.getLogger("fhirgraph.audit")
BUILD_CHUNK = 100  # AuditEvents built between two turns of the event loop

WRITTEN = Counter("fhirgraph_audit_events_written", "AuditEvents stored")
FAILED = Counter("fhirgraph_audit_write_failures", "Audit batch writes that failed (retried)")
LOST = Counter("fhirgraph_audit_events_lost", "AuditEvents given up on (store unreachable at shutdown)")
REFUSED = Counter("fhirgraph_audit_backpressure_refusals", "Requests refused because the audit queue stayed full")
PENDING = Gauge("fhirgraph_audit_pending", "Audit records held in memory, not yet stored")


class AuditSink(Protocol):
    """Where batches go. ``prepare`` turns an access into what ``append`` stores, with its id fixed (so that a
    batch retried stores each record once): the AuditEvent itself (``StoreSink``), or a compact row that the
    audit writer process builds the AuditEvent from (app/audit_writer.py)."""

    def prepare(self, access: Access, observer: str) -> Any: ...

    async def append(self, tenant: str, items: list[Any]) -> int: ...

    async def close(self) -> None: ...


class StoreSink:
    """AuditEvents built and written in this process, into the store's ``AuditLog`` (store/audit.py)."""

    def __init__(self, log: AuditLog):
        self.log = log

    def prepare(self, access: Access, observer: str) -> Resource:
        return audit_event(access, observer)

    async def append(self, tenant: str, items: list[Any]) -> int:
        return await self.log.append(tenant, items)

    async def close(self) -> None:
        return None


class AuditTrail:
    def __init__(self, *, enabled: bool = True, observer: str = "fhirgraph", default_tenant: str = "default",
                 batch_size: int = 500, interval_s: float = 0.2, max_pending: int = 100_000, wait_s: float = 5.0,
                 retry_base_s: float = 0.5, retry_max_s: float = 30.0, write_timeout_s: float = 10.0,
                 shutdown_s: float = 10.0):
        self.enabled = enabled
        self.observer = observer
        self.default_tenant = default_tenant  # the trail of refusals nobody could be named for (401)
        self.batch_size = max(1, batch_size)
        self.interval_s = interval_s
        self.max_pending = max(1, max_pending)
        self.wait_s = wait_s
        self.retry_base_s, self.retry_max_s = retry_base_s, retry_max_s
        self.write_timeout_s, self.shutdown_s = write_timeout_s, shutdown_s
        self.sink: AuditSink | None = None
        self._queue: deque[Access] = deque()
        # Prepared, not yet stored: tenant → the sink's items (kept as prepared, so a retry writes the same ids).
        self._unsent: dict[str, list[Any]] = {}
        self._unsent_count = 0
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._lock = asyncio.Lock()  # one writer at a time: the flusher, or a caller of flush()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._stopping = False

    # ------------------------------------------------------------------ the request side

    def note(self, access: Access) -> None:
        """Keep ``access`` for the next batch: one append (the request's whole share of the work)."""
        if not self.enabled:
            return
        self._queue.append(access)
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records held in memory, not yet stored."""
        return len(self._queue) + self._unsent_count

    def has_room(self) -> bool:
        return not self.enabled or self.pending < self.max_pending

    async def admit(self) -> None:
        """Return when the trail can take one more record; ``Unavailable`` (503) when it stayed full for
        ``wait_s`` (module docstring: backpressure)."""
        if self.has_room():
            return
        self._room.clear()
        self._wake.set()
        try:
            async with asyncio.timeout(self.wait_s):
                while not self.has_room():
                    await self._room.wait()
                    self._room.clear()
        except TimeoutError:
            REFUSED.inc()
            log.warning("audit trail full (%d records held): request refused", self.pending)
            raise Unavailable("The audit trail cannot record this access now; retry shortly",
                              retry_after=1.0) from None

    def record(self, principal: PrincipalLike | None, interaction: str, status: int, *, rt: str | None = None,
               rid: str | None = None, vid: str | None = None, query: str | None = None,
               patient: str | None = None, types: tuple[str, ...] = (), action: str | None = None,
               description: str | None = None) -> None:
        """The generic entry: one access (``interaction``: a FHIR restful-interaction code such as ``read``,
        ``search-type``, ``operation``, or one of auth/balp.py's ``SUBTYPES``). For the operations to come
        (``$export`` …): ``record(principal, "operation", 202, rt="Group", rid=..., description="$export")``."""
        if self.enabled:
            self.note(Access(time.time(), principal, interaction, status, rt, rid, vid, query, patient, types,
                             action, description))

    def record_token_issued(self, principal: PrincipalLike | None, *, status: int = 200, patient: str | None = None,
                            description: str | None = None) -> None:
        """The authorization server issued (status 200) or refused (400/401) an access token for ``principal``
        (its tenant, subject, client and fhirUser); never pass the token. ``description``: e.g. the grant type."""
        self.record(principal, TOKEN_ISSUED, status, patient=patient, description=description)

    # ------------------------------------------------------------------ the background side

    def attach(self, sink: AuditSink) -> None:
        self.sink = sink

    async def start(self, sink: AuditSink) -> None:
        """Begin writing to ``sink`` (the lifespan, once the store is open)."""
        self.attach(sink)
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-flusher")

    async def stop(self) -> None:
        """Stop the background task and store everything still held (a clean shutdown loses no record)."""
        if self._task is not None:
            # Between batches, not during one (a write cut short would leave its connection to a closed loop).
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=self.shutdown_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self.sink is None:
            return
        try:
            await self._drain()
        finally:
            await self.sink.close()

    async def _drain(self) -> None:
        until = time.monotonic() + self.shutdown_s
        delay = self.retry_base_s
        while self.pending:
            try:
                await self.flush()
            except Unavailable:
                if time.monotonic() + delay > until:
                    LOST.inc(self.pending)
                    log.error("audit trail: %d records could not be stored before shutdown", self.pending)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)

    async def flush(self) -> int:
        """Store everything held now; returns how many AuditEvents were written. ``Unavailable`` when the store
        could not take them (they stay held). Tests call it to make the trail deterministic."""
        written = 0
        async with self._lock:
            while self._queue or self._unsent:
                written += await self._write_batch(self.batch_size)
        return written

    def _batch_due(self) -> bool:
        """Whether the flusher writes before the interval is up: a full batch is queued, or the queue holds
        requests back (``admit``)."""
        return len(self._queue) >= self.batch_size or not self.has_room()

    async def _write_batches(self, held: int) -> int:
        """Write the batch that failed last time, the first ``held`` records queued, then full batches while the
        queue has one (``_batch_due``): a partial batch that came meanwhile waits for the next interval."""
        written = 0
        async with self._lock:
            while self._unsent or held > 0 or self._batch_due():
                take = min(self.batch_size, held if held > 0 else self.batch_size, len(self._queue))
                if not self._unsent:
                    if take == 0:
                        break
                    held -= take
                written += await self._write_batch(take)
        return written

    async def _run(self) -> None:
        # Every interval_s everything held is written; in between, only full batches. Flushing whatever had come
        # each time a write returned made a busy trail a stream of batches of one round trip's requests (~30 at
        # 32 connections, not 500): each batch's fixed work — the frame, both ends' wake-ups, the writer's
        # templates, its insert command — was then paid per ~30 records (bench/README.md, issue 11).
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval_s
        while True:
            if not self._unsent:  # a batch that failed is retried after its backoff, not at the next interval
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(due):
                        await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return  # stop() writes what is left
            try:
                if loop.time() >= due:  # what was held when the interval was up
                    await self._write_batches(len(self._queue))
                    due = loop.time() + self.interval_s
                else:
                    await self._write_batches(0)
                self._failures = 0
            except Unavailable:
                FAILED.inc()
                self._failures += 1
                await asyncio.sleep(min(self.retry_base_s * 2 ** (self._failures - 1), self.retry_max_s))
            except Exception as exc:  # noqa: BLE001 - the flusher must outlive any one bad batch
                log.error("audit flusher: %s", described(exc))
                await asyncio.sleep(self.retry_base_s)

    async def _write_batch(self, limit: int) -> int:
        """Store the batch that failed last time, as it was built, else the next ``limit`` (at most
        ``batch_size``) records queued."""
        sink = self.sink
        if sink is None:
            raise Unavailable("The audit trail has no store yet")
        if not self._unsent:  # what failed last time goes first, as it was built
            left = min(self.batch_size, limit, len(self._queue))
            while left > 0:
                chunk = min(BUILD_CHUNK, left)
                self._build(chunk)
                left -= chunk
                if left:
                    await asyncio.sleep(0)  # requests run between chunks: a batch is milliseconds of CPU
        written = 0
        for tenant in list(self._unsent):
            events = self._unsent[tenant]
            try:
                with deadline(self.write_timeout_s):
                    await sink.append(tenant, events)
            except Unavailable:
                raise
            except DomainError as exc:  # not the store's moment but the batch: retrying would fail the same
                LOST.inc(len(events))
                log.error("audit batch of %d refused by the store: %s", len(events), described(exc))
            else:
                written += len(events)
                WRITTEN.inc(len(events))
            del self._unsent[tenant]
            self._unsent_count -= len(events)
            self._made_room()
        return written

    def _build(self, limit: int) -> None:
        """Move up to ``limit`` queued accesses into the unsent AuditEvents, by tenant."""
        queue, unsent = self._queue, self._unsent
        assert self.sink is not None
        prepare = self.sink.prepare
        for _ in range(min(limit, len(queue))):
            access = queue.popleft()
            tenant = access.principal.tenant if access.principal is not None else self.default_tenant
            unsent.setdefault(tenant, []).append(prepare(access, self.observer))
            self._unsent_count += 1
        PENDING.set(self.pending)

    def _made_room(self) -> None:
        PENDING.set(self.pending)
        if self.has_room():
            self._room.set()
