"""In-memory index structures for the indexes a collection declares (createIndexes), kept by every write.

An ``Index`` holds, for each stored document, one entry per combination of the values its key paths hold (a
multikey index: arrays along a path are expanded, as MongoDB does), in a sorted list. An entry is a flat tuple
``(rank0, value0, rank1, value1, ..., rank_id, _id)``: each value behind its rank in BSON's order of types,
numbers and booleans sharing one rank so that a candidate range holds everything mongomock's ``==`` equates
(``1 == 1.0 == True``), and the document's ``_id`` last (appended when the index does not end in ``_id``), so
entries with equal keys come in ``_id`` order and an ``_id`` is also the document's store key.

The index only ever narrows: the planner (store/devdb/planner.py) reads candidate store keys from it and the
full filter is still applied to each candidate. What it cannot place in the order — a value of another type
(embedded documents, ObjectIds in a key other than ``_id``, Decimal128, NaN, regexes ...), arrays in arrays, a
path through an array index — puts the document in the index's ``odd`` set, which every plan adds to its
candidates and which disables ordered walks.

The set of a collection's indexes (``indexes_of``) lives on mongomock's collection store beside the documents
it describes; it is built on first use from the documents and then kept by ``added`` / ``removed`` (called by
the write paths); a drop (a new document dict) or a changed index definition rebuilds it.
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterator
from typing import Any

import bson
from sortedcontainers import SortedList

from store.devdb.codec import Doc

# Ranks in BSON's comparison order (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/).
NULL, NUMBER, STRING, OBJECT_ID, DATE = 1, 2, 3, 7, 9
AFTER = 99  # greater than any rank: (..., rank, value, AFTER) bounds every entry holding that value
MAX_ENTRIES = 256  # a document with more combinations than this in one compound index is kept as odd

Entry = tuple[Any, ...]
ID_SPEC: Doc = {"key": [("_id", 1)], "unique": True}  # implicit in every collection (mongomock lists it not)


class Odd(Exception):
    """A value the index does not place in its order."""


def encode(value: Any) -> tuple[int, Any]:
    """(rank, comparable value) of one scalar; ``Odd`` for what the index does not order."""
    if isinstance(value, str):
        return STRING, value
    if isinstance(value, bool):
        return NUMBER, value  # mongomock's == equates True and 1: one rank keeps both in one candidate range
    if isinstance(value, int):
        return NUMBER, value
    if isinstance(value, float):
        if math.isnan(value):
            raise Odd
        return NUMBER, value
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return DATE, value
    if isinstance(value, bson.ObjectId):
        return OBJECT_ID, value
    if value is None:
        return NULL, 0
    raise Odd


def kind(rank: int, value: Any) -> int:
    """The sort kind of an encoded value: its rank, booleans apart (mongomock sorts them after every number)."""
    return -1 if isinstance(value, bool) else rank


def path_values(doc: Doc, path: str) -> tuple[list[Any], bool]:
    """(every value an index on ``path`` holds for ``doc``, whether an array was met on the way); ``Odd`` for an
    array in an array (mongomock and MongoDB traverse those differently) or a numeric path part."""
    nodes: list[Any] = [doc]
    through_array = False
    for part in path.split("."):
        if part.isdigit():
            raise Odd
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, dict):
                if part in node:
                    found.append(node[part])
            elif isinstance(node, list):
                through_array = True
                for item in node:
                    if isinstance(item, dict):
                        if part in item:
                            found.append(item[part])
                    elif isinstance(item, list):
                        raise Odd
        nodes = found
    values: list[Any] = []
    for node in nodes:
        if isinstance(node, list):
            through_array = True
            for item in node:
                if isinstance(item, (list, dict)):
                    raise Odd
                values.append(item)
        elif isinstance(node, dict):
            raise Odd
        else:
            values.append(node)
    return values, through_array


class Index:
    """One index's entries, sorted, with what each document holds in it."""

    def __init__(self, name: str, spec: Doc):
        self.name = name
        self.spec = spec  # mongomock's definition: a new object means the index was re-created
        declared = [str(field) for field, _ in spec["key"]]
        self.fields: tuple[str, ...] = tuple(declared if declared[-1] == "_id" else [*declared, "_id"])
        self.unique = bool(spec.get("unique"))
        self.usable = all(not f.startswith("$") and not any(p.isdigit() for p in f.split("."))
                          for f in self.fields)
        # A document without a value at the lead field (the first after a leading one, or the only one) is not
        # filed at all, as in a sparse index: most of the store's indexes are on search keys a resource lacks.
        # Then only plans that constrain the lead field may use the index (they cannot match such a document).
        lead = 1 if len(declared) > 1 else 0
        self.lead: int | None = None if self.fields[lead] == "_id" else lead
        self.complete = True  # no document left out so far
        self.entries: SortedList = SortedList()
        self.held: dict[Any, tuple[Entry, ...]] = {}  # store key -> its entries
        self.odd: set[Any] = set()
        self.multikey = [False] * len(self.fields)  # an array met on the way: no ordered walk on the field
        self.kinds: list[set[int]] = [set() for _ in self.fields]

    def entries_of(self, doc: Doc, cache: dict[str, Any]) -> tuple[Entry, ...] | None:
        """The entries of ``doc`` (None: it is odd; none: it is left out); ``cache`` shares path values between
        indexes."""
        per_field: list[list[tuple[int, Any]]] = []
        for i, field in enumerate(self.fields):
            got = cache.get(field)
            if got is None:
                try:
                    values, through = path_values(doc, field)
                    encoded = list(dict.fromkeys(encode(v) for v in values)) or [(NULL, 0)]
                    got = cache[field] = (encoded, through, {kind(r, v) for r, v in encoded}, not values)
                except Odd:
                    got = cache[field] = ()
            if not got:
                return None
            encoded, through, kinds, missing = got
            if missing and i == self.lead:
                return ()
            if through or len(encoded) > 1:
                self.multikey[i] = True
            if not kinds <= self.kinds[i]:
                self.kinds[i] |= kinds
            per_field.append(encoded)
        if per_field[-1][0][0] == NULL:
            return None  # no _id (never stored so): nothing to file it under
        if all(len(values) == 1 for values in per_field):  # the usual case: one entry
            return (tuple(itertools.chain.from_iterable(values[0] for values in per_field)),)
        if math.prod(len(values) for values in per_field) > MAX_ENTRIES:
            return None
        return tuple(tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*per_field))

    def add(self, key: Any, doc: Doc, cache: dict[str, Any]) -> None:
        self.remove(key)
        entries = self.entries_of(doc, cache)
        if entries is None:
            self.odd.add(key)
            return
        if not entries:
            self.complete = False
            return
        self.held[key] = entries
        for entry in entries:  # (SortedList.update re-sorts what it is given: dearer for a few)
            self.entries.add(entry)

    def remove(self, key: Any) -> None:
        self.odd.discard(key)
        for entry in self.held.pop(key, ()):
            self.entries.discard(entry)

    def count(self, lo: Entry, hi: Entry) -> int:
        return max(0, int(self.entries.bisect_left(hi)) - int(self.entries.bisect_left(lo)))

    def scan(self, lo: Entry, hi: Entry, reverse: bool = False) -> Iterator[Entry]:
        start, stop = self.entries.bisect_left(lo), self.entries.bisect_left(hi)
        return iter(self.entries.islice(start, stop, reverse=reverse)) if start < stop else iter(())


class Indexes:
    """The indexes of one collection, for the documents dict they were built from.

    Writes do not file documents at once: they note the key (``pending``), and the next query of the collection
    files every noted document as it is then (or drops it when it is gone). A write costs a set insertion, and a
    collection that is written far more than it is queried (the audit trail, the outbox) pays for its indexes
    only when it is queried — the same work, done once per key however often the document changed meanwhile."""

    def __init__(self, documents: Any):
        self.documents = documents
        self.by_name: dict[str, Index] = {}
        self.pending: set[Any] = set()

    def sync(self, specs: dict[str, Doc]) -> None:
        """Build what is missing, drop what was dropped, rebuild what was re-created."""
        for name in [n for n, ix in self.by_name.items() if specs.get(n) is not ix.spec]:
            del self.by_name[name]
        fresh = [Index(name, spec) for name, spec in specs.items() if name not in self.by_name]
        self.by_name.update((ix.name, ix) for ix in fresh)  # an unusable one too: it is not re-examined
        fresh = [ix for ix in fresh if ix.usable]
        if fresh:
            for key, doc in self.documents.items():
                cache: dict[str, Any] = {}
                for ix in fresh:
                    ix.add(key, doc, cache)

    def added(self, key: Any, doc: Doc) -> None:
        self.pending.add(key)

    def removed(self, key: Any) -> None:
        self.pending.add(key)

    def flush(self) -> None:
        """File the documents written since the last query (their current state), drop the deleted ones."""
        pending, self.pending = self.pending, set()
        usable = [ix for ix in self.by_name.values() if ix.usable]
        for key in pending:
            doc = self.documents.get(key)
            if doc is None:
                for ix in self.by_name.values():
                    ix.remove(key)
                continue
            cache: dict[str, Any] = {}
            for ix in usable:
                ix.add(key, doc, cache)


def indexes_of(store: Any) -> Indexes:
    """The up-to-date indexes of mongomock's collection ``store`` (built on first use)."""
    state: Indexes | None = store.__dict__.get("_devdb_indexes")
    if state is None or state.documents is not store._documents:
        state = store.__dict__["_devdb_indexes"] = Indexes(store._documents)
    specs = {"_id_": ID_SPEC, **store.indexes}
    if len(state.by_name) != len(specs) or any(
            state.by_name.get(n) is None or state.by_name[n].spec is not s for n, s in specs.items()):
        state.sync(specs)
    if state.pending:
        state.flush()
    return state


def _kept(store: Any) -> Indexes | None:
    """The indexes to keep up to date on a write, if they were built (else they are built when first read)."""
    state: Indexes | None = store.__dict__.get("_devdb_indexes")
    return state if state is not None and state.documents is store._documents else None


def added(store: Any, key: Any, doc: Doc) -> None:
    """``doc`` was inserted under ``key``, or changed in place: file it again."""
    state = _kept(store)
    if state is not None:
        state.added(key, doc)


def removed(store: Any, key: Any) -> None:
    """The document under ``key`` was deleted."""
    state = _kept(store)
    if state is not None:
        state.removed(key)
