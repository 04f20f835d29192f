"""The query planner: which index (store/devdb/index.py) answers a filter, a sort and a limit, and how.

A filter is read as a conjunction of constraints on paths — equality and ``$in`` on scalars, ranges
(``$gt``/``$gte``/``$lt``/``$lte``), anchored literal regexes (``^abc``: a prefix range), the conditions inside an
``$elemMatch`` on the paths they name — plus ``$or`` groups; everything else (``$ne``, ``$nin``, ``$exists``,
``$nor``, ``$not``, ``null``, embedded documents, ObjectIds outside ``_id`` ...) narrows nothing. For each index,
the leading fields with an equality (each value of an ``$in`` a range of its own), then at most one range,
give the index ranges to read; bisecting the sorted entries counts them exactly, and the smallest wins. An
``$or`` may be answered as the union of one plan per branch.

When the sort (stripped of fields pinned to one value) is the order of the index's fields after its pinned
prefix, in one direction, the index is *walked* in that order (several ranges merged) and the walk stops at
the limit: the store's keyset pages (``sort`` + ``_id`` + limit) cost what they return. A keyset ``$or`` gives
the walk its start (the hull of its branches' bounds on the first sort field). A walk is refused when a sort
field holds arrays or values of more than one type anywhere in the index, or the index has odd documents.

Every candidate still passes mongomock's full filter, so an index only ever narrows; a filter none of the
indexes narrows is the caller's scan.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson.regex import Regex

from store.devdb.codec import Doc
from store.devdb.index import AFTER, MAX_EXACT_INT, NULL, OBJECT_ID, STRING, Entry, Index, Indexes, encode

MAX_RANGES = 1000  # an $in product beyond this stops narrowing at the previous field
_RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")
_META = set(".^$*+?{}[]|()\\")

Tail = tuple[Any, ...]
Fetch = Callable[[Any], bytes | None]  # a document's stored bytes by its store key


@dataclass(frozen=True)
class Eq:
    values: tuple[Tail, ...]  # encoded (rank, value) pairs


@dataclass(frozen=True)
class Range:
    lo: Tail  # bound tails: compared with the part of an entry from the field on
    hi: Tail
    joint: bool  # both bounds hold for one and the same value (a prefix); else only on single-valued fields


Constraint = Eq | Range


@dataclass
class Conjunction:
    on: dict[str, list[Constraint]] = field(default_factory=dict)
    ors: list[list[Doc]] = field(default_factory=list)


@dataclass
class Access:
    """Ranges of one index."""

    index: Index
    ranges: list[tuple[Entry, Entry]]
    count: int
    pinned: int  # leading fields fixed by equality
    single: bool  # each of them to one value


@dataclass
class Plan:
    """How a query reads its candidates: ``accesses`` (their union), walked in order when ``walk``."""

    accesses: list[Access]
    # "index": walked in the sort's order; "groups": walked in the order of the sort's first keys, each group of
    # equal ones sorted; "sort": all candidates, then sorted; "none": not sorted
    order: str = "sort"
    reverse: bool = False
    cost: int = 0

    @property
    def walk(self) -> bool:
        return self.order in ("index", "groups")

    def describe(self) -> Doc:
        """What ``explain`` shows: the index, the order (``index``, ``groups``, ``sort``, ``none``), the ranges
        read, and the candidates (entries in the ranges; for a walk with a limit, the expected reads)."""
        names = list(dict.fromkeys(a.index.name for a in self.accesses))
        return {"stage": "IXSCAN", "indexName": names[0] if len(names) == 1 else names, "order": self.order,
                "ranges": sum(len(a.ranges) for a in self.accesses), "candidates": self.cost}


# --- reading a filter -------------------------------------------------------------------------------------


def conjunction(filter: Mapping[str, Any]) -> Conjunction:
    out = Conjunction()
    _read(filter, out, "", top=True)
    return out


def _read(filter: Mapping[str, Any], out: Conjunction, prefix: str, top: bool) -> None:
    for key, cond in filter.items():
        if key == "$and" and isinstance(cond, list):
            for part in cond:
                if isinstance(part, Mapping):
                    _read(part, out, prefix, top)
        elif key == "$or" and top and isinstance(cond, list) and cond and all(isinstance(b, Mapping) for b in cond):
            out.ors.append(list(cond))
        elif not key.startswith("$"):
            for constraint in _constraints(cond, out, prefix + key):
                out.on.setdefault(prefix + key, []).append(constraint)


def _constraints(cond: Any, out: Conjunction, path: str) -> list[Constraint]:
    if isinstance(cond, (Regex, re.Pattern)):
        rx = _prefix_range(cond)
        return [rx] if rx else []
    if isinstance(cond, Mapping):
        if not any(str(k).startswith("$") for k in cond):
            return []  # an embedded document's equality
        found: list[Constraint] = []
        if "$eq" in cond and (eq := _eq([cond["$eq"]])) is not None:
            found.append(eq)
        if isinstance(cond.get("$in"), list) and (eq := _eq(cond["$in"])) is not None:
            found.append(eq)
        found += _ranges({op: cond[op] for op in _RANGE_OPS if op in cond})
        if "$regex" in cond and not cond.get("$options") and (rx := _prefix_range(cond["$regex"])):
            found.append(rx)
        match = cond.get("$elemMatch")
        if isinstance(match, Mapping) and match and not any(str(k).startswith("$") for k in match):
            _read(match, out, path + ".", top=False)
        return found
    eq = _eq([cond])
    return [eq] if eq is not None else []


def _plannable(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, dt.datetime):
        return value.tzinfo is None
    if isinstance(value, int):  # bool is an int
        return -MAX_EXACT_INT <= value <= MAX_EXACT_INT
    return isinstance(value, str)


def _eq(values: list[Any]) -> Eq | None:
    if not values or not all(_plannable(v) for v in values):
        return None  # null, documents, arrays, regexes, ObjectIds (mongomock also matches their strings)
    return Eq(tuple(dict.fromkeys(encode(v) for v in values)))


def _ranges(ops: dict[str, Any]) -> list[Range]:
    bounds = [(op, v) for op, v in ops.items() if _plannable(v) and not isinstance(v, bool)]
    ranks = {encode(v)[0] for _, v in bounds}
    if len(ranks) > 1:  # type brackets apart: each bound alone
        return [r for b in bounds for r in _ranges(dict([b]))]
    if not bounds:
        return []
    rank = ranks.pop()
    lo: Tail = (rank,)
    hi: Tail = (rank + 1,)
    for op, v in bounds:
        if op == "$gt":
            lo = max(lo, (rank, v, AFTER))
        elif op == "$gte":
            lo = max(lo, (rank, v))
        elif op == "$lt":
            hi = min(hi, (rank, v))
        else:
            hi = min(hi, (rank, v, AFTER))
    return [Range(lo, hi, joint=False)]


def literal_prefix(pattern: str) -> str | None:
    """The literal text every match of an anchored pattern (``^abc``) starts with; None if not anchored."""
    if not pattern.startswith("^") or "|" in pattern:
        return None
    out, i = [], 1
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1].isalnum():
                break
            c, i = pattern[i + 1], i + 2
        elif c in _META:
            break
        else:
            i += 1
        if i < len(pattern) and pattern[i] in "*?{":
            break  # the character is optional
        out.append(c)
    return "".join(out)


def _prefix_range(rx: Any) -> Range | None:
    if isinstance(rx, Regex):
        if rx.flags:
            return None
        pattern = rx.pattern
    elif isinstance(rx, re.Pattern):
        if rx.flags & ~re.UNICODE:
            return None
        pattern = rx.pattern
    else:
        pattern = rx
    if not isinstance(pattern, str):
        return None
    prefix = literal_prefix(pattern)
    if prefix is None:
        return None
    if not prefix:
        return Range((STRING,), (STRING + 1,), joint=True)
    last = ord(prefix[-1])
    hi = (STRING, prefix[:-1] + chr(last + 1)) if last < 0x10FFFF else (STRING + 1,)
    return Range((STRING, prefix), hi, joint=True)


# --- choosing ---------------------------------------------------------------------------------------------


def access(ix: Index, con: Conjunction, full: bool = False) -> Access | None:
    """The ranges of ``ix`` that hold every document ``con`` can match; None if it narrows nothing (unless
    ``full``: then the whole index)."""
    prefixes: list[Tail] = [()]
    pinned, single = 0, True
    tails: list[tuple[Tail, Tail]] = [((), (AFTER,))]
    for i, name in enumerate(ix.fields):
        found = con.on.get(name, ())
        eqs = [c for c in found if isinstance(c, Eq)]
        if eqs:
            best = min(eqs, key=lambda c: len(c.values))
            if len(prefixes) * len(best.values) > MAX_RANGES:
                break
            prefixes = [p + v for p in prefixes for v in best.values]
            pinned, single = i + 1, single and len(best.values) == 1
            continue
        options: list[tuple[Tail, Tail]] = []
        for r in found:
            if not isinstance(r, Range):
                continue
            if r.joint or not ix.multikey[i]:
                options.append((r.lo, r.hi))
            else:  # on a multikey field the two bounds may hold for two different values: each alone
                options += [(r.lo, (r.lo[0] + 1,)), ((r.lo[0],), r.hi)]
        if options:
            tails = [min(options, key=lambda t: _count(ix, prefixes, t))]
        break
    narrowed = pinned + (tails[0] != ((), (AFTER,)))
    if narrowed == 0 and not full:
        return None
    if not ix.complete and (ix.lead is None or narrowed <= ix.lead):
        return None  # the documents left out of the index (no value at its lead field) could match
    ranges = [(p + lo, p + hi) for p in prefixes for lo, hi in tails]
    return Access(ix, ranges, sum(ix.count(lo, hi) for lo, hi in ranges) + len(ix.odd), pinned, single)


def _count(ix: Index, prefixes: list[Tail], tail: tuple[Tail, Tail]) -> int:
    return sum(ix.count(p + tail[0], p + tail[1]) for p in prefixes)


def _merge(con: Conjunction, branch: Mapping[str, Any]) -> Conjunction:
    inner = conjunction(branch)
    merged = Conjunction({k: list(v) for k, v in con.on.items()})
    for name, found in inner.on.items():
        merged.on.setdefault(name, []).extend(found)
    return merged


def _depth(ix: Index, con: Conjunction) -> tuple[int, int]:
    """(leading fields pinned by an equality, leading fields constrained at all) of ``ix`` under ``con``."""
    pinned = 0
    for name in ix.fields:
        found = con.on.get(name)
        if not found:
            return pinned, pinned
        if not any(isinstance(c, Eq) for c in found):
            return pinned, pinned + 1
        pinned += 1
    return pinned, pinned


def _depths(indexes: Indexes, con: Conjunction) -> dict[str, tuple[int, int]]:
    """``_depth`` of each usable index under ``con``: once per plan, for ``_best`` and the walks alike."""
    return {name: _depth(ix, con) for name, ix in indexes.by_name.items() if ix.usable}


def _best(indexes: Indexes, con: Conjunction, depths: dict[str, tuple[int, int]] | None = None) -> Access | None:
    # Only the indexes that constrain the most leading fields are counted: a shorter prefix of the same
    # equalities never holds fewer entries, and planning stays cheap with the store's forty indexes a type.
    # (``depths``: ``_depths(indexes, con)``, when the caller has them already.)
    if depths is None:
        depths = _depths(indexes, con)
    deepest = max((d[1] for d in depths.values()), default=0)
    if deepest == 0:
        return None
    found = [a for name, d in depths.items() if d[1] == deepest
             and (a := access(indexes.by_name[name], con)) is not None]
    return min(found, key=lambda a: a.count) if found else None


def _walk(ix: Index, con: Conjunction, sort: list[tuple[str, int]], limit: int,
          pinned_at: int) -> tuple[Access, bool, bool] | None:
    """The access of ``ix`` walked in ``sort`` order, whether backwards and whether in the whole sort's order (else
    in the order of its first keys: ``groups``), if the index's order is the sort's (``pinned_at``: its
    ``_depth(ix, con)[0]``)."""
    if ix.odd:
        return None
    return None if _walks_none(ix.fields, pinned_at, sort) else _walk_at(ix, con, sort, limit, pinned_at)


def _walks_none(fields: tuple[str, ...], pinned_at: int, sort: list[tuple[str, int]]) -> bool:
    """Whether ``_walk_at`` finds no walk, told cheaply: the field after the pinned prefix is no sort field, and
    some sort field is not pinned (so the sort's head is not the index's order). Most of a type's forty-odd
    indexes, asked about every sorted query, are answered here."""
    if pinned_at >= len(fields):
        return False
    after = fields[pinned_at]
    for f, _ in sort:
        if f == after:
            return False
    head = fields[:pinned_at]
    for f, _ in sort:  # noqa: SIM110 - a plain loop: it runs for most indexes of every sorted query
        if f not in head:
            return True
    return False


def _walk_at(ix: Index, con: Conjunction, sort: list[tuple[str, int]], limit: int,
             pinned_at: int) -> tuple[Access, bool, bool] | None:
    single = {f for f in ix.fields[:pinned_at] if any(isinstance(c, Eq) and len(c.values) == 1 for c in con.on[f])}
    rest = [(f, d) for f, d in sort if not (f in single and not ix.multikey[ix.fields.index(f)])]
    # The longest head of the sort that is the index's order after its pinned prefix (in one direction, on
    # fields holding one scalar of one type each): all of it is a walk, a part of it a walk in groups.
    matched = 0
    for (f, d), name in zip(rest, ix.fields[pinned_at:], strict=False):
        i = ix.fields.index(name)
        if f != name or d != rest[0][1] or ix.multikey[i] or len(ix.kinds[i] - {1}) > 1:
            break
        matched += 1
    if matched < len(rest) and (matched == 0 or not limit):
        return None
    found = access(ix, con, full=True)
    if found is None or found.pinned != pinned_at:
        return None
    if rest:  # a keyset $or bounds the first sort field
        found = _hull(found, con, ix.fields[found.pinned], found.pinned)
    return found, bool(rest) and rest[0][1] == -1, matched == len(rest)


def _hull(found: Access, con: Conjunction, name: str, at: int) -> Access:
    ranges = found.ranges
    for group in con.ors:
        los, his = [], []
        for branch in group:
            tails: list[tuple[Tail, Tail]] = []
            for c in conjunction(branch).on.get(name, ()):
                if isinstance(c, Eq):
                    tails.append((min(c.values), max(c.values) + (AFTER,)))
                else:
                    tails.append((c.lo, c.hi))
            if not tails:
                break  # a branch that does not bound the field: the group bounds nothing
            los.append(max(t[0] for t in tails))
            his.append(min(t[1] for t in tails))
        else:
            lo, hi = min(los), max(his)
            ranges = [(max(a, a[:2 * at] + lo), min(b, b[:2 * at] + hi)) for a, b in ranges]
    if ranges is found.ranges:  # no $or bounds the field: the same ranges, counted already (an index walked has no odd)
        return found
    count = sum(found.index.count(lo, hi) for lo, hi in ranges)
    return Access(found.index, ranges, count, found.pinned, found.single)


def plan(indexes: Indexes, filter: Mapping[str, Any], sort: list[tuple[str, int]] | None, limit: int,
         total: int) -> Plan | None:
    """The cheapest plan for ``filter`` (``total`` documents stored); None: scan."""
    con = conjunction(filter)
    depths = _depths(indexes, con)
    best = _best(indexes, con, depths)
    options: list[Plan] = []
    if best is not None:
        options.append(Plan([best], cost=best.count))
    for group in con.ors:
        branches = [_best(indexes, _merge(con, b)) for b in group]
        if all(b is not None for b in branches):
            union = [b for b in branches if b is not None]
            options.append(Plan(union, cost=sum(a.count for a in union)))
    floor = min((p.cost for p in options), default=total)
    if sort:
        for name, ix in indexes.by_name.items():
            walked = _walk(ix, con, sort, limit, depths[name][0]) if ix.usable else None
            if walked is not None:
                found, reverse, whole = walked
                cost = found.count if not limit else min(found.count, -(-limit * found.count // max(floor, 1)))
                options.append(Plan([found], "index" if whole else "groups", reverse, cost))
    else:  # not sorted: candidates in index order, read lazily up to a limit
        for p in options:
            p.order = "none"
    if not options:
        return None
    # at equal cost, a walk, then the plan pinning more fields (its candidates more often settled: walk_settled)
    chosen = min(options, key=lambda p: (p.cost, not p.walk, -sum(a.pinned for a in p.accesses)))
    return chosen if chosen.cost < total or chosen.walk else None


def counted(indexes: Indexes, filter: Mapping[str, Any]) -> int | None:
    """How many documents match ``filter``, counted from an index without reading one of them — when the ranges
    of an index say all the filter says (``settled``); else None (the caller counts the matching documents)."""
    found = count_access(indexes, filter)
    return None if found is None else sum(found.index.count(lo, hi, exact=True) for lo, hi in found.ranges)


def count_access(indexes: Indexes, filter: Mapping[str, Any]) -> Access | None:
    """The index ranges ``counted`` counts ``filter``'s matches from (None: it cannot)."""
    best = _best(indexes, conjunction(filter))
    return best if best is not None and settled(best, filter) else None


def negation(filter: Mapping[str, Any]) -> tuple[Doc, Doc] | None:
    """``(rest, positive)`` when ``filter`` is ``rest`` and one ``{path: {"$ne": <string>}}``: then what matches it
    is what matches ``rest`` less what matches ``rest`` and ``positive`` (``{path: {"$eq": <string>}}``), which
    mongomock's ``$ne`` is the negation of — a count of the store's ``:not`` searches (patients not archived)
    from an index less the matches of an equality (``both``: from indexes too). None for any other filter."""
    parts = _conjuncts(filter)
    if parts is None:
        return None
    negated = [i for i, (key, cond) in enumerate(parts) if not key.startswith("$") and isinstance(cond, Mapping)
               and list(cond) == ["$ne"] and type(cond["$ne"]) is str]
    if len(negated) != 1 or len(parts) < 2:
        return None
    key, cond = parts[negated[0]]
    rest = [{k: c} for i, (k, c) in enumerate(parts) if i != negated[0]]
    return {"$and": rest}, {key: {"$eq": cond["$ne"]}}


def keys(indexes: Indexes, filter: Mapping[str, Any]) -> set[Any] | None:
    """The store keys of the documents matching ``filter``, read from an index alone when its ranges say all the
    filter says (``settled``; a document holding an array has several entries, one key); else None."""
    best = _best(indexes, conjunction(filter))
    if best is None or not settled(best, filter, once=False):
        return None
    return {entry[-1] for lo, hi in best.ranges for entry in best.index.scan(lo, hi)}


def both(indexes: Indexes, rest: Mapping[str, Any], positive: Mapping[str, Any]) -> int | None:
    """How many documents match ``rest`` and ``positive`` (``negation``'s parts), from two indexes alone: the
    keys ``rest`` settles, intersected with those of ``positive`` and the equalities of ``rest`` that an index
    holding ``positive``'s path leads with (the tenant); None when no such pair of indexes settles them."""
    eqs = _equalities(rest)
    (path,) = positive
    if eqs is None:
        return None
    for ix in indexes.by_name.values():
        if not ix.usable or path not in ix.fields:
            continue
        lead = ix.fields[:ix.fields.index(path)]
        if not set(lead) <= set(eqs):
            continue
        narrow = keys(indexes, {"$and": [*({f: {"$in": eqs[f]}} for f in lead), positive]})
        if narrow is None:
            continue
        wide = keys(indexes, rest)
        return None if wide is None else len(narrow & wide)
    return None


def settled(a: Access, filter: Mapping[str, Any], once: bool = True) -> bool:
    """Whether the entries in the ranges of ``a`` are exactly the documents matching ``filter`` (``once``: one entry
    each): the filter is equalities (``$eq``, ``$in``, also inside ``$and``) on the fields the ranges pin and
    nothing else, of strings or booleans, which the index holds as mongomock compares them (strings apart from
    ObjectIds, whose string form mongomock also matches; booleans where the field holds nothing else that ``==``
    could equate), and no document of the index is odd (or, ``once``, holds an array in an indexed field)."""
    ix = a.index
    eqs = _equalities(filter)
    if eqs is None or ix.odd or (once and any(ix.multikey)) or set(eqs) != set(ix.fields[:a.pinned]):
        return False
    for name, values in eqs.items():
        kinds = ix.kinds[ix.fields.index(name)]
        for v in values:
            if type(v) is str and OBJECT_ID not in kinds:
                continue
            if type(v) is bool and kinds <= {-1, NULL}:  # -1: index.kind of a boolean
                continue
            return False
    return True


@dataclass(frozen=True, slots=True)
class Not:
    """A residue's ``$ne``: met where the equality with ``value`` is not."""

    value: str | bool


# What a walk leaves to test on a candidate's bytes: a conjunction of disjunctions of equalities, each equality as
# (path parts, a string or a boolean, or ``Not`` of one: a ``$ne``).
Residue = list[list[tuple[list[bytes], Any]]]


def walk_residue(p: Plan, filter: Mapping[str, Any]) -> Residue | None:
    """The equalities of ``filter`` that walk ``p`` leaves to test — each a string or a boolean, which can be
    tested on a candidate's stored bytes (store/devdb/rawbson.py ``equals``), alone or as the branches of one
    ``$or`` (a token search of several codes: ``category=vital-signs,social-history``) — when the rest of the
    filter is ``walk_settled``: a tenant's live resources on ``k_<p>`` (the index holds no deleted flag). None when
    any other condition is left, or none is."""
    if not p.walk or len(p.accesses) != 1:
        return None
    parts = _conjuncts(filter)
    if parts is None:
        return None
    (a,) = p.accesses
    residue, rest = _residue(parts, set(a.index.fields))
    if not residue or not rest or not walk_settled(p, {"$and": [{k: c} for k, c in rest]}):
        return None
    return residue


def id_residue(filter: Mapping[str, Any]) -> Residue | None:
    """What a filter pinning ``_id`` to strings (one ``_id`` conjunct: a string, its ``$eq`` or ``$in``) leaves to
    test on each document found by key, when that is equalities alone as ``walk_residue`` reads them (the deleted
    flag of ``read_many``); None when anything else is left, or nothing is."""
    parts = _conjuncts(filter)
    if parts is None:
        return None
    pins = [cond for key, cond in parts if key == "_id"]
    if len(pins) != 1 or not _string_pin(pins[0]):
        return None
    residue, rest = _residue([(k, c) for k, c in parts if k != "_id"], set())
    return residue if residue and not rest else None


def _string_pin(cond: Any) -> bool:
    if type(cond) is str:
        return True
    if not isinstance(cond, Mapping) or len(cond) != 1:
        return False
    ((op, value),) = cond.items()
    if op == "$eq":
        return type(value) is str
    return op == "$in" and isinstance(value, list) and all(type(v) is str for v in value)


def _residue(parts: list[tuple[str, Any]], held: set[str]) -> tuple[Residue, list[tuple[str, Any]]]:
    """The conjuncts of ``parts`` testable on a document's bytes (equalities of a string or a boolean on a path
    not in ``held``, their ``$ne``, or one ``$or`` of such), and the rest."""

    def equality(key: str, cond: Any) -> tuple[list[bytes], Any] | None:
        if key in held or key.startswith("$"):
            return None
        if type(cond) in (str, bool):
            return [part.encode() for part in key.split(".")], cond
        if isinstance(cond, Mapping) and list(cond) == ["$ne"] and type(cond["$ne"]) in (str, bool):
            return [part.encode() for part in key.split(".")], Not(cond["$ne"])
        return None

    residue: Residue = []
    rest: list[tuple[str, Any]] = []
    for key, cond in parts:
        if key == "$or" and isinstance(cond, list) and cond and all(isinstance(c, Mapping) and len(c) == 1
                                                                     for c in cond):
            branches = [equality(k, v) for c in cond for k, v in c.items()]
            if all(b is not None for b in branches):
                residue.append([b for b in branches if b is not None])
                continue
        found = equality(key, cond)
        if found is not None:
            residue.append([found])
        else:
            rest.append((key, cond))
    return residue, rest


def walk_settled(p: Plan, filter: Mapping[str, Any]) -> bool:
    """Whether every candidate of walk ``p`` matches ``filter``, so that none needs decoding to be tested: one
    access whose pinned fields are ``settled`` by the filter's equalities, plus at most a range of strings
    (``$gt``/``$gte``/``$lt``/``$lte``: the keyset bound of a page after the first) on the field walked right after
    them, which holds one string per document everywhere in the index — its bounds are the walk's ranges."""
    if not p.walk or len(p.accesses) != 1:
        return False
    (a,) = p.accesses
    ix = a.index
    parts = _conjuncts(filter)
    if parts is None:
        return False
    bound = ix.fields[a.pinned] if a.pinned < len(ix.fields) else None
    equal: list[tuple[str, Any]] = []
    ranged = False
    for key, cond in parts:
        if key == bound and isinstance(cond, Mapping) and cond and set(cond) <= set(_RANGE_OPS) \
                and all(type(v) is str for v in cond.values()):
            if ranged:
                return False
            ranged = True
        else:
            equal.append((key, cond))
    if ranged:
        i = a.pinned
        if ix.multikey[i] or ix.kinds[i] != {STRING}:
            return False
    # (a walk reads each document once however many entries it has: ``once`` is the counts' concern)
    return bool(equal) and settled(a, {"$and": [{k: c} for k, c in equal]}, once=False)


def _equalities(filter: Mapping[str, Any]) -> dict[str, list[Any]] | None:
    """The values each path of ``filter`` must equal, when the filter is nothing but one equality (or ``$in``)
    per path, directly or inside ``$and``; else None."""
    parts = _conjuncts(filter)
    out: dict[str, list[Any]] = {}
    for key, cond in parts or ():
        if not isinstance(key, str) or key.startswith("$") or key in out:
            return None
        if isinstance(cond, Mapping):
            if list(cond) == ["$eq"]:
                out[key] = [cond["$eq"]]
            elif list(cond) == ["$in"] and isinstance(cond["$in"], list) and cond["$in"]:
                out[key] = list(cond["$in"])
            else:
                return None
        else:
            out[key] = [cond]
    return out or None


def _conjuncts(filter: Mapping[str, Any]) -> list[tuple[str, Any]] | None:
    """Every ``(key, condition)`` of ``filter``'s conjunction, those inside ``$and`` included; None when an
    ``$and`` is not a list of documents."""
    parts: list[tuple[str, Any]] = []

    def read(part: Any) -> bool:
        if not isinstance(part, Mapping):
            return False
        for key, cond in part.items():
            if key == "$and":
                if not isinstance(cond, list) or not cond or not all(read(c) for c in cond):
                    return False
            else:
                parts.append((key, cond))
        return True

    return parts if read(filter) else None


def candidates(p: Plan, fetch: Fetch) -> Iterator[bytes]:
    """The candidate documents of a plan (``fetch``: the stored bytes by store key), once each, in index order
    for a walk."""
    if p.walk and len(p.accesses[0].ranges) == 1:  # one range walked (a search page): its entries as they are
        return _walked(p, fetch)
    return (raw for _, raw in grouped(p, fetch))


def _walked(p: Plan, fetch: Fetch) -> Iterator[bytes]:
    """``grouped``'s documents of a walk of one range, read off its entries with no group cut from each."""
    (a,) = p.accesses
    ((lo, hi),) = a.ranges
    seen: set[Any] = set()  # (a multikey index has an entry per value)
    for entry in a.index.scan(lo, hi, p.reverse):
        key = entry[-1]
        if key in seen:
            continue
        seen.add(key)
        raw = fetch(key)
        if raw is not None:
            yield raw


def grouped(p: Plan, fetch: Fetch) -> Iterator[tuple[Any, bytes]]:
    """``candidates`` with, for a walk, the value of its first walked field (the group a "groups" walk sorts)."""
    seen: set[Any] = set()
    pairs: Iterator[tuple[Any, Any]]
    if p.walk:
        (a,) = p.accesses
        ix, pinned = a.index, a.pinned
        # Each range's entries less the fields it pins: the ranges of an $in merged in the order of the rest.
        streams = [ix.tails(lo, hi, pinned, p.reverse) for lo, hi in a.ranges]
        ordered: Iterator[Entry] = streams[0] if len(streams) == 1 else heapq.merge(*streams, reverse=p.reverse)
        pairs = ((ix.group(tail, pinned), tail[-1]) for tail in ordered)
    else:
        pairs = itertools.chain.from_iterable(
            itertools.chain((((), e[-1]) for lo, hi in a.ranges for e in a.index.scan(lo, hi)),
                            (((), key) for key in a.index.odd))
            for a in p.accesses)
    for group, key in pairs:
        if key in seen:
            continue
        seen.add(key)
        raw = fetch(key)
        if raw is not None:
            yield group, raw
