"""The administration commands: indexes, collections and databases; the handshake and what a server reports
about itself; sessions and transactions (a standalone has none)."""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping

from bson.int64 import Int64
from mongomock import filtering
from mongomock import helpers as mm_helpers
from pymongo.errors import OperationFailure

from store.devdb.codec import MAX_BSON_SIZE, Doc
from store.devdb.collection import Collection
from store.devdb.context import Context
from store.devdb.cursor import Cursor
from store.devdb.errors import CommandError
from store.devdb.index import indexes_of
from store.devdb.wire import MAX_MESSAGE_SIZE

VERSION = "6.0.0-devdb"
MAX_WRITE_BATCH = 100_000
NO_TXN = "Transaction numbers are only allowed on a replica set member or mongos"


# --- indexes and namespaces ------------------------------------------------------------------------------


def _index_count(coll: Collection) -> int:
    return 1 + len(coll._store.indexes) if coll._store.is_created else 0


def build_indexes(ctx: Context, db: str, cmd: Doc) -> Doc:
    """``{fhirgraphBuildIndexes: 1}``, devdb's own command: bring the indexes of every collection of ``db`` up to
    date now. They are otherwise built by a collection's first query after a bulk load or a recovery
    (store/devdb/index.py), which at clinic scale takes longer than a request may wait; the demo loader and the
    start-up after a recovery build them before anyone queries."""
    started = time.monotonic()
    names = ctx.client.get_database(db).list_collection_names()
    for name in names:
        indexes_of(ctx.coll(db, name)._store)
    return {"collections": len(names), "seconds": round(time.monotonic() - started, 3)}


def build_all_indexes(ctx: Context) -> int:
    """``build_indexes`` for every database; returns how many collections."""
    return sum(int(build_indexes(ctx, db, {})["collections"]) for db in ctx.client.list_database_names())


def create_indexes(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["createIndexes"])
    existed, before = bool(coll._store.is_created), _index_count(coll)
    for spec in cmd.get("indexes") or []:
        key = list(spec["key"].items())
        name = spec.get("name") or mm_helpers.gen_index_name(key)
        if name == "_id_" or key == [("_id", 1)]:
            continue  # implicit and always there
        options = {k: spec[k] for k in ("unique", "sparse") if spec.get(k)}
        options |= {k: spec[k] for k in ("expireAfterSeconds", "partialFilterExpression") if k in spec}
        if coll._store.indexes.get(name) == {"key": key, **options}:
            continue  # as mongomock stores it: re-creating would re-check every document for nothing
        try:
            coll.create_index(key, name=name, **options)
        except OperationFailure as exc:
            if exc.code is None:  # mongomock's "already exists with different options"
                raise CommandError(85, str(exc)) from exc
            raise
        coll._store._ttl_indexes.pop(name, None)  # swept by the engine, not scanned on every access
    coll._store.create()
    after = _index_count(coll)
    reply = {"createdCollectionAutomatically": not existed, "numIndexesBefore": before,
             "numIndexesAfter": after}
    return reply | ({"note": "all indexes already exist"} if before == after else {})


def list_indexes(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.existing(db, cmd["listIndexes"])
    cursor = Cursor(coll.full_name, list(coll.list_indexes()))
    return ctx.cursors.reply(cursor, (cmd.get("cursor") or {}).get("batchSize"))


def drop_indexes(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.existing(db, cmd["dropIndexes"])
    was, wanted = _index_count(coll), cmd.get("index")
    if wanted == "*":
        coll.drop_indexes()
        return {"nIndexesWas": was}
    if isinstance(wanted, Mapping):
        names = [n for n, spec in coll._store.indexes.items() if dict(spec["key"]) == dict(wanted)]
        if not names:
            raise CommandError(27, f"can't find index with key: {dict(wanted)}")
    else:
        names = wanted if isinstance(wanted, list) else [wanted]
    for name in names:
        if name == "_id_":
            raise CommandError(72, "cannot drop _id index")
        if name not in coll._store.indexes:
            raise CommandError(27, f"index not found with name [{name}]")
        coll.drop_index(name)
    return {"nIndexesWas": was}


def list_collections(ctx: Context, db: str, cmd: Doc) -> Doc:
    names = ctx.client.get_database(db)._store.list_created_collection_names()
    id_index = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
    infos = [{"name": n, "type": "collection", "options": {}, "info": {"readOnly": False},
              "idIndex": id_index} for n in sorted(names)]
    infos = [i for i in infos if filtering.filter_applies(cmd.get("filter") or {}, i)]
    if cmd.get("nameOnly"):
        infos = [{"name": i["name"], "type": i["type"]} for i in infos]
    cursor = Cursor(f"{db}.$cmd.listCollections", infos)
    return ctx.cursors.reply(cursor, (cmd.get("cursor") or {}).get("batchSize"))


def create(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["create"])
    if coll._store.is_created:
        raise CommandError(48, f"Collection {coll.full_name} already exists.")
    coll._store.create()
    return {}


def drop(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["drop"])
    was = _index_count(coll)
    coll.drop()
    return {"nIndexesWas": was, "ns": coll.full_name}


def drop_database(ctx: Context, db: str, cmd: Doc) -> Doc:
    ctx.client.drop_database(db)
    return {"dropped": db}


def list_databases(ctx: Context, db: str, cmd: Doc) -> Doc:
    names = ctx.client.list_database_names()
    if cmd.get("nameOnly"):
        return {"databases": [{"name": n} for n in names]}
    return {"databases": [{"name": n, "sizeOnDisk": 0, "empty": False} for n in names], "totalSize": 0}


# --- the server ------------------------------------------------------------------------------------------


def hello(ctx: Context, db: str, cmd: Doc) -> Doc:
    # A standalone (no setName): the store then uses no transactions and no change streams.
    return {
        "ismaster": True, "isWritablePrimary": True, "helloOk": True, "maxBsonObjectSize": MAX_BSON_SIZE,
        "maxMessageSizeBytes": MAX_MESSAGE_SIZE, "maxWriteBatchSize": MAX_WRITE_BATCH,
        "localTime": dt.datetime.now(dt.UTC), "logicalSessionTimeoutMinutes": 30,
        "connectionId": ctx.conn_id, "minWireVersion": 0, "maxWireVersion": 17, "readOnly": False,
    }


def build_info(ctx: Context, db: str, cmd: Doc) -> Doc:
    return {"version": VERSION, "gitVersion": "devdb", "versionArray": [6, 0, 0, 0], "bits": 64,
            "maxBsonObjectSize": MAX_BSON_SIZE, "storageEngines": ["devdb-mongomock"], "modules": []}


def get_parameter(ctx: Context, db: str, cmd: Doc) -> Doc:
    wanted = cmd.get("featureCompatibilityVersion") or cmd.get("getParameter") == "*"
    return {"featureCompatibilityVersion": {"version": "6.0"}} if wanted else {}


def cmd_line_opts(ctx: Context, db: str, cmd: Doc) -> Doc:
    return {"argv": ["fhirgraph", "devdb"], "parsed": {}}


def server_status(ctx: Context, db: str, cmd: Doc) -> Doc:
    return {"host": "devdb", "version": VERSION, "process": "fhirgraph-devdb", "pid": Int64(os.getpid()),
            "uptime": time.monotonic() - ctx.started, "localTime": dt.datetime.now(dt.UTC),
            "connections": {"current": ctx.connections, "available": 10_000}}


def empty(ctx: Context, db: str, cmd: Doc) -> Doc:
    return {}


def no_txn(ctx: Context, db: str, cmd: Doc) -> Doc:
    raise CommandError(20, NO_TXN)
