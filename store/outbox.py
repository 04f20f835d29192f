"""Reading the outbox (DESIGN.md decision 6): the ``events`` collection, and the one way to read it in order.

Every write appends one event with a per-tenant sequence (store/writes.py). A sequence is allocated just before
its event is inserted, so N+1 can be visible before N, and a writer that dies between the two steps leaves a
sequence that never appears. ``OrderedEvents`` turns what is visible (and what hooks offer ahead of
visibility) into one tenant's events in sequence order, without duplicates: a missing sequence is awaited
``gap_grace`` seconds and then skipped. The relay and the webhook workers (subscriptions/) both read through
it; neither reads the collection itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from store.clock import utc_now
from store.driver import call, unavailable
from store.layout import EVENTS

log = logging.getLogger("fhirgraph.outbox")

PAGE = 500
PULL = 1000
# How many of a tenant's newest events are looked at for a gap that may still fill when reading starts at
# its head.
START_WINDOW = 100

Event = dict[str, Any]


class Outbox:
    """Queries on the outbox. Events are returned as stored: ``_id`` (the event id), ``tenant``, ``seq``,
    ``type``, ``action``, ``resourceType``, ``resourceId``, ``versionId``, ``patient``, ``occurredAt``."""

    def __init__(self, db: AsyncDatabase[Any]):
        self._events = db[EVENTS]

    async def after(self, tenant: str, seq: int, *, limit: int) -> list[Event]:
        """At most ``limit`` events of ``tenant`` with a sequence above ``seq``, oldest first."""
        cursor = self._events.find({"tenant": tenant, "seq": {"$gt": seq}}).sort("seq", ASCENDING).limit(limit)
        return await call(cursor.to_list(None))

    async def between(self, tenant: str, after: int, upto: int, *, page: int = PAGE) -> AsyncIterator[Event]:
        """The events of ``tenant`` with ``after < seq <= upto``, oldest first, read ``page`` at a time."""
        while after < upto:
            cursor = self._events.find({"tenant": tenant, "seq": {"$gt": after, "$lte": upto}}).sort(
                "seq", ASCENDING).limit(page)
            docs = await call(cursor.to_list(None))
            if not docs:
                return
            for doc in docs:
                yield doc
            after = int(docs[-1]["seq"])

    async def newest(self, tenant: str, n: int) -> list[Event]:
        """The ``n`` newest events of ``tenant``, oldest first."""
        docs = await call(self._events.find({"tenant": tenant}).sort("seq", DESCENDING).limit(n).to_list(None))
        docs.reverse()
        return docs

    async def first_seq(self, tenant: str, resource_type: str, resource_id: str) -> int | None:
        """The sequence of the first event about ``resource_type/resource_id`` (None when there is none): where
        a consumer registered by that resource (a webhook's Subscription) starts reading."""
        doc = await call(self._events.find_one({"tenant": tenant, "resourceType": resource_type,
                                                "resourceId": resource_id},
                                               sort=[("seq", ASCENDING)], projection={"seq": 1}))
        return None if doc is None else int(doc["seq"])

    async def last_seq(self, tenant: str) -> int:
        """The newest visible sequence of ``tenant`` (0 before its first event)."""
        doc = await call(self._events.find_one({"tenant": tenant}, sort=[("seq", DESCENDING)],
                                               projection={"seq": 1}))
        return 0 if doc is None else int(doc["seq"])

    async def inserted(self) -> AsyncIterator[Event]:
        """Events of every tenant as they are inserted, from a change stream (replica sets only); a stream that
        ends is reopened after the last event seen. Raises ``Unavailable`` when the stream breaks: the caller
        decides when to open a new one."""
        token = None
        try:
            while True:
                async with await self._events.watch([{"$match": {"operationType": "insert"}}],
                                                    resume_after=token) as stream:
                    async for change in stream:
                        token = stream.resume_token
                        doc = change.get("fullDocument")
                        if doc:
                            yield doc
        except PyMongoError as exc:
            raise unavailable(exc) from exc

    def ordered(self, tenant: str, head: int, *, gap_grace: float) -> OrderedEvents:
        """``tenant``'s events after ``head`` (a sequence already handled, e.g. a consumer's stored cursor)."""
        return OrderedEvents(self, tenant, head, gap_grace=gap_grace)

    async def ordered_from_now(self, tenant: str, *, gap_grace: float) -> OrderedEvents:
        """``tenant``'s events from now on: after its newest sequence — or, when a recent sequence is still
        missing (a concurrent writer between allocating and inserting it), from just before it, so that it is
        not lost; the events after such a gap are buffered and go through the gap handling."""
        docs = await self.newest(tenant, START_WINDOW)
        if not docs:
            return self.ordered(tenant, 0, gap_grace=gap_grace)
        now = utc_now()
        for before, doc in zip(docs, docs[1:], strict=False):
            if int(doc["seq"]) != int(before["seq"]) + 1 and _age(doc, now) < gap_grace + 1.0:
                reader = self.ordered(tenant, int(before["seq"]), gap_grace=gap_grace)
                for d in docs:
                    reader.offer(d)
                return reader
        return self.ordered(tenant, int(docs[-1]["seq"]), gap_grace=gap_grace)


class OrderedEvents:
    """One tenant's events in sequence order, each once: the head (the last sequence handed out) and a buffer of
    events seen after it.

    Events enter the buffer when offered (a local write's hook, a change stream: possibly before an earlier
    sequence is visible) or pulled from the outbox; ``take`` hands out the contiguous run after the head. While
    a sequence is missing the events after it wait; once it has been missing ``gap_grace`` seconds it is
    skipped (its writer died between allocating and inserting it, or it belongs to a failed transaction)."""

    __slots__ = ("_gap_since", "clock", "gap_grace", "head", "outbox", "pending", "tenant")

    def __init__(self, outbox: Outbox, tenant: str, head: int, *, gap_grace: float,
                 clock: Callable[[], float] = time.monotonic):
        self.outbox, self.tenant, self.head = outbox, tenant, head
        self.gap_grace, self.clock = gap_grace, clock
        self.pending: dict[int, Event] = {}
        self._gap_since: float | None = None

    @property
    def waiting(self) -> bool:
        """Whether events are held back behind a missing sequence."""
        return bool(self.pending)

    def offer(self, event: Event) -> bool:
        """Buffer an event seen outside the outbox; False when it is at or behind the head (already handled)."""
        seq = int(event["seq"])
        if seq <= self.head:
            return False
        self.pending[seq] = event
        return True

    async def pull(self, limit: int = PULL) -> int:
        """Buffer what the outbox shows after the head; returns how many events it showed (``limit`` when there
        may be more)."""
        docs = await self.outbox.after(self.tenant, self.head, limit=limit)
        for doc in docs:
            self.pending.setdefault(int(doc["seq"]), doc)
        return len(docs)

    def ready(self) -> list[Event]:
        """The events that follow the head without a gap, oldest first; the head moves past them. No gap is
        judged here: that waits for ``take`` after a ``pull``, so nothing is skipped that the outbox shows."""
        return self._contiguous()

    def take(self) -> list[Event]:
        """``ready``, and then the gap: a missing sequence starts its grace at the first ``take`` that finds it
        missing and is skipped at the first one past the grace (with the run that follows it)."""
        out = self._contiguous()
        if self.pending:
            now = self.clock()
            if self._gap_since is None:
                self._gap_since = now
            elif now - self._gap_since >= self.gap_grace:
                skipped = min(self.pending) - 1
                log.warning("outbox: sequence %s..%s never appeared; skipped", self.head + 1, skipped)
                self.head = skipped
                self._gap_since = None
                out.extend(self._contiguous())
        return out

    def _contiguous(self) -> list[Event]:
        out: list[Event] = []
        while (doc := self.pending.pop(self.head + 1, None)) is not None:
            self.head += 1
            out.append(doc)
        if out:
            self._gap_since = None
        for stale in [s for s in self.pending if s <= self.head]:
            del self.pending[stale]
        return out


def event_age(doc: Event) -> float:
    """Seconds since ``doc`` was written (by its ``occurredAt``)."""
    return _age(doc, utc_now())


def _age(doc: Event, now: datetime) -> float:
    try:
        return (now - datetime.fromisoformat(str(doc.get("occurredAt")))).total_seconds()
    except (TypeError, ValueError):
        return float("inf")
