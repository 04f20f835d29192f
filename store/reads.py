"""Reads by id, coalesced: the hottest path of every door (FHIR read, DataLoaders, the event relay's vreads);
the coalescing itself (``Coalescer``), which store/referencing.py shares."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import functools
import time
from collections.abc import Hashable
from struct import Struct, unpack_from
from typing import Any

from bson import decode
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, OperationFailure, PyMongoError, ServerSelectionTimeoutError

from store.driver import current_deadline, deadline, unavailable
from store.errors import Unavailable
from store.layout import NO_KEYS


class Coalescer:
    """Coalesces concurrent lookups of one *lane* (a collection and the shape of a query on it) into one command
    for many keys; ``ReadCoalescer`` (reads by ``_id``) and store/referencing.py (the first row referencing a
    resource) are its lanes.

    Under concurrent load most of a read's cost is the driver's per-command work, not the database's; one
    round trip for the reads of every request that arrived together divides it among them. A read asked for
    when the lane has no command in flight goes out on the next event-loop tick (no added latency when
    idle). While a command is out, the next one waits one more loop turn, so that the reads of requests that
    arrived in the same burst share it; while ``max_in_flight`` commands are out, new reads wait for the first of
    them to come back and then go out together — so batches grow with the load instead of with a timer.
    Nothing is cached: each read still sees the database as of a round trip sent after it was asked for.

    Deadlines (store/driver.py ``deadline``): a batch's command runs in a context of its own — not the context
    of whichever caller opened the batch — under the latest of its waiters' deadlines, or none when one of them
    has none (the relay's reads). A waiter whose own deadline ends well before the batch's is failed with
    ``Unavailable`` at its deadline: no caller waits past its own, and no caller's deadline cuts another's read."""

    def __init__(self, db: AsyncDatabase[Any], *, max_in_flight: int = 2):
        self.db = db
        self.max_in_flight = max_in_flight
        self.pending: dict[Hashable, dict[str, list[asyncio.Future[dict[str, Any] | None]]]] = {}
        # Per pending batch: the deadline of each waiter (None: it has none), in asking order.
        self.deadlines: dict[Hashable, list[tuple[asyncio.Future[dict[str, Any] | None], float | None]]] = {}
        self.scheduled: set[Hashable] = set()
        self.in_flight: dict[Hashable, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # Per pending batch: the waiters that will only read what they get (``want(shared=True)``).
        self.sharing: dict[Hashable, set[asyncio.Future[dict[str, Any] | None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # asyncio.get_running_loop() is a getpid() system call on Python 3.11, once per read: the loop the lane
        # was last used on is kept while it runs (the driver's client is bound to one loop anyway).
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._loop = asyncio.get_running_loop()
        return loop

    async def _lookup(self, lane: Any, keys: list[str]) -> dict[str, Any]:
        """The stored document answering each of ``keys`` in ``lane`` (absent: none), in as few commands as the
        lane can, as ``_own`` takes it; a document may answer several keys."""
        raise NotImplementedError

    def want(self, lane: Hashable, key: str, *, shared: bool = False) -> asyncio.Future[dict[str, Any] | None]:
        """A future of the stored document answering ``key`` in ``lane`` (None when there is none); driver
        errors arrive as ``Unavailable``. Each waiter gets a document of its own, except that the ``shared``
        waiters of one batch get one document between them, which none of them may change."""
        loop = self._running_loop()
        fut: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        batch = self.pending.get(lane)
        if batch is None:
            batch = self.pending[lane] = {}
        batch.setdefault(key, []).append(fut)
        if shared:
            self.sharing.setdefault(lane, set()).add(fut)
        self.deadlines.setdefault(lane, []).append((fut, current_deadline()))
        busy = self.in_flight.get(lane, 0)
        if lane not in self.scheduled and busy < self.max_in_flight:
            self.scheduled.add(lane)
            if busy:
                # The store is already busy with this lane: the reads of requests arriving in the same burst
                # (those the loop reads from its sockets on its next turn) get that turn to join.
                loop.call_soon(loop.call_soon, self._flush, lane)
            else:
                loop.call_soon(self._flush, lane)
        return fut

    def _flush(self, lane: Hashable) -> None:
        self.scheduled.discard(lane)
        batch = self.pending.pop(lane, None)
        waiters = self.deadlines.pop(lane, [])
        sharing = self.sharing.pop(lane, set())
        if not batch:
            return
        loop = self._running_loop()
        seconds = batch_deadline(loop, waiters)
        self.in_flight[lane] = self.in_flight.get(lane, 0) + 1
        # A fresh context: the batch's deadline, not the context (and deadline) of the caller that opened it.
        task = loop.create_task(self._fetch(lane, batch, sharing, seconds), context=contextvars.Context())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _landed(self, lane: Hashable) -> None:
        self.in_flight[lane] -= 1
        if self.pending.get(lane) and lane not in self.scheduled:
            self._flush(lane)

    async def _find_command(self, find: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = await find_reply(self.db, find)
        return reply

    async def _close(self, collection: str, reply: dict[str, Any]) -> bool:
        return await close_cursor(self.db, collection, reply["cursor"]["id"])

    async def _fetch(self, lane: Hashable, batch: dict[str, list[asyncio.Future[dict[str, Any] | None]]],
                     sharing: set[asyncio.Future[dict[str, Any] | None]], seconds: float | None) -> None:
        try:
            with deadline(None if seconds is None else max(seconds, 0.001)):
                found = await self._lookup(lane, list(batch))
        except BaseException as exc:  # every waiter learns of the failure; none hangs
            if isinstance(exc, PyMongoError):
                exc = unavailable(exc)
            for futures in batch.values():
                for f in futures:
                    if not f.done():
                        f.set_exception(exc)
            self._landed(lane)
            if not isinstance(exc, Exception):
                raise
            return
        self._landed(lane)
        handed: set[int] = set()
        shared: dict[int, dict[str, Any]] = {}  # per document found: the one its shared waiters get
        for key, futures in batch.items():
            doc = found.get(key)
            for f in futures:
                if f.done():
                    continue
                # Waiters each get their own document (a caller may change what it read), but shared ones.
                if doc is None:
                    f.set_result(None)
                elif f in sharing and id(doc) in shared:
                    f.set_result(shared[id(doc)])
                else:
                    own = self._own(doc, id(doc) in handed)
                    handed.add(id(doc))
                    if f in sharing:
                        shared[id(doc)] = own
                    f.set_result(own)

    def _own(self, found: Any, again: bool) -> dict[str, Any]:
        """A waiter's own document from what ``_lookup`` found: the first to get it gets it, the others a copy."""
        return copy.deepcopy(found) if again else found


class ReadCoalescer(Coalescer):
    """Reads by ``_id``, one lane per collection: concurrent reads of a collection share one ``$in`` command."""

    def get(self, collection: str, key: str, *, shared: bool = False) -> asyncio.Future[dict[str, Any] | None]:
        """A future of the stored document with ``_id`` ``key`` (None when absent); driver errors arrive as
        ``Unavailable``; ``shared``: as ``want``'s."""
        return self.want(collection, key, shared=shared)

    # What ``_lookup`` finds is each document's BSON bytes, decoded for each of its waiters: when several
    # requests read one resource at once (a hot Patient, Practitioner or Location), each gets its own dict from
    # the C decoder, not from copy.deepcopy (pure Python, several times the cost of the decoding).

    async def _lookup(self, lane: Any, keys: list[str]) -> dict[str, bytes]:
        return {_id_of(d): d for d in await self._find(lane, keys)}

    def _own(self, found: bytes, again: bool) -> dict[str, Any]:
        return decode(found, self.db.codec_options)

    async def _find(self, collection: str, keys: list[str]) -> list[bytes]:
        """The documents with these ``_id``s, as BSON, as one ``find`` command (``find_reply``). FHIR resources are
        small, so the whole batch almost always fits the first reply; past the 16 MB reply limit, the rest come
        through a driver cursor."""
        # The limit lets the server close the cursor with the first reply (a full batch alone would leave it open
        # for a getMore that finds nothing: there is at most one document per _id).
        reply = await self._find_command({"find": collection, "filter": {"_id": {"$in": keys}},
                                          "projection": NO_KEYS, "limit": len(keys), "batchSize": len(keys)})
        data, starts, cursor_id = raw_first_batch(reply)
        docs = rows_at(data, starts)  # (each decoded for its waiters)
        if await close_cursor(self.db, collection, cursor_id):
            have = {_id_of(d) for d in docs}
            rest = [k for k in keys if k not in have]
            raw = self.db[collection].with_options(codec_options=self._raw_codec())
            docs.extend(bytes(d.raw) for d in await raw.find({"_id": {"$in": rest}}, NO_KEYS).to_list(None))
        return docs

    async def _find_command(self, find: dict[str, Any]) -> Any:
        return await find_reply(self.db, find, self._raw_codec())

    def _raw_codec(self) -> CodecOptions[Any]:
        return self.db.codec_options.with_options(document_class=RawBSONDocument)


def id_end(data: bytes, at: int = 0, size: int | None = None) -> int:
    """Where the first element of the BSON document at ``at`` (``size`` bytes, by default as it says) ends when it
    is a string ``_id``, as the store writes and the server returns stored documents; 0 when it is not one."""
    if size is None:
        size = _INT32(data, at)[0]
    if size > 13 and data[at + 4] == 0x02 and data.startswith(b"_id\x00", at + 5):
        end: int = at + 13 + _INT32(data, at + 9)[0]
        if end <= at + size:
            return end
    return 0


def _id_of(data: bytes) -> Any:
    """The ``_id`` of a stored document's BSON: read off its first element (``id_end``), else found by decoding."""
    end = id_end(data)
    return data[13:end - 1].decode() if end else decode(data)["_id"]


# A waiter's own deadline this much before its batch's gets a timer of its own; closer ones ride with the batch.
LATE_S = 0.1


def batch_deadline(loop: asyncio.AbstractEventLoop, waiters: list[tuple[asyncio.Future[Any], float | None]]
                   ) -> float | None:
    """The seconds a batch's command may take: until the latest of its ``waiters``' deadlines (``time.monotonic()``
    instants), None when one of them has none. A waiter whose own deadline ends well before that is failed with
    ``Unavailable`` at its deadline, by a timer armed here."""
    until = None if any(d is None for _, d in waiters) else max(d for _, d in waiters if d is not None)
    now = time.monotonic()
    for fut, own in waiters:
        if own is not None and (until is None or own < until - LATE_S):
            timer = loop.call_later(max(0.0, own - now), _expire, fut)
            fut.add_done_callback(functools.partial(_cancel, timer))
    return None if until is None else until - now


def _cancel(timer: asyncio.TimerHandle, _done: asyncio.Future[Any]) -> None:
    timer.cancel()


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(Unavailable())


# The retryable reads specification's server errors (network errors and step-downs arrive as AutoReconnect):
# HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, ReadConcernMajorityNotAvailableYet,
# PrimarySteppedDown, ExceededTimeLimit, SocketException, NotWritablePrimary, InterruptedAtShutdown,
# InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.
RETRYABLE_READ_CODES = frozenset({6, 7, 89, 91, 134, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def retryable_read_error(exc: PyMongoError) -> bool:
    if isinstance(exc, ServerSelectionTimeoutError):
        return False  # no server to retry on: a retry would only wait as long again
    if isinstance(exc, AutoReconnect):
        return True
    return isinstance(exc, OperationFailure) and exc.code in RETRYABLE_READ_CODES


async def _command(db: AsyncDatabase[Any], command: dict[str, Any], codec_options: CodecOptions[Any] | None) -> Any:
    # As a cursor would: the database's read preference and codec options (a command's default is primary
    # and the driver's default codec options).
    return await db.command(command, read_preference=db.read_preference,
                            codec_options=db.codec_options if codec_options is None else codec_options)


async def find_reply(db: AsyncDatabase[Any], find: dict[str, Any], codec_options: CodecOptions[Any] | None = None,
                     ) -> Any:
    """The reply to a ``find`` command sent as such (with the database's read concern, decoded with
    ``codec_options``, by default the database's), retried once as the driver retries a cursor's find.

    For a query answered in one reply, a driver cursor's bookkeeping is a sixth of the driver's CPU time per round
    trip (reads by id, search pages); a reply that leaves a cursor open (its documents passed the 16 MB reply
    limit) is closed by ``close_cursor``, and its rest read through a driver cursor (a getMore must reuse the
    find's session and server, which only a cursor keeps)."""
    # A command sent as such does not take the database's read concern the way a driver cursor would.
    read_concern = db.read_concern.document
    if read_concern:
        find = {**find, "readConcern": read_concern}
    try:
        return await _command(db, find, codec_options)
    except (AutoReconnect, OperationFailure) as exc:
        # A cursor's find is retried once by the driver after a network error or a primary's step-down
        # (retryable reads); a command sent as such is not, so the same single retry is made here.
        if not retryable_read_error(exc) or not db.client.options.retry_reads:
            raise
        return await _command(db, find, codec_options)


async def close_cursor(db: AsyncDatabase[Any], collection: str, cursor_id: int) -> bool:
    """Close the cursor a ``find_reply`` left open (``cursor_id`` 0: it left none); whether it had one. (Else the
    server closes it when it has been idle a while.)"""
    if cursor_id:
        with contextlib.suppress(PyMongoError):
            await _command(db, {"killCursors": collection, "cursors": [cursor_id]}, None)
    return bool(cursor_id)


def raw_first_batch(reply: RawBSONDocument) -> tuple[bytes, list[int], int]:
    """A raw ``find`` reply's first batch read off its bytes: those bytes, where each document of the batch starts
    in them (its int32 length first), and the cursor id. No ``RawBSONDocument`` and no copy per row, nor of the
    ``cursor`` document (a page of 50 is ~240 KB): store/fragments.py reads the rows where they lie."""
    data = reply.raw
    if not isinstance(data, bytes) or data[4:12] != b"\x03cursor\x00":  # not the reply's first element (or a view)
        cursor: RawBSONDocument = reply["cursor"]
        data, at = bytes(cursor.raw), 0
    else:
        at = 12
    starts: list[int] = []
    cursor_id = 0
    end = at + _INT32(data, at)[0] - 1
    at += 4
    while at < end:
        kind = data[at]
        key_end = data.index(0, at + 1)
        key, at = data[at + 1:key_end], key_end + 1
        if kind == 0x04 and key == b"firstBatch":  # an array: elements of documents keyed "0", "1", ...
            stop = at + _INT32(data, at)[0] - 1
            at += 4
            while at < stop:
                if data[at] != 0x03:
                    raise ValueError("a find reply's firstBatch holds a non-document")
                at = data.index(0, at + 1) + 1
                starts.append(at)
                at += _INT32(data, at)[0]
            at = stop + 1
        elif kind == 0x12:  # int64: the cursor id
            if key == b"id":
                cursor_id = unpack_from("<q", data, at)[0]
            at += 8
        elif kind in (0x02, 0x03, 0x04):  # a string (ns) or another document: length-prefixed
            size = _INT32(data, at)[0]
            at += size + 4 if kind == 0x02 else size
        else:  # another kind (a server may add a timestamp, a boolean): the reply read the generic way
            cursor = reply["cursor"]
            return (*joined([bytes(d.raw) for d in cursor["firstBatch"]]), int(cursor["id"]))
    return data, starts, cursor_id


def joined(docs: list[bytes]) -> tuple[bytes, list[int]]:
    """BSON documents as ``raw_first_batch`` gives a batch: their bytes one after the other, and where each starts."""
    starts, at = [], 0
    for doc in docs:
        starts.append(at)
        at += len(doc)
    return b"".join(docs), starts


def rows_at(data: bytes, starts: list[int]) -> list[bytes]:
    """The documents of a batch (``raw_first_batch``), each as bytes of its own."""
    return [data[at:at + _INT32(data, at)[0]] for at in starts]


_INT32 = Struct("<i").unpack_from
