"""How a query reaches its documents without scanning them all, as mongomock otherwise does for every query.

- a filter pinning ``_id`` fetches by key (``lookup``);
- a limited find, sorted by ``_id`` alone or not sorted, walks the documents in that order and stops at the
  limit (``matching``), the ``_id`` order being kept sorted as documents are inserted;
- anything else is mongomock's scan, then a sort.

Every access path lives here, so an index planner has one place to slot in.
"""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import operator
import re
from collections.abc import Iterator, Mapping
from typing import Any

import bson
from bson.regex import Regex
from mongomock import filtering
from mongomock import helpers as mm_helpers
from mongomock.collection import Collection as MockCollection

from store.devdb.codec import Doc

_by_id = operator.itemgetter("_id")


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


def lookup(documents: Mapping[Any, Doc], filter: Doc) -> list[Doc] | None:
    """The documents matching ``filter``, fetched by key in ``_id`` order; None when it does not pin ``_id``."""
    keys = id_lookup(filter)
    if keys is None:
        return None
    found = (documents.get(key) for key in keys)
    strings = all(type(k) is str for k in keys)
    if strings and _only_pins_id(filter):
        docs = [doc for doc in found if doc is not None]  # string _ids found by key are exact matches
    else:
        docs = [doc for doc in found if doc is not None and filtering.filter_applies(filter, doc)]
    if len(docs) > 1:  # in the order of MongoDB's _id index, as an $in read through it would be
        # (strings compare alike in BSON and Python: UTF-8 byte order is code point order)
        docs.sort(key=_by_id if strings else functools.partial(filtering.resolve_sort_key, "_id"))
    return docs


def _only_pins_id(filter: Doc) -> bool:
    """Whether ``filter`` says nothing but which ``_id``s it wants: no other field, conjunct or operator."""
    if list(filter) != ["_id"]:
        return False
    cond = filter["_id"]
    return not isinstance(cond, Mapping) or list(cond) in (["$eq"], ["$in"])


def matching(coll: MockCollection, filter: Doc, sort: Mapping[str, Any] | None, needed: int = 0) -> list[Doc]:
    """Documents matching ``filter`` in ``sort`` order; with ``needed`` > 0, only the first ``needed``.

    With a limit and no sort, or a sort on ``_id`` alone, documents are visited in that order until enough
    match, so a page costs what it reads rather than the collection size."""
    spec = list((sort or {}).items())
    if needed > 0 and id_lookup(filter) is None:
        filtering.filter_applies(filter, {})  # reject a bad filter even if no document gets to be tested
        ordered: Iterator[Doc] | None = iter(coll._store._documents.values())
        if spec and (len(spec) > 1 or spec[0][0] != "_id" or spec[0][1] not in (1, -1)):
            ordered = None
        elif spec:
            ordered = in_id_order(coll._store, reverse=spec[0][1] == -1)
        if ordered is not None:
            return list(itertools.islice((d for d in ordered if filtering.filter_applies(filter, d)), needed))
    return sort_documents(list(coll._iter_documents(filter)), sort)[: needed or None]


def sort_documents(docs: list[Doc], sort: Mapping[str, Any] | None) -> list[Doc]:
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


# --- the _id order, kept on mongomock's collection store -------------------------------------------------

_TYPE_RANKS: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (bool, 8), ((int, float), 2), (str, 3), (bson.ObjectId, 7), (dt.datetime, 9))


def _order_key(value: Any) -> tuple[int, Any] | None:
    """A sort key following BSON's order of types; None for an _id this fast path does not order."""
    for types, rank in _TYPE_RANKS:
        if isinstance(value, types):
            return (rank, value)
    return None


def in_id_order(store: Any, reverse: bool = False) -> Iterator[Doc] | None:
    """The documents in ``_id`` order, or None when some ``_id`` has no order here (then sort instead)."""
    keys = _id_order(store)
    if keys is None:
        return None
    documents = store._documents
    pairs = reversed(keys) if reverse else keys
    return (doc for _, key in pairs if (doc := documents.get(key)) is not None)


def _id_order(store: Any) -> list[tuple[Any, Any]] | None:
    """(order key, store key) of every document, sorted; built on first use, then kept by inserts.

    Deletes leave stale pairs (skipped when read); a drop (new document dict) or too many stale pairs
    rebuild it."""
    documents = store._documents
    state = store.__dict__.get("_devdb_order")
    if state is None or state[0] is not documents or len(state[1] or ()) > 2 * len(documents) + 64:
        pairs = [(_order_key(key), key) for key in documents]
        state = (documents, None if any(k is None for k, _ in pairs) else sorted(pairs))
        store.__dict__["_devdb_order"] = state
    return state[1]  # type: ignore[no-any-return]


def add_to_id_order(store: Any, key: Any) -> None:
    """Keep the ``_id`` order up to date with a newly inserted document's store key."""
    state = store.__dict__.get("_devdb_order")
    if state is None or state[0] is not store._documents or state[1] is None:
        return  # not built yet (or not orderable): nothing to keep up to date
    order_key, keys = _order_key(key), state[1]
    if order_key is None:
        store.__dict__["_devdb_order"] = (state[0], None)
        return
    at = bisect.bisect_left(keys, (order_key,))
    if at == len(keys) or keys[at][0] != order_key:  # else a stale pair for this very _id is back in use
        keys.insert(at, (order_key, key))
