"""Cursors: a query's result list handed out in batches (firstBatch, then getMore), within a reply's size.

A find's results are the stored bytes of its documents as they were when it ran (store/devdb/documents.py):
they go into the reply as they are, less what an exclusion projection leaves out. The reply's ``cursor`` document
is put together from them as bytes, once (a page of 50 is ~240 KB: encoding it through a list of one
``RawBSONDocument`` per document was a sixth of devdb's time per search page, bench/README.md), and the reply's
message is framed around those bytes (store/devdb/wire.py ``op_msg_parts``), not copied again."""

from __future__ import annotations

import itertools
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import bson
from bson.raw_bson import RawBSONDocument

from store.devdb.codec import CODEC, MAX_BSON_SIZE, Doc
from store.devdb.collection import Collection, projection_cut
from store.devdb.errors import CommandError

BATCH_BYTES = MAX_BSON_SIZE - 64 * 1024  # a batch must fit in one reply document, envelope included
DEFAULT_BATCH = 101  # MongoDB's first batch when the client names no batchSize
MAX_CURSORS, CURSOR_IDLE_S = 1000, 600.0


@dataclass
class Cursor:
    ns: str
    docs: Sequence[bytes | Doc]  # stored bytes (a find's), or documents to encode (any other command's)
    coll: Collection | None = None
    projection: Doc | None = None
    pos: int = 0
    touched: float = field(default_factory=time.monotonic)


class Cursors:
    """The open cursors of one engine, kept for getMore until exhausted, killed, evicted or idle too long."""

    def __init__(self) -> None:
        self._open: OrderedDict[int, Cursor] = OrderedDict()
        self._ids = itertools.count(1)

    def reply(self, cursor: Cursor, batch_size: int | None, single_batch: bool = False) -> Doc:
        """The reply of the command that opened ``cursor``: its first batch, and an id if more is left."""
        size = DEFAULT_BATCH if batch_size is None else batch_size
        whole = cursor.coll is not None and 0 < len(cursor.docs) <= size  # a find's rows, all in one batch
        if whole:
            found = BATCHES.get(cursor)
            if found is not None:
                cursor.pos = len(cursor.docs)
                return {"cursor": found, "ok": 1.0}
        batch = _next_batch(cursor, size, first=True)
        cursor_id = 0
        if cursor.pos < len(cursor.docs) and not single_batch:
            cursor_id = self._register(cursor)
        document = _cursor_document("firstBatch", batch, cursor_id, cursor.ns)
        if whole and cursor.pos == len(cursor.docs):
            BATCHES.put(cursor, document)
        return {"cursor": document, "ok": 1.0}

    def get_more(self, ns: str, cursor_id: int, batch_size: int) -> Doc:
        cursor = self._open.get(cursor_id)
        if cursor is None or cursor.ns != ns:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        batch = _next_batch(cursor, batch_size)
        if cursor.pos >= len(cursor.docs):
            del self._open[cursor_id]
            cursor_id = 0
        else:
            cursor.touched = time.monotonic()
            self._open.move_to_end(cursor_id)
        return {"cursor": _cursor_document("nextBatch", batch, cursor_id, ns)}

    def kill(self, ids: list[int]) -> Doc:
        killed = [i for i in ids if self._open.pop(i, None) is not None]
        missing = [i for i in ids if i not in killed]
        return {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [], "cursorsUnknown": []}

    def _register(self, cursor: Cursor) -> int:
        """Keep a cursor for getMore; evict the least recently used beyond the cap or idle too long."""
        now = time.monotonic()
        while self._open:
            oldest_id, oldest = next(iter(self._open.items()))
            if len(self._open) < MAX_CURSORS and now - oldest.touched < CURSOR_IDLE_S:
                break
            del self._open[oldest_id]
        cursor_id = next(self._ids)
        self._open[cursor_id] = cursor
        return cursor_id


def _next_batch(cursor: Cursor, size: int, first: bool = False) -> list[bytes]:
    """Up to ``size`` documents (0: no count limit; the byte budget always applies), as BSON."""
    batch: list[bytes] = []
    used = 0
    coll, projection = cursor.coll, cursor.projection
    how = projection_cut(projection) if projection and coll is not None else None  # once per batch, not per doc
    while cursor.pos < len(cursor.docs) and (len(batch) < size or (size <= 0 and not first)):
        doc = cursor.docs[cursor.pos]
        raw = doc if isinstance(doc, bytes) else bson.encode(doc, codec_options=CODEC)
        if projection and coll is not None:
            raw = coll.project(raw, projection, how)
        if batch and used + len(raw) > BATCH_BYTES:
            break
        batch.append(raw)
        used += len(raw)
        cursor.pos += 1
    return batch


class _Batches:
    """The cursor documents of finds answered in one batch, by the stored bytes of their rows (in order), the
    collection and the projection: the same rows cut by the same projection are the same document, so a page read
    again (the query is run every time: these are its rows, found afresh) is not cut and joined again (a page of
    50 was ~40 µs of devdb's time a search, bench/README.md). Stored bytes never change — a write stores new ones —
    so rows equal to those held are the same rows. Bounded by bytes, the least recently used out first; one per
    process (the engines of several in-process servers share it: a lock)."""

    MAX_BYTES = 16 * 1024 * 1024

    def __init__(self) -> None:
        # by (namespace, the rows, the projection's cut's identity): that cut (kept: no other takes its id while
        # held), the document and the bytes it holds, the rows' (old versions kept alive too) with its own
        self._held: OrderedDict[tuple[str, tuple[bytes | Doc, ...], int], tuple[object, RawBSONDocument, int]] = \
            OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def _key(self, cursor: Cursor) -> tuple[tuple[str, tuple[bytes | Doc, ...], int], object]:
        how = projection_cut(cursor.projection) if cursor.projection else None
        return (cursor.ns, tuple(cursor.docs), id(how)), how

    def get(self, cursor: Cursor) -> RawBSONDocument | None:
        key, how = self._key(cursor)
        with self._lock:
            found = self._held.get(key)
            if found is None or found[0] is not how:
                return None
            self._held.move_to_end(key)
            return found[1]

    def put(self, cursor: Cursor, document: RawBSONDocument) -> None:
        if self.MAX_BYTES <= 0:
            return
        key, how = self._key(cursor)
        with self._lock:
            old = self._held.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            size = len(document.raw) + sum(len(d) for d in key[1] if isinstance(d, bytes))
            self._held[key] = (how, document, size)
            self._bytes += size
            while self._bytes > self.MAX_BYTES:
                self._bytes -= self._held.popitem(last=False)[1][2]


BATCHES = _Batches()
RAW = CODEC.with_options(document_class=RawBSONDocument)
_INT32, _INT64 = struct.Struct("<i"), struct.Struct("<q")


def _cursor_document(name: str, batch: list[bytes], cursor_id: int, ns: str) -> RawBSONDocument:
    """``{<name>: [...batch], id: <int64>, ns: <string>}`` as BSON (https://bsonspec.org/spec.html), joined once:
    the documents embedded as they are, each an element of type 0x03 named by its index."""
    elements: list[bytes] = []
    for i, raw in enumerate(batch):
        elements.append(b"\x03%d\x00" % i)
        elements.append(raw)
    array_size = 4 + sum(map(len, elements)) + 1
    ns_bytes = ns.encode()
    key = b"\x04" + name.encode() + b"\x00"
    tail = b"\x00\x12id\x00" + _INT64.pack(cursor_id) + b"\x02ns\x00" + _INT32.pack(len(ns_bytes) + 1) + ns_bytes \
        + b"\x00\x00"  # the array's end, id, ns, the document's end
    size = 4 + len(key) + array_size - 1 + len(tail)
    return RawBSONDocument(b"".join((_INT32.pack(size), key, _INT32.pack(array_size), *elements, tail)), RAW)
