"""In-memory index structures for the indexes a collection declares (createIndexes), kept up to date lazily (by a
collection's next query, or while devdb is idle: ``Indexes``).

An ``Index`` holds, for each stored document, one entry per combination of the values its key paths hold (a
multikey index: arrays along a path are expanded, as MongoDB does), in order (store/devdb/entries.py: grouped by
value). Each value is taken with
its rank in BSON's order of types (``encode``: numbers and booleans share one rank so that a candidate range
holds everything mongomock's ``==`` equates, ``1 == 1.0 == True``). An entry is a pair ``(key bytes, _id)``: the
ranks and values of every field but the last packed into bytes that sort as the values do (``pack``), followed
by the rank of the ``_id`` (appended to the index's fields when it does not end in ``_id``), and then the
document's store key itself — shared with the documents dict, and keeping entries with equal values in ``_id``
order. The planner (store/devdb/planner.py) speaks of keys
as flat tuples ``(rank0, value0, rank1, value1, ...)`` with ``AFTER`` as a bound past every entry holding the
values before it; ``Index.bound`` turns one into the entries' form.

The index only ever narrows: the planner reads candidate store keys from it and the full filter is still
applied to each candidate. What it cannot place in the order — a value of another type (embedded documents,
ObjectIds in a key other than ``_id``, Decimal128, NaN, integers beyond 2**53, regexes ...), arrays in arrays,
a path through an array index — puts the document in the index's ``odd`` set, which every plan adds to its
candidates and which disables ordered walks.

The set of a collection's indexes (``indexes_of``) lives on mongomock's collection store beside the documents
it describes; it is built on first use from the documents and then kept from what the documents record of
their changes (store/devdb/documents.py); a drop (new documents) or a changed index definition rebuilds it.
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import datetime as dt
import itertools
import math
import struct
from collections.abc import Iterator
from typing import Any

import bson

from store.devdb.codec import CODEC, Doc
from store.devdb.documents import Documents, full
from store.devdb.entries import Entries

# Ranks in BSON's comparison order (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/).
NULL, NUMBER, STRING, OBJECT_ID, DATE = 1, 2, 3, 7, 9
AFTER = 0xFF  # greater than any rank: (..., rank, value, AFTER) bounds every entry holding that value
MAX_ENTRIES = 256  # a document with more combinations than this in one compound index is kept as odd
MAX_BOUNDS = 4096  # bounds remembered per index (Index.bound)
MAX_EXACT_INT = 2**53  # integers up to this are exact as doubles, the form numbers are packed in
MAX_PLANS = 512  # plans remembered per collection between two writes (store/devdb/query.py ``planned``)
FILED_TOGETHER = 16384  # documents whose entries go in together (``Filing``): fewer insertions, a bounded peak

Entry = tuple[Any, ...]
ID_SPEC: Doc = {"key": [("_id", 1)], "unique": True}  # implicit in every collection (mongomock lists it not)

_DOUBLE, _BITS = struct.Struct(">d"), struct.Struct(">Q")
_EPOCH = dt.datetime(1970, 1, 1)
_MICROSECOND = dt.timedelta(microseconds=1)
_RANK_BYTES = [bytes([r]) for r in range(256)]
_PARTS: dict[str, tuple[str, ...]] = {}  # an index's field path, split (empty: it has a numeric part)
_MISSING: Any = object()
_NULL_KIND, _STRING_KIND = frozenset({NULL}), frozenset({STRING})


class Odd(Exception):
    """A value the index does not place in its order."""


def encode(value: Any) -> tuple[int, Any]:
    """(rank, comparable value) of one scalar; ``Odd`` for what the index does not order."""
    if isinstance(value, str):
        return STRING, value
    if isinstance(value, bool):
        return NUMBER, value  # mongomock's == equates True and 1: one rank keeps both in one candidate range
    if isinstance(value, int):
        if -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
            return NUMBER, value
        raise Odd
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


def pack(rank: int, value: Any) -> bytes:
    """An encoded value as bytes that compare as the (rank, value) pairs do, and delimit themselves."""
    if rank == STRING:
        # UTF-8 orders as code points do; NUL escaped, so that the terminator sorts before any continuation.
        text: bytes = value.encode("utf-8", "surrogatepass")
        return b"\x03" + text.replace(b"\x00", b"\x00\xff") + b"\x00\x01"
    if rank == NUMBER:
        bits: int = _BITS.unpack(_DOUBLE.pack(float(value) + 0.0))[0]  # (+ 0.0: -0.0 is 0.0)
        bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63
        return b"\x02" + bits.to_bytes(8, "big")
    if rank == DATE:
        micros: int = (value - _EPOCH) // _MICROSECOND
        return b"\x09" + (micros + (1 << 63)).to_bytes(8, "big")
    if rank == OBJECT_ID:
        oid: bytes = value.binary
        return b"\x07" + oid
    return b"\x01"  # null


def packed_end(key: bytes, at: int) -> int:
    """Where the packed value starting at ``at`` ends."""
    rank = key[at]
    if rank == STRING:
        return key.index(b"\x00\x01", at + 1) + 2
    return at + {NUMBER: 9, DATE: 9, OBJECT_ID: 13}.get(rank, 1)


def kind(rank: int, value: Any) -> int:
    """The sort kind of an encoded value: its rank, booleans apart (mongomock sorts them after every number)."""
    return -1 if isinstance(value, bool) else rank


def path_values(doc: Doc, path: str) -> tuple[list[Any], bool]:
    """(every value an index on ``path`` holds for ``doc``, whether an array was met on the way); ``Odd`` for an
    array in an array (mongomock and MongoDB traverse those differently) or a numeric path part."""
    parts = _PARTS.get(path)
    if parts is None:
        parts = tuple(path.split("."))
        parts = _PARTS[path] = () if any(part.isdigit() for part in parts) else parts
    if not parts:
        raise Odd
    node: Any = doc
    for part in parts:  # the usual case first: embedded documents all the way down
        if type(node) is not dict:
            return _path_values(doc, parts)
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return [], False
    if type(node) is dict or type(node) is list:
        return _path_values(doc, parts)
    return [node], False


def _path_values(doc: Doc, parts: tuple[str, ...]) -> tuple[list[Any], bool]:
    """``path_values`` through arrays."""
    nodes: list[Any] = [doc]
    through_array = False
    for part in parts:
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


def _field(doc: Doc, field: str) -> list[Any]:
    """What the indexes on ``field`` file of ``doc``: [its values encoded, whether they make the index multikey (an
    array on the way, or several values), their kinds, whether there were none, their packed bytes (``_packed``,
    when first needed)]; empty when odd."""
    try:
        values, through = path_values(doc, field)
        if not values:
            return [[(NULL, 0)], through, _NULL_KIND, True, None]
        if len(values) == 1 and type(values[0]) is str:  # the usual case (ids, codes, references, dates as text)
            return [[(STRING, values[0])], through, _STRING_KIND, False, None]
        if all(type(v) is str for v in values):
            encoded = [(STRING, v) for v in dict.fromkeys(values)]
            return [encoded, through or len(encoded) > 1, _STRING_KIND, False, None]
        encoded = list(dict.fromkeys(encode(v) for v in values))
    except Odd:
        return []
    return [encoded, through or len(encoded) > 1, {kind(r, v) for r, v in encoded}, False, None]


def _packed(got: list[Any]) -> list[bytes]:
    """The packed values of a ``_field`` (kept in it: the indexes of a document share one field's)."""
    packed: list[bytes] = [pack(*v) for v in got[0]]
    got[4] = packed
    return packed


class Index:
    """One index's entries, sorted."""

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
        self.entries = Entries()
        # bound() of the planner's keys, remembered: a page of 50 parents' references plans the same 50 ranges
        # several times per query (choosing, walking, bounding), and again on every request
        self._bounds: dict[Entry, Entry] = {}
        self.odd: set[Any] = set()
        self.multikey = [False] * len(self.fields)  # an array met on the way: no ordered walk on the field
        self.kinds: list[set[int]] = [set() for _ in self.fields]

    def filed(self, doc: Doc, cache: dict[str, Any]) -> list[bytes] | None:
        """The entries' values of ``doc`` (None: it is odd; none: it is left out); ``cache`` shares each field's
        values, encoded and packed, between the indexes of one document."""
        packed: list[list[bytes]] = []
        combinations = 1
        multikey_of, kinds_of, lead, last = self.multikey, self.kinds, self.lead, len(self.fields) - 1
        for i, field in enumerate(self.fields):
            got = cache.get(field)
            if got is None:
                got = cache[field] = _field(doc, field)
            if not got:
                return None
            encoded, multikey, kinds, missing, field_packed = got
            if missing and i == lead:
                return []
            if multikey:
                multikey_of[i] = True
            if not kinds <= kinds_of[i]:
                kinds_of[i] |= kinds
            if i == last:  # the _id: its rank closes the entry's bytes (the store key follows them)
                if encoded[0][0] == NULL or len(encoded) > 1:
                    return None  # no _id (never stored so): nothing to file it under
                packed.append([_RANK_BYTES[encoded[0][0]]])
            else:
                packed.append(field_packed or _packed(got))
                combinations *= len(encoded)
        if combinations == 1:  # the usual case: one entry
            return [b"".join([p[0] for p in packed])]
        if combinations > MAX_ENTRIES:
            return None
        return [b"".join(combo) for combo in itertools.product(*packed)]

    def add(self, key: Any, doc: Doc, cache: dict[str, Any], pending: dict[bytes, list[Any]]) -> None:
        """File ``doc`` under store key ``key``: its entries go to ``pending`` (value -> store keys), which
        ``Entries.extend`` files."""
        values = self.filed(doc, cache)
        if values is None:
            self.odd.add(key)
        elif not values:
            self.complete = False
        else:
            for value in values:
                keys = pending.get(value)
                if keys is None:
                    pending[value] = [key]
                else:
                    keys.append(key)

    def remove(self, key: Any, doc: Doc, cache: dict[str, Any]) -> None:
        """Take out what ``doc`` (the version filed under ``key``) put in."""
        if key in self.odd:
            self.odd.discard(key)
            return
        for value in self.filed(doc, cache) or ():
            self.entries.remove(value, key)

    def bound(self, flat: Entry) -> Entry:
        """A planner's key ``(rank0, value0, ..., [AFTER])`` as a bound among the entries."""
        try:
            found = self._bounds.get(flat)
        except TypeError:  # a value that does not hash: not remembered
            return self._bound(flat)
        if found is None:
            if len(self._bounds) >= MAX_BOUNDS:
                self._bounds.clear()
            found = self._bounds[flat] = self._bound(flat)
        return found

    def _bound(self, flat: Entry) -> Entry:
        parts: list[bytes] = []
        last = len(self.fields) - 1
        for field, at in enumerate(range(0, len(flat), 2)):
            rank = flat[at]
            if rank == AFTER or at + 1 == len(flat):
                parts.append(_RANK_BYTES[rank])
                break
            if field == last:  # the _id: its rank in the bytes, its value beside them
                parts.append(_RANK_BYTES[rank])
                return (b"".join(parts), *flat[at + 1:])
            parts.append(pack(rank, flat[at + 1]))
        return (b"".join(parts),)

    def count(self, lo: Entry, hi: Entry, exact: bool = False) -> int:
        """How many entries lie from ``lo`` up to (not including) ``hi`` (for many values an estimate, unless
        ``exact``)."""
        return self.entries.count(self.bound(lo), self.bound(hi), exact)

    def scan(self, lo: Entry, hi: Entry, reverse: bool = False) -> Iterator[Entry]:
        """The entries from ``lo`` up to (not including) ``hi``."""
        return self.entries.scan(self.bound(lo), self.bound(hi), reverse)

    def tails(self, lo: Entry, hi: Entry, pinned: int, reverse: bool = False) -> Iterator[Entry]:
        """``scan`` of a range whose first ``pinned`` fields are fixed (``lo`` and ``hi`` begin with their values),
        each entry less those fields: what the entries of several such ranges are merged by."""
        skip = len(self.bound(lo[:2 * pinned])[0]) if pinned else 0
        if not skip:
            return self.scan(lo, hi, reverse)
        return ((e[0][skip:], e[1]) for e in self.scan(lo, hi, reverse))

    def group(self, tail: Entry, pinned: int) -> Any:
        """The value of the first field of a ``tails`` entry (for the ``_id``, the entry itself)."""
        if pinned >= len(self.fields) - 1:
            return tail
        return tail[0][:packed_end(tail[0], 0)]

    def held(self, key: Any) -> list[Entry]:
        """The entries of the document under ``key``, as the planner's flat keys (for tests: a scan)."""
        return [unpack(e[0]) + (e[1],) for e in self.entries if e[1] == key]


def unpack(packed: bytes) -> Entry:
    """The flat ``(rank, value, ..., id rank)`` of an entry's bytes (for tests and diagnostics)."""
    out: list[Any] = []
    at, end_of_values = 0, len(packed) - 1  # the last byte is the _id's rank
    while at < end_of_values:
        rank, end = packed[at], packed_end(packed, at)
        body = packed[at + 1:end]
        if rank == STRING:
            value: Any = body[:-2].replace(b"\x00\xff", b"\x00").decode("utf-8", "surrogatepass")
        elif rank == NUMBER:
            bits = int.from_bytes(body, "big")
            bits = bits ^ 1 << 63 if bits >> 63 else bits ^ 0xFFFFFFFFFFFFFFFF
            value = _DOUBLE.unpack(bits.to_bytes(8, "big"))[0]
        elif rank == DATE:
            value = _EPOCH + (int.from_bytes(body, "big") - (1 << 63)) * _MICROSECOND
        elif rank == OBJECT_ID:
            value = bson.ObjectId(body)
        else:
            value = 0
        out += [rank, value]
        at = end
    return (*out, packed[-1])


class Indexes:
    """The indexes of one collection, for the documents they were built from.

    Writes do not file documents at once: the documents note what changed (the version each key held when the
    indexes last looked, store/devdb/documents.py), and the next query of the collection takes out what those
    versions put in and files every changed document as it is then. A write costs a dict insertion, and a
    collection that is written far more than it is queried (the audit trail, the outbox) pays for its indexes
    only when it is queried — the same work, done once per key however often the document changed meanwhile —
    or when devdb is idle (``file_some``, a slice at a time: its next query then has little left to file).
    What is filed together goes in together (``Entries.extend``)."""

    def __init__(self, documents: Documents):
        self.documents = documents
        self.by_name: dict[str, Index] = {}
        documents.changes = {}
        # The plans of the queries asked since the indexes last changed (store/devdb/query.py ``planned``): a plan
        # is a function of the indexes as they are and of the query, so it is forgotten whenever they change.
        self.plans: dict[bytes, Any] = {}

    def sync(self, specs: dict[str, Doc]) -> None:
        """Build what is missing, drop what was dropped, rebuild what was re-created (from the documents, less those
        still to be filed: ``flush`` files them in every index)."""
        self.plans.clear()
        for name in [n for n, ix in self.by_name.items() if specs.get(n) is not ix.spec]:
            del self.by_name[name]
        fresh = [Index(name, spec) for name, spec in specs.items() if name not in self.by_name]
        self.by_name.update((ix.name, ix) for ix in fresh)  # an unusable one too: it is not re-examined
        fresh = [ix for ix in fresh if ix.usable]
        if fresh:
            filing = Filing(fresh)
            unfiled = self.documents.changes or {}
            for key, held in self.documents.held.items():
                if key not in unfiled:
                    filing.add(key, bson.decode(full(held), CODEC))
            filing.done()

    def flush(self, most: int | None = None) -> int:
        """File the documents written since the last query (their current state), drop the deleted ones — or only
        the ``most`` written first (idle filing: store/devdb/engine.py ``file_idle``). Returns how many it filed."""
        self.plans.clear()
        changes = self.documents.changes or {}
        if most is None or len(changes) <= most:
            self.documents.changes = {}
        else:  # the rest stay noted, for the next flush
            taken = dict(itertools.islice(changes.items(), most))
            for key in taken:
                del changes[key]
            changes = taken
        usable = [ix for ix in self.by_name.values() if ix.usable]
        filing = Filing(usable)
        current = self.documents.held
        for key, old in changes.items():
            new = current.get(key)
            if new is old:
                continue
            cache: dict[str, Any] = {}
            if old is not None:  # taken out at once, so that the same entry filed again below is new to the index
                before = bson.decode(full(old), CODEC)
                for ix in usable:
                    ix.remove(key, before, cache)
            if new is not None:
                filing.add(key, bson.decode(full(new), CODEC))
        filing.done()
        return len(changes)


class Filing:
    """Documents filed in some indexes together: their entries gathered per index, and put in at once
    (``Entries.extend``) every ``FILED_TOGETHER`` documents and at the end."""

    def __init__(self, indexes: list[Index]):
        self.indexes = indexes
        self.pending: list[dict[bytes, list[Any]]] = [{} for _ in indexes]
        self.gathered = 0

    def add(self, key: Any, doc: Doc) -> None:
        cache: dict[str, Any] = {}
        for ix, into in zip(self.indexes, self.pending, strict=True):
            ix.add(key, doc, cache, into)
        self.gathered += 1
        if self.gathered >= FILED_TOGETHER:
            self.done()

    def done(self) -> None:
        for ix, into in zip(self.indexes, self.pending, strict=True):
            if into:
                ix.entries.extend(into)
        self.pending = [{} for _ in self.indexes]
        self.gathered = 0


def indexes_of(store: Any) -> Indexes:
    """The up-to-date indexes of mongomock's collection ``store`` (built on first use)."""
    state = _state(store, unfiled=False)
    if state.documents.changes:
        state.flush()  # before any index is built afresh from the documents as they are now
    _sync(state, store)
    return state


def file_some(store: Any, most: int) -> int:
    """File up to ``most`` of the documents that the indexes of mongomock's collection ``store`` have yet to file
    (devdb's idle filing, store/devdb/engine.py ``file_idle``); returns how many. Indexes not built yet start empty,
    with every document to file: a large collection is built a slice at a time too."""
    state = _state(store, unfiled=True)
    _sync(state, store)
    return state.flush(most) if state.documents.changes else 0


def _state(store: Any, *, unfiled: bool) -> Indexes:
    """The ``Indexes`` kept on ``store``, made anew when there are none for its documents: built from them by the
    next ``_sync``, or (``unfiled``) empty, with every document noted as yet to file."""
    state: Indexes | None = store.__dict__.get("_devdb_indexes")
    if state is None or state.documents is not store._documents:
        state = store.__dict__["_devdb_indexes"] = Indexes(store._documents)
        if unfiled:
            state.documents.changes = dict.fromkeys(state.documents.held)  # each was absent when they last looked
    return state


def _sync(state: Indexes, store: Any) -> None:
    specs = {"_id_": ID_SPEC, **store.indexes}
    if len(state.by_name) != len(specs) or any(
            state.by_name.get(n) is None or state.by_name[n].spec is not s for n, s in specs.items()):
        state.sync(specs)
