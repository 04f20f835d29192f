"""fhirgraph devdb: a MongoDB-wire-protocol server over mongomock, for trials and tests only.

No MongoDB server can be installed on our development and CI machines (shared/DESIGN.md, decision 3), yet
the store always talks through the real PyMongo driver. devdb speaks enough of the wire protocol (OP_MSG, plus
the legacy OP_QUERY handshake) for ``pymongo.AsyncMongoClient`` and ``MongoClient`` to see a standalone
MongoDB 6.0 server, and runs the commands against one in-memory ``mongomock`` client::

    devdb = DevDB(); devdb.start_in_thread(); AsyncMongoClient(devdb.uri)  # tests, `fhirgraph serve`
    main_devdb("127.0.0.1", 27018)                                         # `fhirgraph devdb --port 27018`

Every command runs to completion on the server's one event-loop thread, under one lock: mongomock is not
thread-safe, and it makes each command atomic for every connected process, so findAndModify and conditional
updates such as ``{_id: x, "_sys.v": 3}`` (the store's optimistic locking) succeed exactly once.

Fast paths over mongomock, which otherwise scans the whole collection for every query:
- a filter pinning ``_id`` (equality, ``$eq``, ``$in``, also inside ``$and``) fetches by key, in O(1);
- a find or findAndModify with a limit, sorted by ``_id`` alone (the store's keyset pages) or not sorted,
  walks the documents in that order and stops at the limit, instead of filtering and sorting them all;
- unique indexes keep a hash of their keys, so inserts and updates check uniqueness without a scan;
- TTL indexes are swept at most once a second (MongoDB: every 60 s) instead of on every access.

What devdb does not do:
- transactions (it is a standalone: txnNumber, commitTransaction, abortTransaction fail with code 20),
  change streams, tailable cursors, authentication, compression, collation, create options (validators,
  capped: ignored), renameCollection, explain;
- indexes: every query not pinned by ``_id`` scans the collection (indexes are metadata; unique ones and TTL
  ones are enforced);
- sort on an array path uses the array's first element (mongomock), not its min/max as MongoDB does;
- what mongomock lacks ($lookup with let/pipeline, $merge, arrayFilters, ...) fails with code 238;
- a cursor's result list is fixed when the query runs; later batches encode those documents as they are then;
- durability: data lives in memory and is lost when the process exits.
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import functools
import itertools
import json
import logging
import operator
import os
import re
import signal
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import bson
import mongomock
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from bson.regex import Regex
from mongomock import aggregate as mm_aggregate
from mongomock import filtering
from mongomock import helpers as mm_helpers
from mongomock.collection import Collection as _MockCollection
from mongomock.collection import _copy_field
from pymongo.errors import DuplicateKeyError, InvalidName, OperationFailure

log = logging.getLogger("fhirgraph.devdb")

Doc = dict[str, Any]

# The engine keeps values as BSON gave them, so they go back out unchanged: datetimes naive UTC (mongomock
# stores them so and compares with Python operators, which fail between aware and naive values) and UUIDs as
# Binary subtype 4 (mongomock re-encodes documents with default options, which refuse uuid.UUID). Clients
# decode replies with their own options (tz_aware, uuidRepresentation="standard").
CODEC: CodecOptions[Doc] = CodecOptions(tz_aware=False, uuid_representation=UuidRepresentation.UNSPECIFIED)

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
_HEADER = struct.Struct("<iiii")
_CHECKSUM_PRESENT, _MORE_TO_COME = 1 << 0, 1 << 1
MAX_BSON_SIZE, MAX_MESSAGE_SIZE, MAX_WRITE_BATCH = 16 * 1024 * 1024, 48_000_000, 100_000
BATCH_BYTES = MAX_BSON_SIZE - 64 * 1024  # a batch must fit in one reply document, envelope included
DEFAULT_BATCH = 101  # MongoDB's first batch when the client names no batchSize
MAX_CURSORS, CURSOR_IDLE_S, TTL_SWEEP_S = 1000, 600.0, 1.0
VERSION = "6.0.0-devdb"
_NO_TXN = "Transaction numbers are only allowed on a replica set member or mongos"

_CODE_NAMES = {
    2: "BadValue", 9: "FailedToParse", 20: "IllegalOperation", 26: "NamespaceNotFound", 27: "IndexNotFound",
    43: "CursorNotFound", 48: "NamespaceExists", 59: "CommandNotFound", 72: "InvalidOptions",
    73: "InvalidNamespace", 85: "IndexOptionsConflict", 238: "NotImplemented", 11000: "DuplicateKey",
}


class CommandError(Exception):
    """A command failure as MongoDB reports it: errmsg, code, and any extra reply fields."""

    def __init__(self, code: int, errmsg: str, **extra: Any):
        super().__init__(errmsg)
        self.code, self.errmsg, self.extra = code, errmsg, extra


def _error_fields(exc: BaseException) -> Doc:
    """errmsg and code (and keyPattern/keyValue for duplicates) of any failure, as MongoDB words them."""
    if isinstance(exc, CommandError):
        return {"errmsg": exc.errmsg, "code": exc.code, **exc.extra}
    if isinstance(exc, DuplicateKeyError):
        details = exc.details or {}
        fields = {"errmsg": details.get("errmsg", str(exc)), "code": 11000}
        return fields | {k: details[k] for k in ("keyPattern", "keyValue") if k in details}
    if isinstance(exc, OperationFailure):
        return {"errmsg": str(exc), "code": exc.code or 2}
    if isinstance(exc, InvalidName):
        return {"errmsg": str(exc), "code": 73}
    if isinstance(exc, NotImplementedError):
        return {"errmsg": f"not supported by devdb (mongomock): {exc}", "code": 238}
    # mongomock reports many user errors as TypeError/ValueError ($inc on a string, mixed projections), so
    # these are replies, not incidents: the type name stays in errmsg, the traceback goes to the debug log.
    log.debug("devdb: command failed", exc_info=exc)
    return {"errmsg": f"{type(exc).__name__}: {exc}", "code": 2}


def _error_reply(exc: BaseException) -> Doc:
    fields = _error_fields(exc)
    return {"ok": 0.0, **fields, "codeName": _CODE_NAMES.get(fields["code"], "UnknownError")}


# --- wire protocol (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/) ------------------


def _parse_op_msg(payload: bytes) -> tuple[int, Doc]:
    """(flagBits, command): the kind-0 body, each kind-1 document sequence merged in under its identifier."""
    (flags,) = struct.unpack_from("<I", payload)
    end = len(payload) - (4 if flags & _CHECKSUM_PRESENT else 0)
    pos, body, sequences = 4, None, cast(dict[str, list[Doc]], {})
    while pos < end:
        kind = payload[pos]
        (size,) = struct.unpack_from("<i", payload, pos + 1)
        if kind == 0:
            body = bson.decode(payload[pos + 1 : pos + 1 + size], CODEC)
        elif kind == 1:
            name_end = payload.index(b"\x00", pos + 5)
            name = payload[pos + 5 : name_end].decode()
            docs = bson.decode_all(payload[name_end + 1 : pos + 1 + size], CODEC)
            sequences.setdefault(name, []).extend(docs)
        else:
            raise ValueError(f"unknown OP_MSG section kind {kind}")
        pos += 1 + size
    if body is None:
        raise ValueError("OP_MSG without a body section")
    return flags, body | sequences


def _parse_op_query(payload: bytes) -> tuple[str, Doc]:
    """(namespace, query) of a legacy OP_QUERY; drivers send only their first handshake this way."""
    name_end = payload.index(b"\x00", 4)
    start = name_end + 9  # skip numberToSkip, numberToReturn
    (size,) = struct.unpack_from("<i", payload, start)
    query = bson.decode(payload[start : start + size], CODEC)
    return payload[4:name_end].decode(), query.get("$query", query)


def _op_msg(request_id: int, response_to: int, doc: Doc) -> bytes:
    body = b"\x00\x00\x00\x00\x00" + bson.encode(doc, codec_options=CODEC)  # flagBits 0, one kind-0 section
    return _HEADER.pack(16 + len(body), request_id, response_to, OP_MSG) + body


def _op_reply(request_id: int, response_to: int, doc: Doc) -> bytes:
    body = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(doc, codec_options=CODEC)
    return _HEADER.pack(16 + len(body), request_id, response_to, OP_REPLY) + body


# --- mongomock with lookups by key instead of scans ------------------------------------------------------


def _store_key(value: Any) -> Any:
    """The key mongomock files a document under (embedded-document _ids are wrapped to be hashable)."""
    return mm_helpers.hashdict(value) if isinstance(value, dict) else value


_by_id = operator.itemgetter("_id")


def _id_lookup(filter: Any) -> list[Any] | None:
    """Store keys of the only documents ``filter`` can match when it pins ``_id``; None when it does not."""
    if not isinstance(filter, Mapping):
        return None
    if "_id" not in filter:
        # Any conjunct pinning _id narrows the whole conjunction.
        conjuncts = filter.get("$and")
        return next((k for k in map(_id_lookup, conjuncts) if k is not None), None) if conjuncts else None
    cond = filter["_id"]
    values = [cond]
    if isinstance(cond, Mapping) and any(str(k).startswith("$") for k in cond):
        if "$eq" in cond:
            values = [cond["$eq"]]
        elif isinstance(cond.get("$in"), list):
            values = cond["$in"]
        else:
            return None
    if any(isinstance(v, (re.Pattern, Regex, list)) for v in values):
        return None  # a pattern or array is not one key
    try:
        return list(dict.fromkeys(_store_key(v) for v in values))
    except TypeError:
        return None


def _path_values(doc: Any, path: str) -> list[Any]:
    """Every value an index on ``path`` holds for ``doc``: arrays on the way are expanded (multikey)."""
    values = [doc]
    for part in path.split("."):
        found = []
        for value in values:
            if isinstance(value, dict):
                if part in value:
                    found.append(value[part])
            elif isinstance(value, list):
                found.extend(item[part] for item in value if isinstance(item, dict) and part in item)
                if part.isdigit() and int(part) < len(value):
                    found.append(value[int(part)])
        values = found
    return [item for value in values for item in (value if isinstance(value, list) else [value])]


def _hashable(value: Any) -> Any:
    """A hashable stand-in with MongoDB's equality (1 == 1.0, but true != 1)."""
    if isinstance(value, bool):
        return ("\0bool", value)
    if isinstance(value, dict):
        return ("\0doc", tuple((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("\0arr", tuple(_hashable(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("\0repr", repr(value))
    return value


def _index_entries(doc: Doc, index: Doc) -> dict[Any, Doc]:
    """{hash key: keyValue} per entry a unique index holds for ``doc`` (none if sparse/partial omit it)."""
    partial = index.get("partialFilterExpression")
    if partial is not None and not filtering.filter_applies(partial, doc):
        return {}
    fields = [name for name, _ in index["key"]]
    per_field = [_path_values(doc, name) for name in fields]
    if index.get("sparse") and not any(per_field):
        return {}
    combos = itertools.product(*[values or [None] for values in per_field])
    return {tuple(map(_hashable, combo)): dict(zip(fields, combo, strict=True)) for combo in combos}


_TYPE_RANKS: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (bool, 8), ((int, float), 2), (str, 3), (bson.ObjectId, 7), (dt.datetime, 9))


def _order_key(value: Any) -> tuple[int, Any] | None:
    """A sort key following BSON's order of types; None for an _id this fast path does not order."""
    for types, rank in _TYPE_RANKS:
        if isinstance(value, types):
            return (rank, value)
    return None


def _duplicate(coll: _MockCollection, index: str, key_pattern: Doc, key_value: Doc) -> DuplicateKeyError:
    shown = ", ".join(f"{k}: {json.dumps(v, default=str)}" for k, v in key_value.items())
    errmsg = f"E11000 duplicate key error collection: {coll.full_name} index: {index} dup key: {{ {shown} }}"
    details = {"errmsg": errmsg, "code": 11000, "keyPattern": key_pattern, "keyValue": key_value}
    return DuplicateKeyError(errmsg, 11000, details)


def _without(doc: Doc, projection: Doc) -> Doc | None:
    """``doc`` with the fields of an exclusion-only projection (``{"a.b": 0, ...}``) left out, copying only the
    documents along the excluded paths (the result is encoded, never changed); None for any other projection
    or when a path crosses an array (mongomock applies those)."""
    if not all(v in (0, False) and not k.startswith("$") for k, v in projection.items()):
        return None
    out = dict(doc)
    for path in projection:
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if isinstance(child, list):
                return None
            if not isinstance(child, dict):
                break  # nothing at this path to leave out
            node[part] = node = dict(child)
        else:
            node.pop(leaf, None)
    return out


class _Collection(_MockCollection):
    """mongomock's Collection, with lookups by ``_id`` and hashed unique indexes instead of full scans."""

    def _iter_documents(self, filter: Doc) -> Iterator[Doc]:
        keys = _id_lookup(filter)
        if keys is None:
            return cast(Iterator[Doc], super()._iter_documents(filter))
        documents = self._store._documents
        found = (documents.get(key) for key in keys)
        strings = all(type(k) is str for k in keys)
        if len(filter) == 1 and strings:
            docs = [doc for doc in found if doc is not None]  # string _ids found by key are exact matches
        else:
            docs = [doc for doc in found if doc is not None and filtering.filter_applies(filter, doc)]
        if len(docs) > 1:  # in the order of MongoDB's _id index, as an $in read through it would be
            # (strings compare alike in BSON and Python: UTF-8 byte order is code point order)
            docs.sort(key=_by_id if strings else functools.partial(filtering.resolve_sort_key, "_id"))
        return iter(docs)

    def _insert(self, data: Any, session: Any = None, ordered: bool = True) -> Any:
        # Documents arrive decoded from BSON (valid, naive-UTC datetimes at ms precision), so mongomock's
        # re-encoding, key checks and datetime patching would only cost time; its duplicate-_id error also
        # lacks keyPattern/keyValue. Lists (insert_many from $out) come back here one document at a time.
        if not isinstance(data, dict):
            return super()._insert(data, session, ordered)
        data.setdefault("_id", bson.ObjectId())
        key, documents = _store_key(data["_id"]), self._store._documents
        if key in documents:
            raise _duplicate(self, "_id_", {"_id": 1}, {"_id": data["_id"]})
        documents[key] = data  # mongomock's own lock is moot: the engine runs one command at a time
        try:
            self._ensure_uniques(data)
        except DuplicateKeyError:
            del documents[key]
            raise
        self._add_to_id_order(key)
        return data["_id"]

    def _ensure_uniques(self, new_data: Doc) -> None:
        # Called by mongomock after it has stored an inserted or updated document.
        new_key = _store_key(new_data["_id"])
        for name, index in self._store.indexes.items():
            if not index.get("unique"):
                continue
            buckets = self._unique_hash(name, index)
            for entry, key_value in _index_entries(new_data, index).items():
                holders = buckets.setdefault(entry, set())
                for other_key in list(holders - {new_key}):
                    other = self._store._documents.get(other_key)
                    if other is not None and entry in _index_entries(other, index):
                        raise _duplicate(self, name, dict(index["key"]), key_value)
                    holders.discard(other_key)  # stale: deleted or changed since
                holders.add(new_key)

    def _unique_hash(self, name: str, index: Doc) -> dict[Any, set[Any]]:
        """Index entry -> store keys of the documents holding it, for one unique index.

        Kept on mongomock's collection store (it follows renames), rebuilt when the index object changes
        (created, re-created, collection dropped). Entries are only ever added, and checked when read, so
        documents deleted or changed behind its back leave harmless stale entries, never missing ones."""
        hashes = self._store.__dict__.setdefault("_devdb_unique", {})
        if name not in hashes or hashes[name][0] is not index:
            buckets: dict[Any, set[Any]] = {}
            for key, doc in self._store._documents.items():
                for entry in _index_entries(doc, index):
                    buckets.setdefault(entry, set()).add(key)
            hashes[name] = (index, buckets)
        return hashes[name][1]  # type: ignore[no-any-return]

    def _in_id_order(self, reverse: bool = False) -> Iterator[Doc] | None:
        """The documents in ``_id`` order, or None when some ``_id`` has no order here (then sort instead)."""
        keys = self._id_order()
        if keys is None:
            return None
        documents = self._store._documents
        pairs = reversed(keys) if reverse else keys
        return (doc for _, key in pairs if (doc := documents.get(key)) is not None)

    def _id_order(self) -> list[tuple[Any, Any]] | None:
        """(order key, store key) of every document, sorted; built on first use, then kept by inserts.

        Deletes leave stale pairs (skipped when read); a drop (new document dict) or too many stale pairs
        rebuild it."""
        documents = self._store._documents
        state = self._store.__dict__.get("_devdb_order")
        if state is None or state[0] is not documents or len(state[1] or ()) > 2 * len(documents) + 64:
            pairs = [(_order_key(key), key) for key in documents]
            state = (documents, None if any(k is None for k, _ in pairs) else sorted(pairs))
            self._store.__dict__["_devdb_order"] = state
        return state[1]  # type: ignore[no-any-return]

    def _add_to_id_order(self, key: Any) -> None:
        state = self._store.__dict__.get("_devdb_order")
        if state is None or state[0] is not self._store._documents or state[1] is None:
            return  # not built yet (or not orderable): nothing to keep up to date
        order_key, keys = _order_key(key), state[1]
        if order_key is None:
            self._store.__dict__["_devdb_order"] = (state[0], None)
            return
        at = bisect.bisect_left(keys, (order_key,))
        if at == len(keys) or keys[at][0] != order_key:  # else a stale pair for this very _id is back in use
            keys.insert(at, (order_key, key))


def _matching(coll: _Collection, filter: Doc, sort: Mapping[str, Any] | None, needed: int = 0) -> list[Doc]:
    """Documents matching ``filter`` in ``sort`` order; with ``needed`` > 0, only the first ``needed``.

    With a limit and no sort, or a sort on ``_id`` alone, documents are visited in that order until enough
    match, so a page costs what it reads rather than the collection size."""
    spec = list((sort or {}).items())
    if needed > 0 and _id_lookup(filter) is None:
        filtering.filter_applies(filter, {})  # reject a bad filter even if no document gets to be tested
        ordered: Iterator[Doc] | None = iter(coll._store._documents.values())
        if spec and (len(spec) > 1 or spec[0][0] != "_id" or spec[0][1] not in (1, -1)):
            ordered = None
        elif spec:
            ordered = coll._in_id_order(reverse=spec[0][1] == -1)
        if ordered is not None:
            return list(itertools.islice((d for d in ordered if filtering.filter_applies(filter, d)), needed))
    return _sorted(list(coll._iter_documents(filter)), sort)[: needed or None]


def _sorted(docs: list[Doc], sort: Mapping[str, Any] | None) -> list[Doc]:
    """Sort like mongomock does (stable, last key first), without copying the documents."""
    for key, direction in reversed(list((sort or {}).items())):
        if key == "$natural":
            if direction < 0:
                docs.reverse()
            continue
        if key.startswith("$") or not isinstance(direction, (int, float)):
            raise NotImplementedError(f"sort by {key}: {direction}")
        docs.sort(key=functools.partial(filtering.resolve_sort_key, key), reverse=direction < 0)
    return docs


def _reject(cmd: Doc, *options: str) -> None:
    """Fail on options devdb would otherwise silently ignore: a wrong answer is worse than an error."""
    for option in options:
        if cmd.get(option):
            raise NotImplementedError(option)


def _is_replacement(update: Any) -> bool:
    return isinstance(update, Mapping) and not any(str(k).startswith("$") for k in update)


# --- commands --------------------------------------------------------------------------------------------


@dataclass
class _Cursor:
    ns: str
    docs: list[Doc]
    coll: _Collection | None = None
    projection: Doc | None = None
    pos: int = 0
    touched: float = field(default_factory=time.monotonic)


class Engine:
    """Runs MongoDB commands against one in-memory mongomock server, one command at a time."""

    def __init__(self) -> None:
        self._client: Any = mongomock.MongoClient()
        self._lock = threading.Lock()
        self._cursors: OrderedDict[int, _Cursor] = OrderedDict()
        self._cursor_ids = itertools.count(1)
        self._last_ttl_sweep = 0.0
        self._started = time.monotonic()
        self._conn_id = 0
        self.connections = 0
        c = self
        self._commands: dict[str, Callable[[str, Doc], Doc]] = {
            "hello": c._hello, "isMaster": c._hello, "ismaster": c._hello, "ping": c._empty,
            "buildInfo": c._build_info, "buildinfo": c._build_info, "getParameter": c._get_parameter,
            "getCmdLineOpts": c._cmd_line_opts, "serverStatus": c._server_status,
            "listDatabases": c._list_dbs,
            "endSessions": c._empty, "killSessions": c._empty, "refreshSessions": c._empty,
            "abortTransaction": c._no_txn, "commitTransaction": c._no_txn,
            "find": c._find, "getMore": c._get_more, "killCursors": c._kill_cursors, "insert": c._insert,
            "update": c._update, "delete": c._delete, "findAndModify": c._find_and_modify,
            "aggregate": c._aggregate, "count": c._count, "distinct": c._distinct,
            "createIndexes": c._create_indexes, "listIndexes": c._list_indexes,
            "dropIndexes": c._drop_indexes,
            "listCollections": c._list_collections, "create": c._create, "drop": c._drop,
            "dropDatabase": c._drop_database,
        }

    def run(self, db: str, cmd: Doc, conn_id: int = 0) -> Doc:
        """Execute one command and return its reply; every failure becomes an error reply."""
        name = next(iter(cmd), "")
        with self._lock:
            self._conn_id = conn_id
            try:
                handler = self._commands.get(name)
                if handler is None:
                    supported = ", ".join(sorted(self._commands))
                    raise CommandError(59, f"no such command: '{name}' (devdb supports: {supported})")
                if "txnNumber" in cmd or "startTransaction" in cmd:
                    raise CommandError(20, _NO_TXN)
                self._sweep_ttl()
                reply = handler(db, cmd)
            except Exception as exc:  # the protocol boundary: a failure is a reply, never a lost connection
                return _error_reply(exc)
        reply.setdefault("ok", 1.0)
        return reply

    def _coll(self, db: str, name: Any) -> _Collection:
        if not isinstance(name, str) or not name:
            raise CommandError(73, f"Invalid namespace specified '{db}.{name}'")
        database = self._client.get_database(db)
        coll = database._collection_accesses.get(name)
        if not isinstance(coll, _Collection):  # mongomock caches plain Collections; swap in the fast one
            database._ensure_valid_collection_name(name)
            coll = _Collection(database, name, _db_store=database._store)
            database._collection_accesses[name] = coll
        return coll

    def _existing(self, db: str, name: Any) -> _Collection:
        coll = self._coll(db, name)
        if not coll._store.is_created:
            raise CommandError(26, f"ns does not exist: {coll.full_name}")
        return coll

    def _sweep_ttl(self) -> None:
        now = time.monotonic()
        if now - self._last_ttl_sweep < TTL_SWEEP_S:
            return
        self._last_ttl_sweep = now
        for db_store in self._client._store._databases.values():
            for coll_store in db_store._collections.values():
                for index in list(coll_store.indexes.values()):
                    if index.get("expireAfterSeconds") is not None:
                        coll_store._expire_documents(index)

    # cursors

    def _cursor_reply(self, cursor: _Cursor, batch_size: int | None, single_batch: bool = False) -> Doc:
        batch = self._next_batch(cursor, DEFAULT_BATCH if batch_size is None else batch_size, first=True)
        cursor_id = 0
        if cursor.pos < len(cursor.docs) and not single_batch:
            cursor_id = self._register(cursor)
        return {"cursor": {"firstBatch": batch, "id": Int64(cursor_id), "ns": cursor.ns}, "ok": 1.0}

    def _next_batch(self, cursor: _Cursor, size: int, first: bool = False) -> list[RawBSONDocument]:
        """Encode up to ``size`` documents (0: no count limit; the byte budget always applies)."""
        batch: list[RawBSONDocument] = []
        used = 0
        while cursor.pos < len(cursor.docs) and (len(batch) < size or (size <= 0 and not first)):
            doc = cursor.docs[cursor.pos]
            if cursor.projection and cursor.coll is not None:
                projected = _without(doc, cursor.projection)
                if projected is None:
                    projected = cursor.coll._copy_only_fields(doc, dict(cursor.projection), dict)
                doc = projected
            raw = bson.encode(doc, codec_options=CODEC)
            if batch and used + len(raw) > BATCH_BYTES:
                break
            batch.append(RawBSONDocument(raw))  # embedded as is: each document is encoded once
            used += len(raw)
            cursor.pos += 1
        return batch

    def _register(self, cursor: _Cursor) -> int:
        """Keep a cursor for getMore; evict the least recently used beyond the cap or idle too long."""
        now = time.monotonic()
        while self._cursors:
            oldest_id, oldest = next(iter(self._cursors.items()))
            if len(self._cursors) < MAX_CURSORS and now - oldest.touched < CURSOR_IDLE_S:
                break
            del self._cursors[oldest_id]
        cursor_id = next(self._cursor_ids)
        self._cursors[cursor_id] = cursor
        return cursor_id

    def _get_more(self, db: str, cmd: Doc) -> Doc:
        cursor_id = int(cmd["getMore"])
        ns = f"{db}.{cmd.get('collection')}"
        cursor = self._cursors.get(cursor_id)
        if cursor is None or cursor.ns != ns:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        batch = self._next_batch(cursor, cmd.get("batchSize") or 0)
        if cursor.pos >= len(cursor.docs):
            del self._cursors[cursor_id]
            cursor_id = 0
        else:
            cursor.touched = time.monotonic()
            self._cursors.move_to_end(cursor_id)
        return {"cursor": {"nextBatch": batch, "id": Int64(cursor_id), "ns": ns}}

    def _kill_cursors(self, db: str, cmd: Doc) -> Doc:
        ids = [int(i) for i in cmd.get("cursors") or []]
        killed = [i for i in ids if self._cursors.pop(i, None) is not None]
        missing = [i for i in ids if i not in killed]
        return {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [], "cursorsUnknown": []}

    # reads

    def _find(self, db: str, cmd: Doc) -> Doc:
        _reject(cmd, "collation", "tailable", "awaitData")
        coll = self._coll(db, cmd["find"])
        skip, limit = cmd.get("skip") or 0, abs(cmd.get("limit") or 0)
        docs = _matching(coll, cmd.get("filter") or {}, cmd.get("sort"), skip + limit if limit else 0)[skip:]
        single = bool(cmd.get("singleBatch")) or (cmd.get("limit") or 0) < 0
        cursor = _Cursor(coll.full_name, docs, coll, cmd.get("projection") or None)
        return self._cursor_reply(cursor, cmd.get("batchSize"), single)

    def _aggregate(self, db: str, cmd: Doc) -> Doc:
        if not isinstance(cmd["aggregate"], str):
            raise NotImplementedError("database-level aggregate")
        coll = self._coll(db, cmd["aggregate"])
        pipeline = list(cmd.get("pipeline") or [])
        if pipeline and list(pipeline[0]) == ["$match"]:  # let the _id fast path choose the input
            docs = list(coll._iter_documents(pipeline.pop(0)["$match"]))
        else:
            docs = list(coll._store.documents)
        docs = [_copy_field(doc, dict) for doc in docs]  # stages may edit their input in place
        result = list(mm_aggregate.process_pipeline(docs, coll.database, pipeline, None))
        batch_size = (cmd.get("cursor") or {}).get("batchSize")
        return self._cursor_reply(_Cursor(coll.full_name, result), batch_size)

    def _count(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["count"])
        n = sum(1 for _ in coll._iter_documents(cmd.get("query") or {}))
        n = max(0, n - (cmd.get("skip") or 0))
        limit = abs(cmd.get("limit") or 0)
        return {"n": min(n, limit) if limit else n}

    def _distinct(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["distinct"])
        return {"values": coll.find(cmd.get("query") or {}).distinct(cmd["key"])}

    # writes

    @staticmethod
    def _each(statements: list[Doc], ordered: bool, apply: Callable[[int, Doc], None]) -> list[Doc]:
        """Apply each write statement; collect MongoDB-style writeErrors, stop at the first if ordered."""
        errors = []
        for index, statement in enumerate(statements):
            try:
                apply(index, statement)
            except Exception as exc:
                errors.append({"index": index, **_error_fields(exc)})
                if ordered:
                    break
        return errors

    @staticmethod
    def _write_reply(n: int, errors: list[Doc], **extra: Any) -> Doc:
        return {"n": n, **extra, **({"writeErrors": errors} if errors else {})}

    def _insert(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["insert"])
        inserted = []
        errors = self._each(cmd.get("documents") or [], cmd.get("ordered", True),
                            lambda i, doc: inserted.append(coll.insert_one(doc)))
        return self._write_reply(len(inserted), errors)

    def _update(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["update"])
        totals = {"n": 0, "nModified": 0}
        upserted: list[Doc] = []

        def apply(index: int, st: Doc) -> None:
            _reject(st, "arrayFilters", "collation")
            if st.get("multi") and _is_replacement(st["u"]):
                raise CommandError(9, "multi update is not supported for replacement-style update")
            result = coll._update(st.get("q") or {}, st["u"], upsert=bool(st.get("upsert")),
                                  multi=bool(st.get("multi")))
            totals["n"] += result["n"]
            totals["nModified"] += result["nModified"]
            if result["upserted"] is not None:
                upserted.append({"index": index, "_id": result["upserted"]})

        errors = self._each(cmd.get("updates") or [], cmd.get("ordered", True), apply)
        extra = {"nModified": totals["nModified"]} | ({"upserted": upserted} if upserted else {})
        return self._write_reply(totals["n"], errors, **extra)

    def _delete(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["delete"])
        deleted = [0]

        def apply(index: int, st: Doc) -> None:
            _reject(st, "collation")
            docs = list(coll._iter_documents(st.get("q") or {}))
            for doc in docs[:1] if st.get("limit") else docs:
                del coll._store[_store_key(doc["_id"])]
                deleted[0] += 1

        errors = self._each(cmd.get("deletes") or [], cmd.get("ordered", True), apply)
        return self._write_reply(deleted[0], errors)

    def _find_and_modify(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["findAndModify"])
        query, update, fields = cmd.get("query") or {}, cmd.get("update"), cmd.get("fields") or None
        remove, upsert = bool(cmd.get("remove")), bool(cmd.get("upsert"))
        if remove == (update is not None):
            raise CommandError(9, "Either an update or remove=true must be specified")
        _reject(cmd, "arrayFilters", "collation")
        matches = _matching(coll, query, cmd.get("sort"), 1)
        old = matches[0] if matches else None
        last_error: Doc = {"n": 0}
        value = None
        if remove:
            if old is not None:
                del coll._store[_store_key(old["_id"])]
                last_error, value = {"n": 1}, old
        elif old is not None or upsert:
            before = _copy_field(old, dict) if old is not None else None
            # Re-target the matched document by _id: the query may not match it any more after the update.
            target = {"_id": old["_id"]} if old is not None else query
            result = coll._update(target, update, upsert=old is None)
            last_error = {"n": 1, "updatedExisting": old is not None}
            if result["upserted"] is not None:
                last_error["upserted"] = result["upserted"]
            new_id = old["_id"] if old is not None else result["upserted"]
            value = coll._store._documents.get(_store_key(new_id)) if cmd.get("new") else before
        else:
            last_error["updatedExisting"] = False
        if value is not None and fields:
            value = coll._copy_only_fields(value, dict(fields), dict)
        return {"lastErrorObject": last_error, "value": value}

    # indexes and namespaces

    @staticmethod
    def _index_count(coll: _Collection) -> int:
        return 1 + len(coll._store.indexes) if coll._store.is_created else 0

    def _create_indexes(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["createIndexes"])
        existed, before = bool(coll._store.is_created), self._index_count(coll)
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
        after = self._index_count(coll)
        reply = {"createdCollectionAutomatically": not existed, "numIndexesBefore": before,
                 "numIndexesAfter": after}
        return reply | ({"note": "all indexes already exist"} if before == after else {})

    def _list_indexes(self, db: str, cmd: Doc) -> Doc:
        coll = self._existing(db, cmd["listIndexes"])
        cursor = _Cursor(coll.full_name, list(coll.list_indexes()))
        return self._cursor_reply(cursor, (cmd.get("cursor") or {}).get("batchSize"))

    def _drop_indexes(self, db: str, cmd: Doc) -> Doc:
        coll = self._existing(db, cmd["dropIndexes"])
        was, wanted = self._index_count(coll), cmd.get("index")
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

    def _list_collections(self, db: str, cmd: Doc) -> Doc:
        names = self._client.get_database(db)._store.list_created_collection_names()
        id_index = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
        infos = [{"name": n, "type": "collection", "options": {}, "info": {"readOnly": False},
                  "idIndex": id_index} for n in sorted(names)]
        infos = [i for i in infos if filtering.filter_applies(cmd.get("filter") or {}, i)]
        if cmd.get("nameOnly"):
            infos = [{"name": i["name"], "type": i["type"]} for i in infos]
        cursor = _Cursor(f"{db}.$cmd.listCollections", infos)
        return self._cursor_reply(cursor, (cmd.get("cursor") or {}).get("batchSize"))

    def _create(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["create"])
        if coll._store.is_created:
            raise CommandError(48, f"Collection {coll.full_name} already exists.")
        coll._store.create()
        return {}

    def _drop(self, db: str, cmd: Doc) -> Doc:
        coll = self._coll(db, cmd["drop"])
        was = self._index_count(coll)
        coll.drop()
        return {"nIndexesWas": was, "ns": coll.full_name}

    def _drop_database(self, db: str, cmd: Doc) -> Doc:
        self._client.drop_database(db)
        return {"dropped": db}

    def _list_dbs(self, db: str, cmd: Doc) -> Doc:
        names = self._client.list_database_names()
        if cmd.get("nameOnly"):
            return {"databases": [{"name": n} for n in names]}
        return {"databases": [{"name": n, "sizeOnDisk": 0, "empty": False} for n in names], "totalSize": 0}

    # server

    def _hello(self, db: str, cmd: Doc) -> Doc:
        # A standalone (no setName): the store then uses no transactions and no change streams.
        return {
            "ismaster": True, "isWritablePrimary": True, "helloOk": True, "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE, "maxWriteBatchSize": MAX_WRITE_BATCH,
            "localTime": dt.datetime.now(dt.UTC), "logicalSessionTimeoutMinutes": 30,
            "connectionId": self._conn_id, "minWireVersion": 0, "maxWireVersion": 17, "readOnly": False,
        }

    def _build_info(self, db: str, cmd: Doc) -> Doc:
        return {"version": VERSION, "gitVersion": "devdb", "versionArray": [6, 0, 0, 0], "bits": 64,
                "maxBsonObjectSize": MAX_BSON_SIZE, "storageEngines": ["devdb-mongomock"], "modules": []}

    def _get_parameter(self, db: str, cmd: Doc) -> Doc:
        wanted = cmd.get("featureCompatibilityVersion") or cmd.get("getParameter") == "*"
        return {"featureCompatibilityVersion": {"version": "6.0"}} if wanted else {}

    def _cmd_line_opts(self, db: str, cmd: Doc) -> Doc:
        return {"argv": ["fhirgraph", "devdb"], "parsed": {}}

    def _server_status(self, db: str, cmd: Doc) -> Doc:
        return {"host": "devdb", "version": VERSION, "process": "fhirgraph-devdb", "pid": Int64(os.getpid()),
                "uptime": time.monotonic() - self._started, "localTime": dt.datetime.now(dt.UTC),
                "connections": {"current": self.connections, "available": 10_000}}

    def _empty(self, db: str, cmd: Doc) -> Doc:
        return {}

    def _no_txn(self, db: str, cmd: Doc) -> Doc:
        raise CommandError(20, _NO_TXN)


# --- the server ------------------------------------------------------------------------------------------


class DevDB:
    """The devdb TCP server: in a background thread (``start_in_thread``) or as its own process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.engine = Engine()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._conn_ids = itertools.count(1)
        self._reply_ids = itertools.count(1)

    @property
    def uri(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"mongodb://{host}:{self.port}/?directConnection=true"

    async def start(self) -> int:
        """Listen (on the running loop) and return the bound port."""
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        server = cast(asyncio.Server, self._server)
        try:
            await server.serve_forever()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
        # Close rather than cancel: each handler then sees EOF and returns normally (on Python 3.11 a
        # cancelled stream handler makes asyncio log a spurious CancelledError).
        for writer in self._connections.values():
            writer.close()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def start_in_thread(self) -> int:
        """Serve from a daemon thread with its own event loop; return once listening, with the port."""
        ready, failure = threading.Event(), []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                loop.close()
                return
            finally:
                ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.aclose())
                loop.close()

        self._thread = threading.Thread(target=run, name="fhirgraph-devdb", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = cast("asyncio.Task[None]", asyncio.current_task())  # a connection always runs in its own task
        self._connections[task] = writer
        conn_id = next(self._conn_ids)
        self.engine.connections += 1
        try:
            while True:
                length, request_id, _, op_code = _HEADER.unpack(await reader.readexactly(16))
                if not 16 < length <= MAX_MESSAGE_SIZE:
                    log.warning("devdb: dropping connection %d: message length %d", conn_id, length)
                    break
                reply = self._respond(op_code, request_id, await reader.readexactly(length - 16), conn_id)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except (ValueError, struct.error, BSONError) as exc:
            log.warning("devdb: dropping connection %d: malformed message: %s", conn_id, exc)
        finally:
            self.engine.connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            del self._connections[task]  # only now: aclose() waits for the close above

    def _respond(self, op_code: int, request_id: int, payload: bytes, conn_id: int) -> bytes | None:
        if op_code == OP_MSG:
            flags, cmd = _parse_op_msg(payload)
            reply = self.engine.run(str(cmd.get("$db", "test")), cmd, conn_id)
            if flags & _MORE_TO_COME:
                return None  # unacknowledged write: the client reads no reply
            return _op_msg(next(self._reply_ids), request_id, reply)
        if op_code == OP_QUERY:
            ns, query = _parse_op_query(payload)
            if ns.endswith(".$cmd"):
                reply = self.engine.run(ns[: -len(".$cmd")], query, conn_id)
            else:
                reply = _error_reply(CommandError(238, f"OP_QUERY on {ns}: only commands are supported"))
            return _op_reply(next(self._reply_ids), request_id, reply)
        raise ValueError(f"unsupported opCode {op_code}")


def main_devdb(host: str, port: int) -> None:
    """Run devdb in the foreground until SIGINT or SIGTERM (`fhirgraph devdb --port P`)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_serve_until_signalled(DevDB(host, port)))


async def _serve_until_signalled(devdb: DevDB) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    port = await devdb.start()
    log.warning("fhirgraph devdb listening on %s:%d (%s): an embedded, in-memory trial/test engine "
                "(mongomock behind the MongoDB wire protocol), not for production; data is lost at exit",
                devdb.host, port, devdb.uri)
    await stop.wait()
    await devdb.aclose()
