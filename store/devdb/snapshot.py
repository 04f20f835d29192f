"""A snapshot: the engine's whole state as the commands that rebuild it, read through the engine's own commands.

A snapshot is written as log records (store/devdb/wal.py): per collection a ``create``, a ``createIndexes``
with its indexes, then ``insert``s of its documents in stored order. Loading one replays those through the
engine like any log, so whatever the engine builds from its indexes is built again the same way. It is read
under the engine's lock (one consistent state: ``capture``) and written to disk outside it (``write``: a
temporary file, fsync, an atomic rename, the directory synced).
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument

from store.devdb import admin, reads
from store.devdb.codec import CODEC, Doc
from store.devdb.context import Context
from store.devdb.wal import SNAPSHOT_MAGIC, frame, sync_dir

INSERT_BYTES = 4 * 1024 * 1024  # documents per insert record: well under a record's and a command's limits


def capture(ctx: Context) -> list[bytes]:
    """Every database, collection, index and document of the engine, as encoded log records (call it holding the
    engine's lock)."""
    out: list[bytes] = []
    for db in admin.list_databases(ctx, "admin", {"listDatabases": 1, "nameOnly": True})["databases"]:
        name = db["name"]
        for info in _drain(ctx, name, admin.list_collections(ctx, name, {"listCollections": 1, "nameOnly": True})):
            coll = info["name"]
            out.append(_record(name, {"create": coll}))
            indexes = [i for i in _drain(ctx, name, admin.list_indexes(ctx, name, {"listIndexes": coll}))
                       if i["name"] != "_id_"]
            if indexes:
                out.append(_record(name, {"createIndexes": coll, "indexes": indexes}))
            out.extend(_inserts(name, coll, _raw(ctx, name, reads.find(ctx, name, {"find": coll, "batchSize": 0}))))
    return out


def write(path: Path, header: Doc, records: list[bytes]) -> int:
    """Write a snapshot durably in place of the one at ``path`` (if any); returns its size."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(SNAPSHOT_MAGIC)
        f.write(frame(bson.encode(header | {"records": len(records)}, codec_options=CODEC)))
        for body in records:
            f.write(frame(body))
        f.flush()
        os.fsync(f.fileno())
        size = f.tell()
    os.replace(tmp, path)
    sync_dir(path.parent)
    return size


def _record(db: str, cmd: Doc) -> bytes:
    return bson.encode({"db": db, "cmd": cmd}, codec_options=CODEC)


def _inserts(db: str, coll: str, docs: Iterable[RawBSONDocument]) -> Iterable[bytes]:
    batch: list[RawBSONDocument] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += len(doc.raw)
        if size >= INSERT_BYTES:
            yield _record(db, {"insert": coll, "documents": batch})
            batch, size = [], 0
    if batch:
        yield _record(db, {"insert": coll, "documents": batch})


def _raw(ctx: Context, db: str, reply: Doc) -> Iterable[RawBSONDocument]:
    """The documents of a cursor reply and of every getMore after it, encoded as the batches hold them."""
    cursor = reply["cursor"]
    batch = cursor.get("firstBatch", [])
    while True:
        yield from batch
        if not cursor["id"]:
            return
        cursor = reads.get_more(ctx, db, {"getMore": cursor["id"], "collection": cursor["ns"].split(".", 1)[1],
                                          "batchSize": 0})["cursor"]
        batch = cursor["nextBatch"]


def _drain(ctx: Context, db: str, reply: Doc) -> list[Any]:
    return [bson.decode(doc.raw, CODEC) for doc in _raw(ctx, db, reply)]
