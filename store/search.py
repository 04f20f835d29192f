"""FHIR search parameters → a MongoDB filter on the search keys; keyset cursors (DESIGN.md decisions 4, 5).

Implements FHIR R4 §3.1.1 (search): AND across repeated parameters, OR across comma-separated values,
prefixes on dates (eq ne gt lt ge le sa eb), ``:exact``/``:contains`` on strings, ``system|code`` tokens,
``Type/id`` or bare-id references (``:identifier`` by system|value), ``:missing`` on everything. Chained
parameters and ``_has`` need queries of their own: store/search_chains.py resolves them into clauses first.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple, Protocol, overload

import orjson

from store.errors import Invalid
from store.fhirjson import parse_reference
from store.keys import date_range, fold
from store.params import P, param_table

# Result parameters handled by the caller, not compiled into the filter.
RESULT_PARAMS = frozenset({
    "_count", "_sort", "_summary", "_elements", "_include", "_revinclude", "_total", "_format", "_pretty",
    "_cursor", "_before", "_contained", "_containedType",
})
INCLUDES = frozenset({"_include", "_revinclude"})
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")

# A FHIR decimal as a search value: ASCII digits, an optional fraction and exponent.
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


@dataclass
class Query:
    """A compiled search: the filter, the sort and the parameters that were understood."""

    filter: dict[str, Any]
    sort: list[tuple[str, int]]
    applied: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)


def compile_params(
    resource_type: str, params: list[tuple[str, str]], tenant: str, *, strict: bool = True,
    lenient: bool | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Filter clauses for ``params``, and the parameters applied and ignored. Unknown parameters raise
    ``Invalid`` when ``strict``, else are ignored; a known parameter's invalid value raises ``Invalid`` unless
    ``lenient`` (by default: when not ``strict``), when it is ignored too (FHIR R4 §3.1.1.2 ``Prefer: handling``:
    a server ignores what it does not know, ``strict`` refuses it)."""
    lenient = not strict if lenient is None else lenient
    table = param_table(resource_type)
    clauses: list[dict[str, Any]] = []
    applied: list[tuple[str, str]] = []
    ignored: list[tuple[str, str]] = []
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if raw_name in RESULT_PARAMS or name in INCLUDES:  # _include:iterate too
            continue
        p = table.get(name)
        if p is None:
            if strict:
                raise Invalid(f"Unknown search parameter '{name[:64]}' for {resource_type}",
                              paths=[raw_name])
            ignored.append((raw_name, value))
            continue
        try:
            clauses.append(_clause(p, modifier, value, tenant))
        except Invalid:
            if not lenient:
                raise
            ignored.append((raw_name, value))
            continue
        applied.append((raw_name, value))
    return clauses, applied, ignored


def _clause(p: P, modifier: str, value: str, tenant: str) -> dict[str, Any]:
    key = f"_sys.k.{p.name}"
    if modifier == "missing":
        if value not in ("true", "false"):
            raise Invalid(f"':missing' takes true or false, not '{value[:64]}'", paths=[p.name])
        return {key: {"$exists": value == "false"}}
    values = split_values(value)
    if not values or any(v == "" for v in values):
        raise Invalid(f"Empty value for search parameter '{p.name}'", paths=[p.name])
    ors = [_one(p, modifier, v, tenant) for v in values]
    return ors[0] if len(ors) == 1 else {"$or": ors}


def split_values(value: str) -> list[str]:
    """The OR values of one search parameter's value."""
    # Commas separate OR values; "\," is a literal comma (FHIR §3.1.1.5.7 escaping).
    parts = re.split(r"(?<!\\),", value)
    return [p.replace("\\,", ",").replace("\\$", "$").replace("\\|", "|") for p in parts]


def _one(p: P, modifier: str, v: str, tenant: str) -> dict[str, Any]:
    key = f"_sys.k.{p.name}"
    if p.type == "string":
        if modifier == "exact":
            return {f"_sys.e.{p.name}": v}
        if modifier == "contains":
            return {key: {"$regex": re.escape(fold(v))}}
        if modifier:
            raise Invalid(f"Modifier ':{modifier[:32]}' is not supported on string parameter '{p.name}'")
        # Default string search: starts-with, case- and accent-insensitive; an anchored regex uses the index.
        return {key: {"$regex": "^" + re.escape(fold(v))}}
    if p.type == "token":
        if modifier == "not":
            return {key: {"$ne": v}}
        if modifier:
            raise Invalid(f"Modifier ':{modifier[:32]}' is not supported on token parameter '{p.name}'")
        if p.name == "_id":
            # By primary key: one index hit (and devdb's direct lookup), never a scan.
            return {"_id": f"{tenant}/{v}"}
        return {key: v}
    if p.type == "reference":
        if modifier and modifier not in p.targets and modifier != "identifier":
            raise Invalid(f"Modifier ':{modifier[:32]}' is not supported on reference parameter '{p.name}'")
        if modifier == "identifier":
            # A logical reference by its identifier (store/keys.py ``identifier_key``): system|value or |value.
            if "|" not in v:
                raise Invalid(f"'{p.name}:identifier' takes system|value (or |value for an identifier without a "
                              "system)", paths=[p.name])
            return {key: v}
        if modifier:
            v = f"{modifier}/{v}"
        parsed = parse_reference(v)
        ref = f"{parsed[0]}/{parsed[1]}" if parsed else v.strip("/")
        if parsed is None and len(p.targets) == 1:
            ref = f"{p.targets[0]}/{ref}"  # a bare id of the one type the parameter refers to
        return {key: ref}
    if p.type == "date":
        if modifier:
            raise Invalid(f"Modifier ':{modifier[:32]}' is not supported on date parameter '{p.name}'")
        prefix, rest = (v[:2], v[2:]) if v[:2] in PREFIXES else ("eq", v)
        rng = date_range(rest)
        if rng is None:
            raise Invalid(f"'{v[:64]}' is not a valid FHIR date for '{p.name}'", paths=[p.name])
        return _date_clause(key, prefix, rng)
    if p.type == "number":
        prefix, rest = (v[:2], v[2:]) if v[:2] in PREFIXES else ("eq", v)
        num = float(rest) if _NUMBER.fullmatch(rest) else math.inf  # float() alone takes "nan", "1_0", "٣"
        if not math.isfinite(num):
            raise Invalid(f"'{v[:64]}' is not a number for '{p.name}'", paths=[p.name])
        ops = {"eq": "$eq", "ne": "$ne", "gt": "$gt", "lt": "$lt", "ge": "$gte", "le": "$lte", "sa": "$gt",
               "eb": "$lt"}
        return {key: {ops[prefix]: num}}
    raise Invalid(f"Search parameter '{p.name}' has unsupported type {p.type}")


def _date_clause(key: str, prefix: str, rng: tuple[str, str]) -> dict[str, Any]:
    lo, hi = rng
    # FHIR §3.1.1.4.2: compare the resource's range R=[rl,rh] with the parameter's P=[lo,hi].
    conds = {
        "eq": {"lo": {"$gte": lo}, "hi": {"$lte": hi}},
        "ne": {"lo": {"$gte": lo}, "hi": {"$lte": hi}},
        "gt": {"hi": {"$gt": hi}},
        "lt": {"lo": {"$lt": lo}},
        "ge": {"hi": {"$gte": lo}},
        "le": {"lo": {"$lte": hi}},
        "sa": {"lo": {"$gt": hi}},
        "eb": {"hi": {"$lt": lo}},
    }[prefix]
    match = {key: {"$elemMatch": conds}}
    if prefix == "ne":
        return {key: {"$exists": True}, "$nor": [match]}
    return match


def prefix_any(resource_type: str, names: list[str], word: str) -> dict[str, Any]:
    """A clause: ``word`` starts one of the values of the search parameters ``names`` (string parameters
    folded as they are indexed, token parameters as written) — for typeahead over several fields."""
    table = param_table(resource_type)
    ors: list[dict[str, Any]] = []
    for name in names:
        p = table.get(name)
        if p is None or p.type not in ("string", "token"):
            raise Invalid(f"'{name}' cannot be searched by prefix on {resource_type}")
        text = fold(word) if p.type == "string" else word
        ors.append({f"_sys.k.{p.name}": {"$regex": "^" + re.escape(text)}})
    return ors[0] if len(ors) == 1 else {"$or": ors}


def parse_sort(resource_type: str, spec: str | None) -> list[tuple[str, int]]:
    """``_sort=a,-b`` → [("_sys.s.a", 1), ("_sys.s.b", -1)]; unknown or unsortable keys raise ``Invalid``."""
    if not spec:
        return []
    table = param_table(resource_type)
    out: list[tuple[str, int]] = []
    for item in spec.split(","):
        item = item.strip()
        direction = -1 if item.startswith("-") else 1
        name = item.lstrip("-")
        p = table.get(name)
        if p is None or not p.sortable:
            raise Invalid(f"Cannot sort {resource_type} by '{name[:64]}'", paths=["_sort"])
        out.append((f"_sys.s.{name}", direction))
    return out


# ---------------------------------------------------------------------------- keyset cursors
#
# A cursor is opaque to clients: base64 of the last row's sort keys and _id, and a tag of what it pages (the
# collection and the sort). Decoding is strict — every sort key a string (they are written so, store/keys.py),
# the _id one of the caller's tenant's, the tag this query's — so nothing but values of the expected shape ever
# reaches a filter: a cursor holding ``{"$exists": true}`` or ``{"$where": ...}`` is refused, not run.


def _tag(collection: str, sort: list[tuple[str, int]]) -> str:
    return _spec_tag(collection, ",".join(f"{'-' if d < 0 else ''}{path}" for path, d in sort))


@lru_cache(maxsize=1024)
def _spec_tag(collection: str, spec: str) -> str:
    return hashlib.sha256(f"{collection}\0{spec}".encode()).hexdigest()[:12]


def encode_cursor(doc: dict[str, Any], sort: list[tuple[str, int]], collection: str) -> str:
    return _encode([_get(doc, path) for path, _ in sort], doc["_id"], _tag(collection, sort))


def _encode(values: list[str], doc_id: str, tag: str) -> str:
    raw = orjson.dumps({"v": values, "id": doc_id, "t": tag})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Keyed(Protocol):
    """A page's row as ``RowCursors`` reads it: its ``_id`` and its sort keys (``_sys.s``)."""

    @property
    def doc_id(self) -> str: ...

    @property
    def sort_keys(self) -> Any: ...


class Row(NamedTuple):
    doc_id: str
    sort_keys: Any


class RowCursors(Sequence[str]):
    """A page's cursor after each of its rows (``Page.cursors``), each encoded when first read: a REST page reads
    two of them (its links), a GraphQL connection those of the edges it lists. ``rows``: a ``Row`` each, or a
    page's ``Stored`` rows (store/fragments.py), read as they are."""

    __slots__ = ("_rows", "_sort", "_tag", "_done")

    def __init__(self, rows: Sequence[Keyed], sort: list[tuple[str, int]], collection: str):
        self._rows = rows
        self._sort = sort
        self._tag = _tag(collection, sort)
        self._done: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._rows)))]
        i = index + len(self._rows) if index < 0 else index
        found = self._done.get(i)
        if found is None:
            row = self._rows[index]  # (IndexError out of range, as a list's)
            doc = {"_sys": {"s": row.sort_keys}}
            found = self._done[i] = _encode([_get(doc, path) for path, _ in self._sort], row.doc_id, self._tag)
        return found

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def decode_cursor(cursor: str, sort: list[tuple[str, int]], collection: str, tenant: str) -> tuple[list[str], str]:
    """(sort key values, _id) of a cursor made by ``encode_cursor`` for this collection, sort and tenant."""
    try:
        if len(cursor) > 4096:
            raise ValueError("size")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        values, last_id, tag = data["v"], data["id"], data["t"]
        if (not isinstance(values, list) or len(values) != len(sort) or not all(isinstance(v, str) for v in values)
                or not isinstance(last_id, str) or not last_id.startswith(f"{tenant}/")
                or tag != _tag(collection, sort)):
            raise ValueError("shape")
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise Invalid("Malformed or foreign pagination cursor", paths=["cursor"]) from None
    return values, last_id


def keyset_filter(sort: list[tuple[str, int]], values: list[Any], last_id: str, *, backward: bool) -> dict[str, Any]:
    """Rows strictly after (or before) the cursor row in ``sort`` order, ``_id`` breaking ties."""
    keys = [*sort, ("_id", sort[-1][1] if sort else 1)]
    vals = [*values, last_id]
    ors: list[dict[str, Any]] = []
    for i, (path, direction) in enumerate(keys):
        forward_op = "$gt" if direction == 1 else "$lt"
        op = forward_op if not backward else ("$lt" if forward_op == "$gt" else "$gt")
        clause = {keys[j][0]: vals[j] for j in range(i)}
        clause[path] = {op: vals[i]}
        ors.append(clause)
    return {"$or": ors} if len(ors) > 1 else ors[0]


def full_sort(sort: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return [*sort, ("_id", sort[-1][1] if sort else 1)]


def sort_keys_of(doc: dict[str, Any]) -> Any:
    """A stored document's sort keys (``_sys.s``), as ``RowCursors`` takes them."""
    sys_ = doc.get("_sys")
    return sys_.get("s") if isinstance(sys_, dict) else None


def _get(doc: dict[str, Any], path: str) -> str:
    node: Any = doc
    for seg in path.split("."):
        node = node.get(seg, "") if isinstance(node, dict) else ""
    return node if isinstance(node, str) else ""
