"""A filter compiled to Python predicates, for the shapes the store sends most, with mongomock's own semantics.

mongomock's ``filter_applies`` re-reads the whole filter for every document (~10-20 µs each); counting a
tenant's patients or checking a page's candidates repeats it thousands of times. ``compile`` turns a filter
made of equalities, ``$eq``/``$ne``/``$in``/``$nin`` on scalars, ranges, ``$exists``, ``$and`` and ``$or`` into
closures that answer True or False — or ``UNKNOWN`` when a document holds what they do not judge (an array
along a dotted path, a value of a type they do not compare), and then mongomock's ``filter_applies`` decides
for that document. Any other filter is not compiled (None): mongomock judges every document.
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import datetime as dt
import functools
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import bson
from mongomock import filtering

from store.devdb.codec import CODEC, Doc

UNKNOWN: Any = object()
_MISSING: Any = object()
Test = Callable[[Any], Any]  # document -> True, False or UNKNOWN

_RANGE = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
# mongomock's comparison classes (filtering._get_compare_type) for the types a stored document may hold here.
_CLASSES: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (type(None), 5), (bool, 40), ((int, float), 10), (str, 15), (dict, 20), (list, 25), (bytes, 30),
    (bson.ObjectId, 35), (dt.datetime, 45))


def _class(value: Any) -> int | None:
    for types, rank in _CLASSES:
        if isinstance(value, types):
            return rank
    return None


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isnan(value)
    return isinstance(value, (str, int))  # bool is an int


@functools.lru_cache(maxsize=512)
def _cached(key: bytes) -> Test | None:
    filter: Doc = bson.decode(key, codec_options=CODEC)
    return _conjunction(filter)


def compile(filter: Mapping[str, Any]) -> Test | None:
    """The predicate of ``filter``, or None when its shape is not one this module judges."""
    try:
        key = bson.encode(filter, codec_options=CODEC)
    except Exception:  # not BSON (mongomock will say what is wrong with it)
        return None
    return _cached(key)


def applies(filter: Mapping[str, Any]) -> Callable[[Any], bool]:
    """Whether a document matches ``filter``, as mongomock's ``filter_applies`` says, faster where it can."""
    test = compile(filter)
    if test is None:
        return lambda doc: bool(filtering.filter_applies(filter, doc))

    def judged(doc: Any) -> bool:
        r = test(doc)
        return bool(filtering.filter_applies(filter, doc)) if r is UNKNOWN else bool(r)
    return judged


def _conjunction(filter: Mapping[str, Any]) -> Test | None:
    if not isinstance(filter, Mapping):
        return None
    tests: list[Test] = []
    for key, cond in filter.items():
        if key == "$and" or key == "$or":
            if not isinstance(cond, list) or not cond:
                return None
            parts = [_conjunction(part) for part in cond]
            if any(p is None for p in parts):
                return None
            tests.append(_all(parts) if key == "$and" else _any(parts))  # type: ignore[arg-type]
        elif key.startswith("$") or not key or any(p.isdigit() or not p for p in key.split(".")):
            return None
        else:
            test = _field(key.split("."), cond)
            if test is None:
                return None
            tests.append(test)
    return _all(tests)


def _all(tests: list[Test]) -> Test:
    return _combine(tests, False)


def _any(tests: list[Test]) -> Test:
    return _combine(tests, True)


def _combine(tests: list[Test], decisive: bool) -> Test:
    return lambda doc: _fold(tests, lambda t: t(doc), decisive)


def _fold(items: Iterable[Any], judge: Callable[[Any], Any], decisive: bool) -> Any:
    """Whether ``judge`` holds for all ``items`` (``decisive`` False: the first False decides) or for any (True
    decides), in three-valued logic: UNKNOWN when nothing decided and one of them did not know."""
    result = not decisive
    for item in items:
        r = judge(item)
        if r is decisive:
            return decisive
        if r is UNKNOWN:
            result = UNKNOWN
    return result


def _field(parts: list[str], cond: Any) -> Test | None:
    ops: list[Callable[[Any], Any]] = []
    if _scalar(cond):
        ops.append(_eq(cond))
    elif isinstance(cond, Mapping) and cond and all(str(k).startswith("$") for k in cond):
        for op, v in cond.items():
            made = _op(op, v)
            if made is None:
                return None
            ops.append(made)
    else:
        return None

    every = _all(ops)

    def test(doc: Any) -> Any:
        value = doc
        for part in parts:
            if type(value) is dict:
                value = value.get(part, _MISSING)
            elif value is _MISSING:
                break
            else:
                return UNKNOWN  # an array (or a scalar) along the path: mongomock's rules for those
        return every(value)
    return test


def _op(op: str, v: Any) -> Callable[[Any], Any] | None:
    if op == "$eq" and _scalar(v):
        return _eq(v)
    if op == "$ne" and _scalar(v):
        eq = _eq(v)
        return lambda value: not eq(value) if value is _MISSING or type(value) is not list else not any(
            x == v for x in value)
    if op in ("$in", "$nin") and isinstance(v, list) and all(_scalar(x) for x in v):
        values = list(v)
        if op == "$in":
            return lambda value: _in(value, values)
        return lambda value: not _in(value, values)
    if op in _RANGE and _scalar(v) and not isinstance(v, bool) or op in _RANGE and isinstance(v, dt.datetime):
        return _range(_RANGE[op], v)
    if op == "$exists" and isinstance(v, bool):
        return lambda value: (value is not _MISSING) == v
    return None


def _eq(v: Any) -> Callable[[Any], Any]:
    def eq(value: Any) -> Any:
        if value is _MISSING:
            return False
        if type(value) is list:
            return any(x == v for x in value)
        return value == v
    return eq


def _in(value: Any, values: list[Any]) -> bool:
    if value is _MISSING:
        return False
    if type(value) is list:
        return any(x in values for x in value)
    return value in values


def _range(compare: Callable[[Any, Any], bool], v: Any) -> Callable[[Any], Any]:
    wanted = _class(v)

    def one(x: Any) -> Any:
        cls = _class(x)
        if cls is None:
            return UNKNOWN
        if cls != wanted:
            return False
        if isinstance(x, dt.datetime) and (x.tzinfo is None) != (v.tzinfo is None):
            return UNKNOWN
        return compare(x, v)

    def test(value: Any) -> Any:
        if value is _MISSING:
            return False
        if type(value) is not list:
            return one(value)
        return _fold(value, one, True)  # any element: mongomock's rule for arrays
    return test
