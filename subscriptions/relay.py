"""The relay: one per process, it tails the outbox (``events``) and fans events out in memory (decision 7).

Sources, all feeding one per-tenant reorder buffer: the repository's ``on_event`` hook (local writes, no
round trip), a change stream on a replica set, and polling by sequence (the only source on devdb for writes
made by other processes). Events leave the buffer strictly in sequence order. A sequence is allocated just
before its event is inserted, so N+1 can be visible before N: a missing sequence is awaited for
``relay_gap_grace_s`` and then skipped (a writer that died between the two steps leaves a permanent gap).

Subscribers resume from an opaque cursor: events up to the relay's head at registration are replayed from
the outbox, later ones come live; the boundary is taken without an ``await`` in between, so there is no gap
and no duplicate. A subscriber that falls too far behind is not dropped: it re-reads from the outbox.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from store.errors import DomainError
from store.repository import Repository
from store.types import SystemPrincipal
from subscriptions.tasks import cancel_and_wait

log = logging.getLogger("fhirgraph.relay")

QUEUE_LIMIT = 10_000
REPLAY_PAGE = 500
INIT_WINDOW = 100


def _age(doc: dict[str, Any], now: datetime) -> float:
    try:
        return (now - datetime.fromisoformat(str(doc.get("occurredAt")))).total_seconds()
    except (TypeError, ValueError):
        return float("inf")


class InvalidCursor(ValueError):
    pass


def encode_cursor(tenant: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{tenant}\x00{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, tenant: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        owner, _, seq = raw.partition("\x00")
        value = int(seq)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor("invalid cursor") from None
    if owner != tenant or value < 0:
        raise InvalidCursor("invalid cursor")
    return value


class LiveEvent:
    """One outbox event as fanned out: shared by every subscriber of the process, so the resource it is
    about is read once (at the event's version) however many subscribers resolve it."""

    __slots__ = ("_resource", "_repo", "action", "cursor", "id", "occurred_at", "patient", "resource_id",
                 "resource_type", "seq", "tenant", "type", "version_id")

    def __init__(self, doc: dict[str, Any], repo: Repository):
        self.id: str = doc["_id"]
        self.tenant: str = doc["tenant"]
        self.seq: int = int(doc["seq"])
        self.type: str = doc["type"]
        self.action: str = doc.get("action", "")
        self.resource_type: str = doc["resourceType"]
        self.resource_id: str = doc["resourceId"]
        self.version_id: str = str(doc.get("versionId", ""))
        self.patient: str | None = doc.get("patient")
        occurred = doc.get("occurredAt")
        self.occurred_at: str = occurred if isinstance(occurred, str) else str(occurred)
        self.cursor = encode_cursor(self.tenant, self.seq)
        self._repo = repo
        self._resource: asyncio.Future[dict[str, Any] | None] | None = None

    @property
    def patient_id(self) -> str | None:
        return self.patient.partition("/")[2] if self.patient else None

    async def resource(self) -> dict[str, Any] | None:
        """The resource at this event's version; None for a deletion or when it cannot be read."""
        if self._resource is None:
            self._resource = asyncio.get_running_loop().create_future()
            try:
                found: dict[str, Any] | None = await self._repo.vread(
                    SystemPrincipal(self.tenant, "relay"), self.resource_type, self.resource_id, self.version_id)
            except DomainError:
                found = None
            except Exception:
                self._resource.set_result(None)
                raise
            self._resource.set_result(found)
            return found
        return await asyncio.shield(self._resource)

    def prefetch(self) -> None:
        """Start reading the resource in the background (``resource()`` then finds it ready)."""
        if self._resource is None:
            task = asyncio.ensure_future(self.resource())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "seq": self.seq, "action": self.action,
                "resourceType": self.resource_type, "resourceId": self.resource_id, "versionId": self.version_id,
                "patient": self.patient, "occurredAt": self.occurred_at, "cursor": self.cursor}


Match = Callable[[LiveEvent], bool]


class Subscriber:
    __slots__ = ("match", "overflowed", "queue", "ready")

    def __init__(self, match: Match):
        self.match = match
        self.queue: deque[LiveEvent] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False

    def push(self, event: LiveEvent) -> None:
        if self.overflowed or not self.match(event):
            return
        if len(self.queue) >= QUEUE_LIMIT:
            self.overflowed = True  # the subscriber re-reads from the outbox (Relay.stream)
        else:
            self.queue.append(event)
        self.ready.set()


class _Tenant:
    def __init__(self, head: int):
        self.head = head
        self.subscribers: set[Subscriber] = set()
        self.pending: dict[int, dict[str, Any]] = {}
        self.gap_since: float | None = None


class Relay:
    def __init__(self, db: AsyncDatabase[Any], repo: Repository, *, poll_interval: float = 0.2,
                 gap_grace: float = 1.0, change_stream: bool = False):
        self.db, self.repo = db, repo
        self.poll_interval, self.gap_grace, self.change_stream = poll_interval, gap_grace, change_stream
        self.tenants: dict[str, _Tenant] = {}
        self._init_locks: dict[str, asyncio.Lock] = {}
        self._wake = asyncio.Event()
        self._dirty: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        # Called with the tenant of every event seen (webhook workers wake on it).
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.delivered = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.repo.on_event.append(self.notify)
        self._tasks.append(asyncio.create_task(self._run(), name="relay"))
        if self.change_stream:
            self._tasks.append(asyncio.create_task(self._watch(), name="relay-change-stream"))

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.repo.on_event.remove(self.notify)
        await cancel_and_wait(self._tasks)
        self._tasks.clear()

    def notify(self, event: dict[str, Any]) -> None:
        """``Repository.on_event`` hook: a local write committed this event."""
        self._offer(event)
        for listener in self.listeners:
            listener(event["tenant"], event)

    def _offer(self, event: dict[str, Any]) -> None:
        t = self.tenants.get(event["tenant"])
        if t is None or int(event["seq"]) <= t.head:
            return
        t.pending[int(event["seq"])] = event
        self._dirty.add(event["tenant"])
        self._wake.set()

    # ------------------------------------------------------------------ subscribers

    async def stream(self, tenant: str, match: Match, after: int | None = None) -> AsyncIterator[LiveEvent]:
        """Events of ``tenant`` accepted by ``match`` (a cheap, synchronous pre-filter), in sequence order:
        those after ``after`` (replayed from the outbox), then live ones."""
        t = await self._tenant(tenant)
        sub = Subscriber(match)
        # No await between registering and reading the head: replay covers (after, head], live (head, ∞).
        t.subscribers.add(sub)
        last = t.head
        try:
            if after is not None and after < last:
                async for event in self.replay(tenant, after, last):
                    if match(event):
                        yield event
            elif after is not None:
                last = after
            while True:
                while sub.queue:
                    event = sub.queue.popleft()
                    if event.seq > last:
                        last = event.seq
                        yield event
                if sub.overflowed:
                    head = t.head
                    sub.overflowed = False
                    sub.queue.clear()
                    async for event in self.replay(tenant, last, head):
                        if match(event):
                            yield event
                    last = max(last, head)
                    continue
                sub.ready.clear()
                await sub.ready.wait()
        finally:
            t.subscribers.discard(sub)

    async def replay(self, tenant: str, after: int, upto: int) -> AsyncIterator[LiveEvent]:
        while after < upto:
            docs = await self.db.events.find({"tenant": tenant, "seq": {"$gt": after, "$lte": upto}}).sort(
                "seq", ASCENDING).limit(REPLAY_PAGE).to_list(None)
            if not docs:
                return
            for doc in docs:
                yield LiveEvent(doc, self.repo)
            after = int(docs[-1]["seq"])

    async def _tenant(self, tenant: str) -> _Tenant:
        t = self.tenants.get(tenant)
        if t is not None:
            return t
        lock = self._init_locks.setdefault(tenant, asyncio.Lock())
        async with lock:
            t = self.tenants.get(tenant)
            if t is None:
                t = await self._initial(tenant)
                self.tenants[tenant] = t
        return t

    async def _initial(self, tenant: str) -> _Tenant:
        """A tenant's starting point: the newest sequence — or, when a recent sequence is still missing (a
        concurrent writer between allocating and inserting it), just before it, so that it is not lost."""
        docs = await self.db.events.find({"tenant": tenant}).sort("seq", DESCENDING).limit(INIT_WINDOW).to_list(None)
        if not docs:
            return _Tenant(0)
        docs.reverse()
        now = datetime.now(UTC)
        for before, doc in zip(docs, docs[1:], strict=False):
            if int(doc["seq"]) != int(before["seq"]) + 1 and _age(doc, now) < self.gap_grace + 1.0:
                t = _Tenant(int(before["seq"]))
                # The events after the gap go through the normal gap handling (awaited, then skipped).
                t.pending = {int(d["seq"]): d for d in docs if int(d["seq"]) > t.head}
                self._dirty.add(tenant)
                self._wake.set()
                return t
        return _Tenant(int(docs[-1]["seq"]))

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        next_poll = 0.0
        while True:
            timeout = max(0.0, next_poll - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            polling = time.monotonic() >= next_poll
            if polling:
                next_poll = time.monotonic() + self.poll_interval
            names = list(self.tenants) if polling else list(self._dirty)
            self._dirty.clear()
            for name in names:
                t = self.tenants.get(name)
                if t is None:
                    continue
                try:
                    await self._advance(name, t, poll=polling)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("relay: cannot advance tenant events")
            # Drop idle tenants so a later subscriber starts from a fresh head.
            for name in [n for n, t in self.tenants.items() if not t.subscribers and not t.pending]:
                del self.tenants[name]

    async def _advance(self, name: str, t: _Tenant, *, poll: bool) -> None:
        self._drain(t)
        if t.pending or poll:
            # A gap (or a poll tick): read what is visible after the head.
            docs = await self.db.events.find({"tenant": name, "seq": {"$gt": t.head}}).sort(
                "seq", ASCENDING).limit(1000).to_list(None)
            for doc in docs:
                t.pending.setdefault(int(doc["seq"]), doc)
            self._drain(t)
        if t.pending:
            now = time.monotonic()
            if t.gap_since is None:
                t.gap_since = now
            elif now - t.gap_since >= self.gap_grace:
                skipped = min(t.pending) - 1
                log.warning("relay: sequence %s..%s never appeared; skipped", t.head + 1, skipped)
                t.head = skipped
                t.gap_since = None
                self._drain(t)
            if t.pending:
                # Re-check soon; the missing event is usually a concurrent writer's, a few ms away.
                self._dirty.add(name)
                asyncio.get_running_loop().call_later(0.01, self._wake.set)

    def _drain(self, t: _Tenant) -> None:
        while t.pending:
            nxt = t.head + 1
            doc = t.pending.pop(nxt, None)
            if doc is None:
                for stale in [s for s in t.pending if s <= t.head]:
                    del t.pending[stale]
                if not t.pending:
                    break
                return
            t.head = nxt
            t.gap_since = None
            event = LiveEvent(doc, self.repo)
            for sub in list(t.subscribers):
                sub.push(event)
            self.delivered += 1

    async def _watch(self) -> None:
        """Change stream on the outbox (replica sets): other instances' events without waiting for a poll."""
        token = None
        while True:
            try:
                async with await self.db.events.watch([{"$match": {"operationType": "insert"}}],
                                                      resume_after=token) as stream:
                    async for change in stream:
                        token = stream.resume_token
                        doc = change.get("fullDocument")
                        if doc:
                            self._offer(doc)
                            for listener in self.listeners:
                                listener(doc["tenant"], doc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - polling keeps working meanwhile
                log.warning("relay: change stream interrupted (%s); retrying", type(exc).__name__)
                token = None
                await asyncio.sleep(1.0)

