"""Unique indexes, enforced through a hash of their entries instead of mongomock's scan on every write."""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import itertools
from typing import Any

from mongomock import filtering

from store.devdb import rawbson
from store.devdb.codec import Doc
from store.devdb.documents import decode
from store.devdb.errors import duplicate_key
from store.devdb.query import store_key


def has_unique(store: Any) -> bool:
    """Whether mongomock's collection ``store`` has a unique index besides ``_id``'s."""
    return any(index.get("unique") for index in store.indexes.values())


def ensure_unique(store: Any, namespace: str, new_data: Doc | bytes, new_id: Any = None) -> None:
    """Raise DuplicateKeyError if a unique index of mongomock's collection ``store`` already holds an entry of
    ``new_data`` (just stored, inserted or updated) for another document. ``new_data`` may be the document's BSON
    (an insert as it came, with its ``new_id``): only the indexes' fields are read from it (``entries``)."""
    new_key = store_key(new_data["_id"] if isinstance(new_data, dict) else new_id)
    for name, index in store.indexes.items():
        if not index.get("unique"):
            continue
        buckets = _unique_hash(store, name, index)
        for entry, key_value in entries(new_data, index).items():
            holders = buckets.setdefault(entry, set())
            for other_key in list(holders - {new_key}):
                other = store._documents.raw(other_key)
                if other is not None and entry in entries(other, index):
                    raise duplicate_key(namespace, name, dict(index["key"]), key_value)
                holders.discard(other_key)  # stale: deleted or changed since
            holders.add(new_key)


def entries(doc: Doc | bytes, index: Doc) -> dict[Any, Doc]:
    """``_index_entries`` of ``doc``, a document or its BSON: of BSON, only what lies at the index's fields and
    its partial filter's is decoded (the rest of a stored resource, its search keys most of all, never is),
    unless the filter reads more than fields (``$expr``): then all of it."""
    if isinstance(doc, dict):
        return _index_entries(doc, index)
    if "partialFilterExpression" not in index:
        fields = [name for name, _ in index["key"]]
        values = [rawbson.scalar_at(doc, tuple(name.encode().split(b"."))) for name in fields]
        if not any(value is rawbson.UNDECIDED for value in values):
            if all(value is rawbson.MISSING for value in values) and index.get("sparse"):
                return {}
            combo = [None if value is rawbson.MISSING else value for value in values]
            return {tuple(map(_hashable, combo)): dict(zip(fields, combo, strict=True))}
    paths = _paths(index)
    return _index_entries(decode(doc) if paths is None else rawbson.picked(doc, paths), index)


def _paths(index: Doc) -> list[str] | None:
    """The fields a unique index reads of a document (its keys, its partial filter's fields); None when its
    partial filter reads more than fields."""
    return _filter_paths(index.get("partialFilterExpression") or {}, [name for name, _ in index["key"]])


def _filter_paths(expression: Doc, into: list[str]) -> list[str] | None:
    for key, value in expression.items():
        if key in ("$and", "$or", "$nor"):
            for part in value:
                if _filter_paths(part, into) is None:
                    return None
        elif key.startswith("$"):
            return None
        else:
            into.append(key)
    return into


def _unique_hash(store: Any, name: str, index: Doc) -> dict[Any, set[Any]]:
    """Index entry -> store keys of the documents holding it, for one unique index.

    Kept on mongomock's collection store (it follows renames), rebuilt when the index object changes
    (created, re-created, collection dropped). Entries are only ever added, and checked when read, so
    documents deleted or changed behind its back leave harmless stale entries, never missing ones."""
    hashes = store.__dict__.setdefault("_devdb_unique", {})
    if name not in hashes or hashes[name][0] is not index:
        buckets: dict[Any, set[Any]] = {}
        documents = store._documents
        for key in documents:
            for entry in entries(documents.raw(key), index):
                buckets.setdefault(entry, set()).add(key)
        hashes[name] = (index, buckets)
    return hashes[name][1]  # type: ignore[no-any-return]


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
