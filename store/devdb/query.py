"""How a query reaches its documents without scanning them all, as mongomock otherwise does for every query.

- a filter pinning ``_id`` (equality, ``$eq``, ``$in``, also inside ``$and``) fetches by key (``lookup``: IDHACK),
  the rest of it tested on each document's bytes when that is equalities (``planner.id_residue``: ``read_many``'s
  deleted flag), else on the decoded document;
- otherwise the planner (store/devdb/planner.py) picks an index built from the collection's createIndexes
  (store/devdb/index.py) and reads candidates from it (IXSCAN), walking it in the sort's order up to the limit
  when it can; every candidate still passes mongomock's full filter;
- anything no index narrows is mongomock's scan (COLLSCAN), then a sort; unsorted with a limit, the scan
  stops at the limit. ``explain`` tells which one answers a query (also the ``explain`` command).

The query shapes the store sends, and how they are answered:

indexed (IXSCAN; the index the store creates for them in store/indexes.py and its modules):
- search pages, store/queries.py ``page`` and ``compartment``: ``live()`` (``_sys.tenant``, ``_sys.deleted``) and
  clauses from store/search.py, sorted by ``_id`` or ``_sys.s.<p>`` + ``_id``, keyset ``$or`` after a cursor, a
  limit — token and reference equalities and their ``$or`` of values, string prefixes (anchored regex),
  numbers (ranges), date ``eq``/``lt``/``le``/``sa`` (``$elemMatch`` bounds on ``lo``) on ``k_<p>``; the sort
  walked on ``s_<p>``, on a ``k_<p>`` pinned by an equality, or on ``_id_``; compartment and confinement clauses
  (``_sys.k.<p>`` equalities, ``$or`` across parameters) alike; a page of a tenant's live resources in ``_id``
  order (no parameters, or after a keyset cursor) walks ``tenant_live_id``, whose ranges settle the whole filter
  (``planner.walk_settled``): its entries are the page, sent as stored with no document decoded or tested;
- reverse references and includes, ``_referencing``: ``$in`` on ``_sys.k.<p>`` sorted by ``_id`` (the ranges of
  ``k_<p>`` merged in ``_id`` order), the deleted flag and a token's ``$or`` of codes (the chart's observations by
  category) tested on each candidate's bytes (``planner.walk_residue``, rawbson ``equals``: a key's list of strings
  included); chained searches (store/search_chains.py) the same way, with a limit;
- counts (``count_documents``, ``_total``, ``count_by``'s ``$match``): the same candidates, each still filtered —
  but for a filter an index settles (``planner.settled``: a tenant's live resources on ``tenant_live_id``), counted
  from the index alone (``explain``: COUNT_SCAN), and for that and one ``:not`` token (patients not archived)
  the same count less the intersection of two indexes' keys (``count``);
- history: ``_sys.tenant`` + ``_sys.id`` (``tenant_id_lu``), ``_sys.tenant`` alone with ``_since`` (``tenant_lu``),
  both walked by ``_sys.lu`` descending + ``_id``;
- the outbox, store/outbox.py: ``tenant`` + ``seq`` ranges sorted by ``seq`` (``tenant_seq``, both directions);
- deliveries: the log by ``tenant`` + ``webhook`` walked by ``at``, ``_id`` descending; dead letters by
  ``tenant`` + ``webhook`` (+ ``state``), then sorted by ``seq``;
- background jobs: claims by ``kind`` + ``status`` + ``until`` range (``claim``), chunks by ``job`` (``job_n``) /
  ``file`` + ``n`` (``file_n``), TTL sweeps by ``expires``;
- ``delete_many`` of a tenant (``erase_tenant``: ``tenant_lu``), idempotency keys by ``_id`` prefix regex.

known scans (no index the store creates leads with what they constrain; MongoDB would scan them too, except
where noted):
- ``active_rest_hooks``: Subscriptions by ``status``/``channel.type`` across tenants (a small collection);
- ``first_seq``: the outbox by ``resourceType``/``resourceId`` — a walk of the tenant's ``tenant_seq`` range
  that stops at the first match;
- clauses that bound nothing an index leads with — ``:missing`` (``$exists``), ``:not`` (``$ne``),
  ``:contains`` (unanchored regex), ``:exact`` (``_sys.e``), date ``gt``/``ge``/``eb`` (bounds on ``hi`` only):
  the tenant's range of whichever index the other clauses narrow, each candidate filtered;
- identity lookups other than by ``_id`` (clients by ``api_key``, codes and refresh tokens by subject, revocations
  by ``at``), webhook state and leases by anything but ``_id``: those collections declare no such index.

What the planner leaves to the scan, to stay exact: ``null`` equality, ObjectIds outside ``_id`` (mongomock also
matches their string form), embedded-document and array equality, regexes with options or alternation.
A sort without a unique last key (the store always ends with ``_id``, or sorts the outbox by its unique
``seq``) breaks ties in ``_id`` order through an index; MongoDB leaves that order unspecified.
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import bson
from bson.regex import Regex
from mongomock import filtering
from mongomock import helpers as mm_helpers
from mongomock.collection import Collection as MockCollection

from store.devdb import index, matcher, planner, rawbson
from store.devdb.codec import CODEC, Doc
from store.devdb.documents import Documents, decode

# A result: the stored bytes, and the decoded document when something had to look into it (None: nothing did).
Row = tuple[bytes, Doc | None]
Match = tuple[bytes, Doc]


def store_key(value: Any) -> Any:
    """The key mongomock files a document under (embedded-document _ids are wrapped to be hashable)."""
    return mm_helpers.hashdict(value) if isinstance(value, dict) else value


def id_lookup(filter: Any) -> list[Any] | None:
    """Store keys of the only documents ``filter`` can match when it pins ``_id``; None when it does not."""
    if not isinstance(filter, Mapping):
        return None
    if "_id" not in filter:
        # Any conjunct pinning _id narrows the whole conjunction.
        conjuncts = filter.get("$and")
        return next((k for k in map(id_lookup, conjuncts) if k is not None), None) if conjuncts else None
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
        return list(dict.fromkeys(store_key(v) for v in values))
    except TypeError:
        return None


def lookup(documents: Documents, filter: Doc) -> list[Row] | None:
    """The documents matching ``filter``, fetched by key in ``_id`` order; None when it does not pin ``_id``."""
    keys = id_lookup(filter)
    if keys is None:
        return None
    raw = documents.raw
    strings = all(type(k) is str for k in keys)
    if strings:  # in the order of MongoDB's _id index, as an $in read through it would be
        # (strings compare alike in BSON and Python: UTF-8 byte order is code point order)
        keys.sort()
        if _only_pins_id(filter):  # string _ids found by key are exact matches: nothing to decode
            return [(found, None) for key in keys if (found := raw(key)) is not None]
        residue = planner.id_residue(filter)
        if residue is not None:  # and the rest equalities (read_many's deleted flag): tested on the bytes
            return list(_residue_filtered(filter, residue, (found for key in keys if (found := raw(key)) is not None)))
    rows: list[Row] = list(_filtered(filter, (found for key in keys if (found := raw(key)) is not None)))
    if len(rows) > 1 and not strings:
        rows.sort(key=lambda row: filtering.resolve_sort_key("_id", row[1]))
    return rows


def _only_pins_id(filter: Doc) -> bool:
    """Whether ``filter`` says nothing but which ``_id``s it wants: no other field, conjunct or operator."""
    if list(filter) != ["_id"]:
        return False
    cond = filter["_id"]
    return not isinstance(cond, Mapping) or list(cond) in (["$eq"], ["$in"])


def matching(coll: MockCollection, filter: Doc, sort: Mapping[str, Any] | None, needed: int = 0) -> list[Row]:
    """Documents matching ``filter`` in ``sort`` order; with ``needed`` > 0, only the first ``needed``."""
    documents: Documents = coll._store._documents
    found_by_id = lookup(documents, filter)
    if found_by_id is not None:
        return sort_rows(found_by_id, sort)[: needed or None]
    spec = list((sort or {}).items())
    if all(isinstance(k, str) and not k.startswith("$") and d in (1, -1) for k, d in spec):
        chosen = planned(index.indexes_of(coll._store), filter, spec, needed, len(documents))
        found = chosen.plan
        if found is not None:
            if found.order == "groups":
                grouped = _in_groups(found, documents.raw, filter, needed, chosen.settled, chosen.residue)
                by_bytes = _sorted_by_bytes(grouped, spec)
                return (by_bytes if by_bytes is not None else sort_rows(grouped, sort))[:needed]
            if chosen.settled:
                # the index ranges say all the filter says: the first ``needed`` entries are the answer as stored
                return [(raw, None) for raw in itertools.islice(planner.candidates(found, documents.raw),
                                                                needed or None)]
            residue = chosen.residue
            if residue is not None:  # the rest tested on the stored bytes, decoded only where they do not say
                return list(itertools.islice(_residue_filtered(filter, residue, planner.candidates(
                    found, documents.raw)), needed or None))
            rows = _filtered(filter, planner.candidates(found, documents.raw))
            if found.order != "sort":  # walked in the sort's order, or not sorted: stop at the limit
                return list(itertools.islice(rows, needed or None))
            return sort_rows(list(rows), sort)[: needed or None]
        if needed > 0 and not spec:
            return list(itertools.islice(_filtered(filter, documents.raws()), needed))
    return sort_rows(list(scanned(coll, filter)), sort)[: needed or None]


@dataclass(frozen=True, slots=True)
class Planned:
    """A find's plan (None: scan) and what ``matching`` asks of it."""

    plan: planner.Plan | None
    settled: bool  # planner.walk_settled: an index walk whose entries are the answer
    residue: planner.Residue | None  # planner.walk_residue of a walk not settled


def planned(indexes: index.Indexes, filter: Doc, spec: list[tuple[str, int]], needed: int, total: int) -> Planned:
    """``planner.plan`` of a find, with ``walk_settled`` and ``walk_residue`` of it, remembered in ``indexes.plans``
    until the indexes next change (any write to the collection, an index created or dropped): all three are
    functions of the indexes' entries and of the query alone, and planning was a quarter of devdb's time per search
    page, asked again with the same filter on every request (bench/README.md). The key is the query as BSON (its
    values' types included: ``True`` is not ``1``); a hit also needs the filter ``==`` the one planned, so that
    values alike in BSON but not to the planner (a tz-aware datetime, a compiled pattern) are planned apart."""
    try:
        key = bson.encode({"f": filter, "s": spec, "n": needed, "t": total}, codec_options=CODEC)
    except Exception:  # a value BSON cannot hold (an in-process caller's): planned each time
        key = None
    memo = indexes.plans
    held = memo.get(key) if key is not None else None
    if held is not None and held[0] == filter:
        chosen: Planned = held[1]
        return chosen
    found = planner.plan(indexes, filter, spec or None, needed, total)
    walked = found if found is not None and found.walk else None
    settled = walked is not None and planner.walk_settled(walked, filter)
    chosen = Planned(found, settled, planner.walk_residue(walked, filter) if walked is not None and not settled
                     else None)
    if key is not None and index.MAX_PLANS > 0:
        if len(memo) >= index.MAX_PLANS:
            memo.clear()
        memo[key] = (filter, chosen)
    return chosen


def rows(coll: MockCollection, filter: Doc) -> Iterator[Match]:
    """The documents matching ``filter`` (not sorted), each decoded, read out before the first is returned (an
    update may change them as it goes)."""
    documents: Documents = coll._store._documents
    by_id = lookup(documents, filter)
    if by_id is not None:
        return ((raw, doc if doc is not None else decode(raw)) for raw, doc in by_id)
    found = planner.plan(index.indexes_of(coll._store), filter, None, 0, len(documents))
    if found is None:
        return scanned(coll, filter)
    return _filtered(filter, list(planner.candidates(found, documents.raw)))


def count(coll: MockCollection, filter: Doc) -> int:
    """How many documents match ``filter``: from an index alone when its ranges say all the filter says
    (``planner.counted``: the store's counts of a tenant's live resources), or so less the documents of its one
    negated equality (``planner.negation``: patients not archived); else by testing each candidate."""
    if id_lookup(filter) is None:
        filtering.filter_applies(filter, {})  # a bad filter is refused as the scan would refuse it
        indexes = index.indexes_of(coll._store)
        n = planner.counted(indexes, filter)
        if n is not None:
            return n
        split = planner.negation(filter)
        if split is not None and (n := planner.counted(indexes, split[0])) is not None:
            rest, positive = split
            negated = planner.both(indexes, rest, positive)
            if negated is None:
                negated = sum(1 for _ in rows(coll, {"$and": [rest, positive]}))
            return n - negated
    return sum(1 for _ in rows(coll, filter))


def _in_groups(found: planner.Plan, fetch: planner.Fetch, filter: Doc, needed: int, settled: bool = False,
               residue: planner.Residue | None = None) -> list[Row]:
    """The matches of a walk in the order of the sort's first key, up to the end of the group of equal first
    keys that holds the ``needed``-th: the first ``needed`` in the whole sort's order are among them. Each
    candidate matches (``settled``), or is tested on its bytes (``residue``), else decoded and tested."""
    filtering.filter_applies(filter, {})
    applies = matcher.applies(filter)
    out: list[Row] = []
    boundary: Any = None
    for group, raw in planner.grouped(found, fetch):
        if boundary is not None and group != boundary:
            break
        row = _match(raw, filter, applies, settled, residue)
        if row is not None:
            out.append(row)
            if len(out) >= needed and boundary is None:
                boundary = group
    return out


def _match(raw: bytes, filter: Doc, applies: Callable[[Doc], bool], settled: bool,
           residue: planner.Residue | None) -> Row | None:
    if settled:
        return raw, None
    if residue is not None:
        found = rawbson.walked(raw)
        verdicts = [_met(raw, alternatives, found) for alternatives in residue]
        if all(verdicts):
            return raw, None
        if False in verdicts:
            return None
    doc = decode(raw)
    return (raw, doc) if applies(doc) else None


def _sorted_by_bytes(rows: list[Row], spec: list[tuple[str, int]]) -> list[Row] | None:
    """``rows`` in ``spec``'s order with nothing decoded, when every row holds a string at every sort path (read
    from its bytes: strings sort alike in BSON and Python, UTF-8 byte order being code point order); None when one
    does not (the caller sorts the decoded documents)."""
    paths = [[part.encode() for part in key.split(".")] for key, _ in spec]
    keys: list[list[str]] = []
    for raw, _ in rows:
        found = rawbson.walked(raw)
        values = [rawbson.string_at(raw, path, found) for path in paths]
        if None in values:
            return None
        keys.append(values)  # type: ignore[arg-type]
    order = list(range(len(rows)))
    for i in reversed(range(len(spec))):  # stable, last key first, as sort_rows
        order.sort(key=lambda j: keys[j][i], reverse=spec[i][1] < 0)
    return [rows[j] for j in order]


def explain(coll: MockCollection, filter: Doc, sort: Mapping[str, Any] | None = None, limit: int = 0) -> Doc:
    """How ``matching`` answers this query: by ``_id`` key (IDHACK), an index (IXSCAN) or a scan (COLLSCAN)."""
    if id_lookup(filter) is not None:
        return {"stage": "IDHACK", "indexName": "_id_"}
    store = coll._store
    spec = list((sort or {}).items())
    found = planner.plan(index.indexes_of(store), filter, spec or None, limit, len(store._documents))
    return found.describe() if found is not None else {"stage": "COLLSCAN"}


def _filtered(filter: Doc, raws: Iterable[bytes]) -> Iterator[Match]:
    """Each of ``raws`` that matches ``filter``, with its decoded document."""
    filtering.filter_applies(filter, {})  # reject a bad filter even if no document gets to be tested
    if not filter:
        return ((raw, decode(raw)) for raw in raws)
    applies = matcher.applies(filter)
    return (row for row in ((raw, decode(raw)) for raw in raws) if applies(row[1]))


def _residue_filtered(filter: Doc, residue: planner.Residue, raws: Iterable[bytes]) -> Iterator[Row]:
    """Each of ``raws`` whose elements meet the ``residue`` (``planner.walk_residue``: the rest of ``filter`` is
    settled by the walk; ``id_residue``: by the key found; each entry met when one of its equalities holds), tested
    on its bytes; one those do not settle is decoded and tested on the whole filter."""
    applies = matcher.applies(filter)
    for raw in raws:
        row = _match(raw, filter, applies, False, residue)
        if row is not None:
            yield row


def _met(raw: bytes, alternatives: list[tuple[list[bytes], Any]], found: dict[tuple[bytes, ...], int | bool | None]
         ) -> bool | None:
    """True when one of the equalities (or ``$ne``) holds on ``raw``'s bytes, False when none does, None when the
    bytes do not say for one that may."""
    undecided = False
    for path, value in alternatives:
        if type(value) is planner.Not:  # a $ne: met where the equality is not (undecided alike)
            equal = rawbson.equals(raw, path, value.value, found)
            verdict = None if equal is None else not equal
        else:
            verdict = rawbson.equals(raw, path, value, found)
        if verdict:
            return True
        undecided = undecided or verdict is None
    return None if undecided else False


def scanned(coll: MockCollection, filter: Doc) -> Iterator[Match]:
    """Every document matching ``filter``, read from the whole collection (read out first, as ``rows``)."""
    return _filtered(filter, coll._store._documents.raws())


def sort_rows(found: list[Row], sort: Mapping[str, Any] | None) -> list[Row]:
    """Sort like mongomock does (stable, last key first)."""
    keys = list((sort or {}).items())
    if any(not k.startswith("$") for k, _ in keys):
        found = [(raw, doc if doc is not None else decode(raw)) for raw, doc in found]
    for key, direction in reversed(keys):
        if key == "$natural":
            if direction < 0:
                found.reverse()
            continue
        if key.startswith("$") or not isinstance(direction, (int, float)):
            raise NotImplementedError(f"sort by {key}: {direction}")
        found.sort(key=functools.partial(_sort_key, key), reverse=direction < 0)
    return found


def _sort_key(key: str, row: Row) -> Any:
    return filtering.resolve_sort_key(key, row[1])


def sort_documents(docs: list[Doc], sort: Mapping[str, Any] | None) -> list[Doc]:
    """Sort decoded documents like mongomock does (stable, last key first), without copying them."""
    return [doc for _, doc in sort_rows([(b"", doc) for doc in docs], sort) if doc is not None]
