"""mongomock's Collection with devdb's fast paths hooked in: lookups by key and through the indexes, hashed unique
indexes, inserts that keep the bytes they were sent, and updates written back as bytes."""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import bson
from mongomock.collection import Collection as MockCollection
from pymongo.errors import DuplicateKeyError

from store.devdb import query, rawbson, unique
from store.devdb.codec import CODEC, Doc
from store.devdb.documents import Documents, decode, encode
from store.devdb.errors import duplicate_key


class Collection(MockCollection):
    """mongomock's Collection over devdb's documents (store/devdb/documents.py): what mongomock reads of them
    are decoded copies, and what it changes is written back through ``_ensure_uniques``."""

    @property
    def documents(self) -> Documents:
        return self._store._documents  # type: ignore[no-any-return]

    def _iter_documents(self, filter: Doc) -> Iterator[Doc]:
        return (doc for _, doc in query.rows(self, filter))

    def _insert(self, data: Any, session: Any = None, ordered: bool = True) -> Any:
        # Documents arrive decoded from BSON (valid, naive-UTC datetimes at ms precision), so mongomock's
        # re-encoding, key checks and datetime patching would only cost time; its duplicate-_id error also
        # lacks keyPattern/keyValue. Lists (insert_many from $out) come back here one document at a time.
        if not isinstance(data, dict):
            return super()._insert(data, session, ordered)
        data.setdefault("_id", bson.ObjectId())  # in the command's own document: the journal logs it so
        self._store_new(query.store_key(data["_id"]), data["_id"], encode(data), data)
        return data["_id"]

    def insert_raw(self, raw: bytes) -> Any:
        """Insert a document as the bytes it came in and return its ``_id``; None when its first element is not
        its ``_id`` (drivers send it first; the caller inserts the decoded document, which gets one)."""
        if not raw.startswith(b"_id\x00", 5):
            return None
        first = rawbson.first_element_end(raw)
        _id = bson.decode(rawbson.document(raw[4:first]), CODEC)["_id"]
        self._store_new(query.store_key(_id), _id, raw, None)
        return _id

    def _store_new(self, key: Any, _id: Any, raw: bytes, doc: Doc | None) -> None:
        documents = self.documents
        if key in documents:
            raise duplicate_key(self.full_name, "_id_", {"_id": 1}, {"_id": _id})
        documents.put(key, raw)  # mongomock's own lock is moot: the engine runs one command at a time
        if unique.has_unique(self._store):
            try:
                unique.ensure_unique(self._store, self.full_name, doc if doc is not None else raw, _id)
            except DuplicateKeyError:
                del documents[key]
                raise

    def _ensure_uniques(self, new_data: Doc) -> None:
        # Called by mongomock's update once it has changed its copy of a document: the copy is stored, then
        # checked (a refused one is put back as it was by mongomock).
        self.documents[query.store_key(new_data["_id"])] = new_data
        unique.ensure_unique(self._store, self.full_name, new_data)

    def delete_key(self, key: Any) -> None:
        """Delete the document filed under store key ``key``."""
        del self._store[key]

    def project(self, raw: bytes, projection: Doc, how: rawbson.Tree | frozenset[bytes] | None) -> bytes:
        """Document ``raw`` as ``projection`` shows it (``how``: its ``projection_cut``, found once by the caller
        for all the documents it projects: the excluded paths, or the top-level names it keeps)."""
        if how is not None:
            cut = _CUTS.get(raw, how)
            if cut is not None:
                return cut
            if (cut := rawbson.only(raw, how) if isinstance(how, frozenset) else rawbson.without(raw, how)
                ) is not None:
                _CUTS.put(raw, how, cut)
                return cut
        return encode(self._copy_only_fields(decode(raw), dict(projection), dict))


class _Cuts:
    """The documents last cut by a projection (its tree or names), by the identity of the stored bytes and of it:
    a search page reads the same stored documents with the same projection again and again, and walking each
    one's elements in Python was most of devdb's time per page (bench/README.md). Stored bytes never change
    (a write stores new ones), and each entry holds the bytes and tree it was made from, so an identity is never
    taken for another's. Bounded by bytes, the least recently used out first; one per process (the engines of
    several in-process servers share it: a lock)."""

    MAX_BYTES = 32 * 1024 * 1024

    def __init__(self) -> None:
        self._held: OrderedDict[tuple[int, int], tuple[bytes, rawbson.Tree | frozenset[bytes], bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, raw: bytes, tree: rawbson.Tree | frozenset[bytes]) -> bytes | None:
        key = (id(raw), id(tree))
        with self._lock:
            found = self._held.get(key)
            if found is None or found[0] is not raw or found[1] is not tree:
                return None
            self._held.move_to_end(key)
            return found[2]

    def put(self, raw: bytes, tree: rawbson.Tree | frozenset[bytes], cut: bytes) -> None:
        key = (id(raw), id(tree))
        with self._lock:
            old = self._held.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0]) + len(old[2])
            self._held[key] = (raw, tree, cut)
            self._bytes += len(raw) + len(cut)
            while self._bytes > self.MAX_BYTES:
                _, (r, _t, c) = self._held.popitem(last=False)
                self._bytes -= len(r) + len(c)


_CUTS = _Cuts()


_TREES: dict[Any, rawbson.Tree | frozenset[bytes] | None] = {}


def projection_cut(projection: Doc) -> rawbson.Tree | frozenset[bytes] | None:
    """How ``projection`` is cut from stored bytes: ``rawbson.exclusion_tree`` (or, for an inclusion of top-level
    fields, ``rawbson.inclusion``: a read of some elements of a resource); None: decoded and projected. Remembered:
    a cursor's every document, every read, has the same projection."""
    try:
        key = tuple(projection.items())
        return _TREES[key]
    except TypeError:  # unhashable values: neither an exclusion nor a plain inclusion
        return None
    except KeyError:
        if len(_TREES) >= 256:
            _TREES.clear()
        found = rawbson.exclusion_tree(projection)
        tree = _TREES[key] = rawbson.inclusion(projection) if found is None else found
        return tree


def fast_collection(database: Any, name: str) -> Collection:
    """The devdb Collection ``name`` of a mongomock database (mongomock caches plain ones: swap in ours)."""
    coll = database._collection_accesses.get(name)
    if not isinstance(coll, Collection):
        database._ensure_valid_collection_name(name)
        coll = Collection(database, name, _db_store=database._store)
        database._collection_accesses[name] = coll
    return coll
