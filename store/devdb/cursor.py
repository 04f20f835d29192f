"""Cursors: a query's result list handed out in batches (firstBatch, then getMore), within a reply's size.

A find's results are the stored bytes of its documents as they were when it ran (store/devdb/documents.py):
they go into the reply as they are, less what an exclusion projection leaves out."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import bson
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument

from store.devdb.codec import CODEC, MAX_BSON_SIZE, Doc
from store.devdb.collection import Collection
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
        batch = _next_batch(cursor, DEFAULT_BATCH if batch_size is None else batch_size, first=True)
        cursor_id = 0
        if cursor.pos < len(cursor.docs) and not single_batch:
            cursor_id = self._register(cursor)
        return {"cursor": {"firstBatch": batch, "id": Int64(cursor_id), "ns": cursor.ns}, "ok": 1.0}

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
        return {"cursor": {"nextBatch": batch, "id": Int64(cursor_id), "ns": ns}}

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


def _next_batch(cursor: Cursor, size: int, first: bool = False) -> list[RawBSONDocument]:
    """Up to ``size`` documents (0: no count limit; the byte budget always applies), as BSON."""
    batch: list[RawBSONDocument] = []
    used = 0
    while cursor.pos < len(cursor.docs) and (len(batch) < size or (size <= 0 and not first)):
        doc = cursor.docs[cursor.pos]
        raw = doc if isinstance(doc, bytes) else bson.encode(doc, codec_options=CODEC)
        if cursor.projection and cursor.coll is not None:
            raw = cursor.coll.project(raw, cursor.projection)
        if batch and used + len(raw) > BATCH_BYTES:
            break
        batch.append(RawBSONDocument(raw))  # embedded in the reply as they are
        used += len(raw)
        cursor.pos += 1
    return batch
