"""The relay: one per process, it tails the outbox (``events``) and fans events out in memory (decision 7).

Sources, all feeding one per-tenant reorder buffer (the store's ``OrderedEvents``, store/outbox.py): the
repository's ``on_event`` hook (local writes, no round trip), a change stream on a replica set, and polling by
sequence (the only source on devdb for writes made by other processes). Events leave the buffer strictly in
sequence order. A sequence is allocated just before its event is inserted, so N+1 can be visible before N: a
missing sequence is awaited for ``relay_gap_grace_s`` and then skipped (a writer that died between the two
steps leaves a permanent gap). A local write's events that follow the head go out from a loop callback the
hook schedules (``notify``); the relay's task polls, reads the change stream's events and mends gaps.

Each fan-out is timed (``fhirgraph_relay_wake_seconds``: a local write's hook to its fan-out's start;
``fhirgraph_relay_fanout_seconds``: to the last socket write; ``fhirgraph_relay_fanout_cpu_seconds``: the CPU
time they took, which unlike their length does not grow when the process waits for a core);
bench/events_bench.py ``--stages`` reads them.

Subscribers resume from an opaque cursor: events up to the relay's head at registration are replayed from
the outbox, later ones come live; the boundary is taken without an ``await`` in between, so there is no gap
and no duplicate. A subscriber that falls too far behind is not dropped: it re-reads from the outbox.

A stream may hand the relay a synchronous ``direct`` delivery (a GraphQL subscription's ready frame,
graph/fanout.py): while the stream's consumer is idle, the fan-out offers it each live event and, when it
takes it, the stream is not woken at all — a thousand subscribers cost a thousand socket writes per event,
not a thousand task wake-ups. Whatever it refuses goes through the queue, and so does everything after it
until the stream is idle again: no event overtakes another, none is delivered twice (``Subscriber.last``).

Streams that give the same ``key`` (resolvers/event.py: the same caller with the same filter) form one group:
the fan-out asks the group's ``match`` and ``gate`` once per event for all of them, then walks its members.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

from store.errors import DomainError
from store.logs import described
from store.metrics import EVENTS_RELAYED, RELAY_FANOUT, RELAY_FANOUT_CPU, RELAY_LAG, RELAY_WAKE
from store.outbox import OrderedEvents, event_age
from store.repository import Repository
from store.types import SystemPrincipal
from subscriptions.tasks import cancel_and_wait

log = logging.getLogger("fhirgraph.relay")

QUEUE_LIMIT = 10_000
REPLAY_PAGE = 500


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
    about is read once (at the event's version) however many subscribers resolve it. ``memo``: where
    consumers keep what they derive from the event once for many subscribers (renderings), under their own
    keys."""

    __slots__ = ("_resource", "_repo", "action", "cursor", "id", "memo", "occurred_at", "patient", "resource_id",
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
        self.memo: dict[Any, Any] = {}

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
# Delivers an event synchronously, from the relay's fan-out, when it can (True); False: the stream delivers it.
Direct = Callable[[LiveEvent], bool]


class Subscriber:
    """One stream's place in the fan-out. ``last``: the newest sequence delivered (by the stream or ``direct``).
    ``parked``: the stream has delivered everything it was given and waits for more — only then may ``direct``
    deliver an event, so that an event never overtakes one the stream still holds."""

    __slots__ = ("direct", "last", "match", "overflowed", "parked", "queue", "ready")

    def __init__(self, match: Match, direct: Direct | None = None):
        self.match = match
        self.direct = direct
        self.queue: deque[LiveEvent] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False
        self.parked = False
        self.last = 0

    def take(self, event: LiveEvent, direct_ok: bool) -> None:
        """A matched event: to ``direct`` when the stream is idle and ``direct_ok`` (the group's gate), else to
        the queue."""
        if self.overflowed:
            return
        if direct_ok and self.parked and self.direct is not None and event.seq > self.last:
            try:
                done = self.direct(event)
            except Exception:  # noqa: BLE001 - the stream delivers it, and reports what fails there
                done = False
            if done:
                self.last = event.seq
                return
        self.parked = False
        if len(self.queue) >= QUEUE_LIMIT:
            self.overflowed = True  # the subscriber re-reads from the outbox (Relay.stream)
        else:
            self.queue.append(event)
        self.ready.set()


class _Group:
    """Subscribers whose streams gave the same ``key``: the same filter for the same caller, so one ``match``
    and one ``gate`` per event serve them all (a thousand dashboards of one clinic are a handful of groups)."""

    __slots__ = ("gate", "match", "members")

    def __init__(self, match: Match, gate: Match | None):
        self.match, self.gate = match, gate
        self.members: dict[Subscriber, None] = {}  # a set in insertion order

    def fan_out(self, event: LiveEvent) -> None:
        if not self.match(event):
            return
        gate = self.gate
        try:
            direct_ok = gate is None or gate(event)
        except Exception:  # noqa: BLE001 - the streams deliver it, and report what fails there
            direct_ok = False
        seq = event.seq
        for sub in list(self.members):
            # Subscriber.take, inlined for the usual case: an idle stream whose direct delivery takes it.
            if direct_ok and sub.parked and not sub.overflowed and seq > sub.last and (direct := sub.direct):
                try:
                    done = direct(event)
                except Exception:  # noqa: BLE001 - as in Subscriber.take
                    done = False
                if done:
                    sub.last = seq
                    continue
            sub.take(event, False)


class _Tenant:
    __slots__ = ("events", "groups", "offered")

    def __init__(self, events: OrderedEvents):
        self.events = events
        self.groups: dict[Hashable, _Group] = {}
        self.offered: dict[int, float] = {}  # sequence → when a local write's hook offered it (RELAY_WAKE)

    @property
    def head(self) -> int:
        return self.events.head

    def join(self, sub: Subscriber, key: Hashable | None, gate: Match | None) -> Hashable:
        if key is None:
            key = sub  # a group of its own
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(sub.match, gate)
        group.members[sub] = None
        return key

    def leave(self, sub: Subscriber, key: Hashable) -> None:
        group = self.groups.get(key)
        if group is not None:
            group.members.pop(sub, None)
            if not group.members:
                del self.groups[key]


class Relay:
    def __init__(self, repo: Repository, *, poll_interval: float = 0.2, gap_grace: float = 1.0,
                 change_stream: bool = False):
        self.repo, self.outbox = repo, repo.outbox
        self.poll_interval, self.gap_grace, self.change_stream = poll_interval, gap_grace, change_stream
        self.tenants: dict[str, _Tenant] = {}
        self._init_locks: dict[str, asyncio.Lock] = {}
        self._wake = asyncio.Event()
        self._dirty: set[str] = set()
        self._soon: set[str] = set()  # tenants whose ``_fan_out_ready`` is scheduled
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
        """``Repository.on_event`` hook: a local write committed this event. Its fan-out is a callback of the
        loop's next turn (``_fan_out_ready``), not a wake-up of the relay's task: that took two or three turns
        of a loop busy with a thousand sockets (a task woken by an event, inside ``wait_for``'s own task)."""
        tenant = event["tenant"]
        t = self._offer(event)
        if t is not None:
            if len(t.offered) < QUEUE_LIMIT:
                t.offered[int(event["seq"])] = time.perf_counter()
            if tenant not in self._soon:
                self._soon.add(tenant)
                asyncio.get_running_loop().call_soon(self._fan_out_ready, tenant)
        for listener in self.listeners:
            listener(tenant, event)

    def _offer(self, event: dict[str, Any]) -> _Tenant | None:
        """Buffer ``event`` for its tenant's fan-out; its tenant, when it took the event."""
        t = self.tenants.get(event["tenant"])
        if t is None or not t.events.offer(event):
            return None
        return t

    def _wake_for(self, tenant: str) -> None:
        self._dirty.add(tenant)
        self._wake.set()

    def _fan_out_ready(self, tenant: str) -> None:
        """What local writes offered that follows the head without a gap goes out now; a gap is the loop's."""
        self._soon.discard(tenant)
        t = self.tenants.get(tenant)
        if t is None:
            return
        try:
            self._fan_out(t, t.events.ready())
        except Exception as exc:  # noqa: BLE001 - the events are handed out: the loop cannot resend them either
            log.error("relay: cannot fan out tenant events: %s", described(exc))
        if t.events.waiting:
            self._wake_for(tenant)

    # ------------------------------------------------------------------ subscribers

    async def stream(self, tenant: str, match: Match, after: int | None = None,
                     direct: Direct | None = None, *, gate: Match | None = None,
                     key: Hashable | None = None) -> AsyncIterator[LiveEvent]:
        """Events of ``tenant`` accepted by ``match`` (a cheap, synchronous pre-filter), in sequence order:
        those after ``after`` (replayed from the outbox), then live ones. While the consumer waits for the next
        event, ``direct`` is offered each live one first (synchronously, in the fan-out: no wake-up of this
        stream) — those ``gate`` admits, when given; the events it takes are not yielded.

        ``key``: streams that give the same key promise the same ``match`` and ``gate`` (the same filter for the
        same caller); the fan-out then asks them once per event for all of those streams."""
        t = await self._tenant(tenant)
        sub = Subscriber(match, direct)
        # No await between registering and reading the head: replay covers (after, head], live (head, ∞).
        joined = t.join(sub, key, gate)
        sub.last = t.head
        try:
            if after is not None and after < sub.last:
                async for event in self.replay(tenant, after, sub.last):
                    if match(event):
                        yield event
            elif after is not None:
                sub.last = after
            while True:
                while sub.queue:
                    event = sub.queue.popleft()
                    if event.seq > sub.last:
                        sub.last = event.seq
                        yield event
                if sub.overflowed:
                    head = t.head
                    sub.overflowed = False
                    sub.queue.clear()
                    async for event in self.replay(tenant, sub.last, head):
                        if match(event):
                            yield event
                    sub.last = max(sub.last, head)
                    continue
                sub.ready.clear()
                sub.parked = True
                await sub.ready.wait()
                sub.parked = False
        finally:
            t.leave(sub, joined)

    async def replay(self, tenant: str, after: int, upto: int) -> AsyncIterator[LiveEvent]:
        async for doc in self.outbox.between(tenant, after, upto, page=REPLAY_PAGE):
            yield LiveEvent(doc, self.repo)

    async def _tenant(self, tenant: str) -> _Tenant:
        t = self.tenants.get(tenant)
        if t is not None:
            return t
        lock = self._init_locks.setdefault(tenant, asyncio.Lock())
        async with lock:
            t = self.tenants.get(tenant)
            if t is None:
                # From the newest sequence, or from just before a recent one still missing.
                t = _Tenant(await self.outbox.ordered_from_now(tenant, gap_grace=self.gap_grace))
                self.tenants[tenant] = t
                if t.events.waiting:
                    self._wake_for(tenant)
        return t

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
                except Exception as exc:  # noqa: BLE001 - the next turn of the loop retries
                    log.error("relay: cannot advance tenant events: %s", described(exc))
            # Drop idle tenants so a later subscriber starts from a fresh head.
            for name in [n for n, t in self.tenants.items() if not t.groups and not t.events.waiting]:
                del self.tenants[name]

    async def _advance(self, name: str, t: _Tenant, *, poll: bool) -> None:
        # What hooks offered in order goes out without a round trip.
        self._fan_out(t, t.events.ready())
        if t.events.waiting or poll:
            # A gap (or a poll tick): read what is visible after the head; a gap past its grace is skipped.
            await t.events.pull()
            self._fan_out(t, t.events.take())
        if t.events.waiting:
            # Re-check soon; the missing event is usually a concurrent writer's, a few ms away.
            self._dirty.add(name)
            asyncio.get_running_loop().call_later(0.01, self._wake.set)

    def _fan_out(self, t: _Tenant, docs: list[dict[str, Any]]) -> None:
        if docs:
            EVENTS_RELAYED.inc(len(docs))
            RELAY_LAG.observe(max(0.0, event_age(docs[-1])))  # a batch's newest: the lag the relay still has
        offered, cpu = t.offered, time.thread_time()
        for doc in docs:
            started = time.perf_counter()
            if (woken := offered.pop(int(doc["seq"]), None)) is not None:
                RELAY_WAKE.observe(started - woken)
            event = LiveEvent(doc, self.repo)
            if groups := list(t.groups.values()):
                for group in groups:
                    group.fan_out(event)
                RELAY_FANOUT.observe(time.perf_counter() - started)
            self.delivered += 1
        if docs and t.groups:
            RELAY_FANOUT_CPU.inc(time.thread_time() - cpu)
        if offered and docs:  # offered, then skipped or pulled past: nothing will pop them
            head = t.events.head
            for seq in [s for s in offered if s <= head]:
                del offered[seq]

    async def _watch(self) -> None:
        """Change stream on the outbox (replica sets): other instances' events without waiting for a poll."""
        while True:
            try:
                async for doc in self.outbox.inserted():
                    if self._offer(doc) is not None:
                        self._wake_for(doc["tenant"])
                    for listener in self.listeners:
                        listener(doc["tenant"], doc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - polling keeps working meanwhile
                log.warning("relay: change stream interrupted (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)

