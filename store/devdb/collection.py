"""mongomock's Collection with devdb's fast paths hooked in: lookups by key, hashed unique indexes, a cheap
insert and exclusion projections that copy only what they change."""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bson
from mongomock.collection import Collection as MockCollection
from pymongo.errors import DuplicateKeyError

from store.devdb import index, query, unique
from store.devdb.codec import Doc
from store.devdb.errors import duplicate_key


class Collection(MockCollection):
    """mongomock's Collection, with lookups by ``_id`` and hashed unique indexes instead of full scans."""

    def _iter_documents(self, filter: Doc) -> Iterator[Doc]:
        docs = query.lookup(self._store._documents, filter)
        if docs is not None:
            return iter(docs)
        planned = query.planned(self, filter)
        return planned if planned is not None else query.scanned(self, filter)

    def _insert(self, data: Any, session: Any = None, ordered: bool = True) -> Any:
        # Documents arrive decoded from BSON (valid, naive-UTC datetimes at ms precision), so mongomock's
        # re-encoding, key checks and datetime patching would only cost time; its duplicate-_id error also
        # lacks keyPattern/keyValue. Lists (insert_many from $out) come back here one document at a time.
        if not isinstance(data, dict):
            return super()._insert(data, session, ordered)
        data.setdefault("_id", bson.ObjectId())
        key, documents = query.store_key(data["_id"]), self._store._documents
        if key in documents:
            raise duplicate_key(self.full_name, "_id_", {"_id": 1}, {"_id": data["_id"]})
        documents[key] = data  # mongomock's own lock is moot: the engine runs one command at a time
        try:
            self._ensure_uniques(data)
        except DuplicateKeyError:
            del documents[key]
            raise
        return data["_id"]

    def _ensure_uniques(self, new_data: Doc) -> None:
        # Called by mongomock after it has stored an inserted or updated document (and by _insert above): once
        # it is known to stay, the indexes file it again (a refused one is rolled back to what they hold).
        unique.ensure_unique(self._store, self.full_name, new_data)
        index.added(self._store, query.store_key(new_data["_id"]), new_data)

    def delete_key(self, key: Any) -> None:
        """Delete the document filed under store key ``key``, from the indexes too."""
        del self._store[key]
        index.removed(self._store, key)

    def project(self, doc: Doc, projection: Doc) -> Doc:
        """``doc`` as ``projection`` shows it, for encoding (never for changing)."""
        projected = _without(doc, projection)
        if projected is None:
            projected = self._copy_only_fields(doc, dict(projection), dict)
        return projected


def fast_collection(database: Any, name: str) -> Collection:
    """The devdb Collection ``name`` of a mongomock database (mongomock caches plain ones: swap in ours)."""
    coll = database._collection_accesses.get(name)
    if not isinstance(coll, Collection):
        database._ensure_valid_collection_name(name)
        coll = Collection(database, name, _db_store=database._store)
        database._collection_accesses[name] = coll
    return coll


def _without(doc: Doc, projection: Doc) -> Doc | None:
    """``doc`` with the fields of an exclusion-only projection (``{"a.b": 0, ...}``) left out, copying only the
    documents along the excluded paths (the result is encoded, never changed); None for any other projection
    or when a path crosses an array (mongomock applies those)."""
    paths = _exclusions(projection)
    if paths is None:
        return None
    out = dict(doc)
    copied: dict[tuple[str, ...], Doc] = {(): out}  # each document along the paths copied once
    for parents, leaf in paths:
        node = out
        for depth, part in enumerate(parents, 1):
            prefix = parents[:depth]
            copy = copied.get(prefix)
            if copy is None:
                child = node.get(part)
                if isinstance(child, list):
                    return None
                if not isinstance(child, dict):
                    break  # nothing at this path to leave out
                node[part] = copy = copied[prefix] = dict(child)
            node = copy
        else:
            node.pop(leaf, None)
    return out


_EXCLUSIONS: dict[tuple[Any, ...], list[tuple[tuple[str, ...], str]] | None] = {}


def _exclusions(projection: Doc) -> list[tuple[tuple[str, ...], str]] | None:
    """The (parent path, leaf) of each field of an exclusion-only projection, None for any other; the store
    sends a few projections over and over, so they are split once."""
    key: tuple[Any, ...] | None = tuple(projection.items())
    try:
        if key in _EXCLUSIONS:
            return _EXCLUSIONS[key]
    except TypeError:  # a value that is a document ($slice, $elemMatch): not kept
        key = None
    paths: list[tuple[tuple[str, ...], str]] | None = None
    if all(v in (0, False) and not k.startswith("$") for k, v in projection.items()):
        paths = []
        for path in projection:
            *parents, leaf = path.split(".")
            paths.append((tuple(parents), leaf))
    if key is not None and len(_EXCLUSIONS) < 4096:
        _EXCLUSIONS[key] = paths
    return paths
