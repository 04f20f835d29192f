"""Writes outside a transaction, batched: the inserts of concurrent writes into one collection share one
``insert`` command, and the numbers they draw from one sequence one ``$inc`` (store/writes.py, on a standalone
server; in a transaction each write is its own session's).

A create is six commands one after another (its number, the resource, its history version, its provenance, the
event's sequence, the event), and under concurrent load most of a command's cost is the driver's per-command work
in this process and the server's, not the document. The writes of requests in flight together share it: as with
the reads (store/reads.py ``Coalescer``), what is asked for while its lane's command is out goes in the next one,
sent as soon as that one lands. What is asked for while the lane is idle goes out after two event-loop turns (the
writes of the requests the loop is running now, and of those it reads from its sockets on the next turn, join it;
an idle loop turns in microseconds) — unless other writes of this process are under way (``under_way``: the
writer counts them) and have not joined: then it waits for them, at most ``HOLD_S``. Concurrent requests arrive
spread out (a few milliseconds apart at four connections), and a write that waits for the others once travels
with them from then on: each of its commands carries theirs. One write alone never waits; a few waiting a
millisecond cost less than each sending its own six commands while the process is busy (bench/README.md).

Each waiter gets the outcome its own command would have had: an insert is unordered (``ordered=False``), so one
document's failure (a duplicate key) is that document's alone — its waiter gets the ``DuplicateKeyError`` or
``WriteError`` ``insert_one`` would have raised, with the same details, and the others are written. A failure of
the whole command (the network, a timeout) reaches every waiter of the batch, untranslated: each caller handles
driver errors as it did. Numbers are handed out in asking order; a batch that fails hands out none (the counter
may still have moved: a gap, as a failed single ``$inc`` could leave).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

from bson import encode
from bson.raw_bson import RawBSONDocument
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteConcernError, WriteError

from store.driver import current_deadline, deadline
from store.reads import batch_deadline

T = TypeVar("T")
R = TypeVar("R")

# At most this many writes per command: a waiter arriving behind a long batch waits for it once, not for ever.
MAX_BATCH = 500
# How long an idle lane's command waits for the other writes under way to join it (module docstring).
HOLD_S = 0.0015
# The codes of a duplicate key (pymongo raises ``DuplicateKeyError`` for a single insert's 11000).
DUPLICATE_KEY = 11000
# Set for the writes of a FHIR transaction bundle on a standalone server (store/writes.py ``_staged_commit``): a
# bundle's many commands, one after another, each join what is pending but never wait for the writes under way
# — at up to HOLD_S a command, a 100-entry bundle beside concurrent writes would wait out most of a second.
NO_HOLD: contextvars.ContextVar[bool] = contextvars.ContextVar("fhirgraph_batching_no_hold", default=False)


class _Lane(Generic[T, R]):
    __slots__ = ("busy", "held", "pending", "scheduled")

    def __init__(self) -> None:
        self.pending: list[tuple[T, asyncio.Future[R], float | None]] = []
        self.scheduled = False
        self.busy = False
        self.held: asyncio.TimerHandle | None = None  # while it waits for the writes under way


class Batcher(Generic[T, R]):
    """One command in flight per lane at a time, carrying every write asked for in the lane since the last.
    ``under_way``: how many writes of this process are in progress (module docstring), the asking one included."""

    def __init__(self, db: AsyncDatabase[Any], under_way: Callable[[], int] = lambda: 0):
        self.db = db
        self.under_way = under_way
        self.lanes: dict[Hashable, _Lane[T, R]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def _send(self, lane: Any, items: list[T]) -> list[R | BaseException]:
        """Write ``items`` in one command; each one's result or exception, in order."""
        raise NotImplementedError

    def submit(self, lane: Hashable, item: T) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        state = self.lanes.get(lane)
        if state is None:
            state = self.lanes[lane] = _Lane()
        state.pending.append((item, fut, current_deadline()))
        if not state.busy and not state.scheduled:
            state.scheduled = True
            if len(state.pending) < self.under_way() and not NO_HOLD.get():
                state.held = loop.call_later(HOLD_S, self._flush, lane, state)
            else:
                loop.call_soon(loop.call_soon, self._flush, lane, state)  # two turns (module docstring)
        elif state.held is not None and len(state.pending) >= self.under_way():
            self._release(lane, state)
        return fut

    def joined(self) -> None:
        """A write finished: the lanes waiting for it wait no longer than for those still under way."""
        for lane, state in list(self.lanes.items()):
            if state.held is not None and len(state.pending) >= self.under_way():
                self._release(lane, state)

    def _release(self, lane: Hashable, state: _Lane[T, R]) -> None:
        if state.held is not None:
            state.held.cancel()
            state.held = None
            asyncio.get_running_loop().call_soon(self._flush, lane, state)

    def _flush(self, lane: Hashable, state: _Lane[T, R]) -> None:
        if state.held is not None:
            state.held.cancel()
            state.held = None
        state.scheduled = False
        # A waiter already answered (its deadline passed, its task was cancelled) is not written for: alone, its
        # command would not have been sent either.
        waiting = [entry for entry in state.pending if not entry[1].done()]
        batch, state.pending = waiting[:MAX_BATCH], waiting[MAX_BATCH:]
        if not batch:
            if self.lanes.get(lane) is state and not state.busy:
                del self.lanes[lane]
            return
        state.busy = True
        loop = asyncio.get_running_loop()
        seconds = batch_deadline(loop, [(fut, own) for _, fut, own in batch])
        # A fresh context: the batch's deadline, not the context (and deadline) of the caller that opened it.
        task = loop.create_task(self._run(lane, state, batch, seconds), context=contextvars.Context())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, lane: Hashable, state: _Lane[T, R], batch: list[tuple[T, asyncio.Future[R], float | None]],
                   seconds: float | None) -> None:
        try:
            with deadline(None if seconds is None else max(seconds, 0.001)):
                outcomes = await self._send(lane, [item for item, _, _ in batch])
        except BaseException as exc:  # every waiter learns of the failure; none hangs
            outcomes = [exc] * len(batch)
            if not isinstance(exc, Exception):
                self._landed(lane, state)
                _settle(batch, outcomes)
                raise
        self._landed(lane, state)
        _settle(batch, outcomes)

    def _landed(self, lane: Hashable, state: _Lane[T, R]) -> None:
        state.busy = False
        if state.pending:
            self._flush(lane, state)  # they waited a round trip already
        elif self.lanes.get(lane) is state:
            del self.lanes[lane]


def _settle(batch: list[tuple[Any, asyncio.Future[Any], float | None]], outcomes: list[Any]) -> None:
    for (_, fut, _), outcome in zip(batch, outcomes, strict=True):
        if fut.done():
            continue
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)


class Inserts(Batcher[RawBSONDocument, None]):
    """Inserts, one lane per collection."""

    def __init__(self, db: AsyncDatabase[Any], under_way: Callable[[], int] = lambda: 0):
        super().__init__(db, under_way)
        self.collections: dict[str, AsyncCollection[Any]] = {}  # one object per collection, not one per command

    def insert(self, collection: str, doc: dict[str, Any]) -> asyncio.Future[None]:
        """Insert ``doc`` (with its ``_id``) into ``collection``, raising what ``insert_one`` would."""
        target = self.collections.get(collection)
        if target is None:
            target = self.collections[collection] = self.db[collection]
        # Encoded here, so that a document BSON cannot hold fails its own write (as insert_one would: InvalidDocument,
        # OverflowError), never its batch; the driver sends the bytes as they are.
        return self.submit(collection, RawBSONDocument(encode(doc, codec_options=target.codec_options)))

    async def _send(self, lane: Any, items: list[RawBSONDocument]) -> list[None | BaseException]:
        collection = self.collections[lane]
        try:
            await collection.insert_many(items, ordered=False)
        except BulkWriteError as exc:
            return per_document(exc.details, len(items))
        return [None] * len(items)


def per_document(details: Mapping[str, Any], n: int) -> list[None | BaseException]:
    """What ``insert_one`` of each of the ``n`` documents of an unordered insert would have raised, from the
    insert's ``BulkWriteError`` details: its own write error, else the command's write concern error, else nothing."""
    outcomes: list[None | BaseException] = [None] * n
    concern = (details.get("writeConcernErrors") or [None])[-1]
    if concern is not None:
        outcomes = [WriteConcernError(concern.get("errmsg"), concern.get("code"), concern) for _ in range(n)]
    for error in details.get("writeErrors") or ():
        cls = DuplicateKeyError if error.get("code") == DUPLICATE_KEY else WriteError
        outcomes[int(error["index"])] = cls(error.get("errmsg"), error.get("code"), error)
    return outcomes


class Sequences(Batcher[None, int]):
    """Numbers from the ``counters`` collection, one lane per counter: a batch of k moves it by k at once."""

    def __init__(self, db: AsyncDatabase[Any], under_way: Callable[[], int] = lambda: 0):
        super().__init__(db, under_way)
        self.counters = db.counters

    def next(self, counter: str) -> asyncio.Future[int]:
        """The next number of ``counter`` (a ``counters`` document's ``_id``), from 1."""
        return self.submit(counter, None)

    async def _send(self, lane: Any, items: list[None]) -> list[int | BaseException]:
        doc = await self.counters.find_one_and_update(
            {"_id": lane}, {"$inc": {"seq": len(items)}}, upsert=True, return_document=ReturnDocument.AFTER)
        last = int((doc or {})["seq"])
        return list(range(last - len(items) + 1, last + 1))
