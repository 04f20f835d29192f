"""A snapshot: the engine's whole state as the commands that rebuild it.

A snapshot is written as log records (store/devdb/wal.py): per collection a ``create``, a ``createIndexes``
with its indexes, then ``insert``s of its documents in stored order. Loading one replays those through the
engine like any log, so whatever the engine builds from its indexes is built again the same way.

Taking one does not stop the store. Stored documents are immutable bytes (store/devdb/documents.py: a write
stores a new bytes object, it never changes one), so one consistent state is cheap to hold on to: ``capture``,
under the engine's lock, copies each collection's references to its documents' bytes (a list of pointers) with
the database and collection names and the index specs — milliseconds for a 1,000-patient demo clinic — and
everything else, encoding the records and writing them (``write``: a temporary file, fsync, an atomic rename,
the directory synced), runs outside the lock while the store keeps serving. Meanwhile the bytes of documents
changed or deleted since the capture stay in memory, until the snapshot is written. The insert records are joined
as bytes by hand (``_insert_record``): encoding them through ``bson`` wanted a ``RawBSONDocument`` per document,
and those allocations set off full collections of the whole process that held every other thread up.
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson

from store.devdb import admin, reads
from store.devdb.codec import CODEC, Doc
from store.devdb.context import Context
from store.devdb.documents import Held, full
from store.devdb.wal import SNAPSHOT_MAGIC, frame, sync_dir

INSERT_BYTES = 4 * 1024 * 1024  # documents per insert record: well under a record's and a command's limits


@dataclass
class Captured:
    """One collection as it was when captured: its index specs (besides ``_id_``) and its documents' bytes."""

    db: str
    name: str
    indexes: list[Doc]
    held: list[Held]


@dataclass
class View:
    """The engine's state at one instant (``capture``), to be written out later (``write``)."""

    collections: list[Captured]

    @property
    def documents(self) -> int:
        return sum(len(c.held) for c in self.collections)


def capture(ctx: Context) -> View:
    """Every database, collection, index and document of the engine as it is now (call it holding the engine's
    lock): the documents are the stored bytes objects themselves, not copies."""
    out: list[Captured] = []
    for db in admin.list_databases(ctx, "admin", {"listDatabases": 1, "nameOnly": True})["databases"]:
        name = db["name"]
        for info in _drain(ctx, name, admin.list_collections(ctx, name, {"listCollections": 1, "nameOnly": True})):
            coll = info["name"]
            indexes = [i for i in _drain(ctx, name, admin.list_indexes(ctx, name, {"listIndexes": coll}))
                       if i["name"] != "_id_"]
            out.append(Captured(name, coll, indexes, list(ctx.coll(name, coll).documents.held.values())))
    return View(out)


def write(path: Path, header: Doc, view: View) -> int:
    """Write ``view`` durably in place of the snapshot at ``path`` (if any); returns its size. Runs without the
    engine's lock (the view holds only immutable bytes)."""
    plan = _plan(view)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(SNAPSHOT_MAGIC)
        f.write(frame(bson.encode(header | {"records": len(plan)}, codec_options=CODEC)))
        for body in _records(plan):
            f.write(frame(body))
        f.flush()
        os.fsync(f.fileno())
        size = f.tell()
    os.replace(tmp, path)
    sync_dir(path.parent)
    return size


_INT32 = struct.Struct("<i")

# A record to write: (db, command) for a create or createIndexes; (db, collection, documents) for an insert.
_Planned = tuple[str, Doc] | tuple[str, str, list[Held]]


def _plan(view: View) -> list[_Planned]:
    """The records ``view`` is written as, each insert's documents chosen by size (so their count, which the
    header carries, is known before any is encoded)."""
    plan: list[_Planned] = []
    for c in view.collections:
        plan.append((c.db, {"create": c.name}))
        if c.indexes:
            plan.append((c.db, {"createIndexes": c.name, "indexes": c.indexes}))
        start = size = 0
        for i, held in enumerate(c.held):
            size += _size(held)
            if size >= INSERT_BYTES:
                plan.append((c.db, c.name, c.held[start:i + 1]))
                start, size = i + 1, 0
        if start < len(c.held):
            plan.append((c.db, c.name, c.held[start:]))
    return plan


def _records(plan: list[_Planned]) -> Iterator[bytes]:
    for planned in plan:
        if len(planned) == 2:
            yield _record(planned[0], planned[1])
        else:
            yield _insert_record(*planned)


def _insert_record(db: str, coll: str, batch: list[Held]) -> bytes:
    """``_record(db, {"insert": coll, "documents": [...]})`` with the documents' bytes, the same bytes, joined
    as BSON by hand: it allocates only bytes objects, which the cyclic collector does not track, so the write
    running in the background sets off no collection that would hold every other thread up."""
    documents = _document(b"".join([b"\x03%d\x00%s" % (i, full(h)) for i, h in enumerate(batch)]))
    cmd = _document(_string(b"insert", coll) + b"\x04documents\x00" + documents)
    return _document(_string(b"db", db) + b"\x03cmd\x00" + cmd)


def _document(elements: bytes) -> bytes:
    return _INT32.pack(len(elements) + 5) + elements + b"\x00"


def _string(key: bytes, value: str) -> bytes:
    data = value.encode()
    return b"\x02" + key + b"\x00" + _INT32.pack(len(data) + 1) + data + b"\x00"


def _size(held: Held) -> int:
    return len(held) if isinstance(held, bytes) else len(held.head) + len(held.source) - held.at


def _record(db: str, cmd: Doc) -> bytes:
    return bson.encode({"db": db, "cmd": cmd}, codec_options=CODEC)


def _drain(ctx: Context, db: str, reply: Doc) -> list[Any]:
    """The documents of a cursor reply and of every getMore after it, decoded."""
    out: list[Any] = []
    cursor = reply["cursor"]
    batch = cursor.get("firstBatch", [])
    while True:
        out.extend(bson.decode(doc.raw, CODEC) for doc in batch)
        if not cursor["id"]:
            return out
        cursor = reads.get_more(ctx, db, {"getMore": cursor["id"], "collection": cursor["ns"].split(".", 1)[1],
                                          "batchSize": 0})["cursor"]
        batch = cursor["nextBatch"]

