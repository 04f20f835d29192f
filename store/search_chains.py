"""Chained parameters and reverse chaining (https://hl7.org/fhir/R4/search.html#chaining, #has) over the reference
parameters the store indexes (store/params.py): chains up to ``MAX_DEPTH`` references deep, reverse chains one.

Each is a two-step query: the ids of the intermediate resources are found with one query on their type — inside
the caller's tenant and confinement for that type — bounded by ``MAX_CHAINED`` (past it the search is refused:
the client narrows it), then the search itself filters on them:

- ``Observation?subject:Patient.name=peter``: the Patients named peter, then the Observations whose ``subject``
  key is one of ``Patient/<id>`` (``$in`` on the indexed reference key). Without ``:Type``, every target type of the
  reference parameter that has the chained parameter is asked. A longer chain
  (``Observation?subject:Patient.general-practitioner.name=smith``) resolves from its far end inwards: the
  Practitioners named smith, the Patients whose general-practitioner is one of them, then the Observations.
- ``Patient?_has:Observation:patient:code=1234-5``: the ``patient`` references of the Observations coded 1234-5
  (distinct, through one aggregation), then the Patients of those ids (by primary key).

Nothing here needs more of MongoDB than ``find`` and a ``$match/$project/$unwind/$group`` pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from store import confinement
from store.driver import call
from store.errors import Invalid
from store.layout import doc_id, live
from store.params import PARAMS, P, param_table
from store.search import RESULT_PARAMS, compile_params
from store.types import Confinement

# The most intermediate resources one chained parameter may resolve to, at each of its levels.
MAX_CHAINED = 1000
# The most references one chain may follow (``a.b.c.name`` follows three).
MAX_DEPTH = 3

# The confinement of each intermediate type (the caller's, for reading it); Forbidden: it may not read that type.
ConfinementOf = Callable[[str], Confinement | None]


@dataclass
class Resolved:
    """What remains of the parameters for store/search.py, the clauses the chains became, and the chained
    parameters applied or ignored."""

    params: list[tuple[str, str]]
    clauses: list[dict[str, Any]] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)


def is_chained(raw_name: str) -> bool:
    """Whether a parameter name is a chain (``ref[:Type].param``) or a reverse chain (``_has:…``)."""
    return raw_name.startswith("_has:") or ("." in raw_name and raw_name.partition(":")[0] not in RESULT_PARAMS)


async def resolve(db: AsyncDatabase[Any], tenant: str, rt: str, params: list[tuple[str, str]], *,
                  confined: ConfinementOf, strict: bool) -> Resolved:
    """The chained and reverse-chained parameters of a search on ``rt`` resolved into filter clauses; the others
    returned as they are. An unknown or unsupported chain is ``Invalid`` when ``strict``, else ignored (FHIR R4
    §3.1.1.2); a chain resolving to more than ``MAX_CHAINED`` resources is always ``Invalid``."""
    if not any(is_chained(name) for name, _ in params):
        return Resolved(params)
    out = Resolved([])
    for raw_name, value in params:
        if not is_chained(raw_name):
            out.params.append((raw_name, value))
            continue
        try:
            if raw_name.startswith("_has:"):
                clause = await _reverse(db, tenant, rt, raw_name, value, confined)
            else:
                clause = await _forward(db, tenant, rt, raw_name, value, confined)
        except _Unsupported as exc:
            if strict:
                raise Invalid(str(exc), paths=[raw_name[:100]]) from None
            out.ignored.append((raw_name, value))
            continue
        out.clauses.append(clause)
        out.applied.append((raw_name, value))
    return out


class _Unsupported(Exception):
    """A chain this server does not know how to follow (ignored unless the search is strict)."""


def _reference(rt: str, name: str) -> P:
    p = param_table(rt).get(name)
    if p is None or p.type != "reference":
        raise _Unsupported(f"'{name[:64]}' is not a reference search parameter of {rt}")
    return p


async def _forward(db: AsyncDatabase[Any], tenant: str, rt: str, raw_name: str, value: str,
                   confined: ConfinementOf, depth: int = 1) -> dict[str, Any]:
    left, _, chained = raw_name.partition(".")
    name, _, target = left.partition(":")
    p = _reference(rt, name)
    chained_name = re.split(r"[.:]", chained, maxsplit=1)[0]
    if not chained_name:
        raise _Unsupported(f"'{raw_name[:100]}': a chain is reference[:type].parameter")
    if "." in chained and depth >= MAX_DEPTH:
        raise _Unsupported(f"'{raw_name[:100]}': chains follow at most {MAX_DEPTH} references")
    if target:
        if target not in PARAMS or (p.targets and target not in p.targets):
            raise _Unsupported(f"{rt}.{name} cannot refer to a {target[:64]}")
        types = [target]
    else:
        if not p.targets:
            raise _Unsupported(f"{rt}.{name} may refer to any type: name it ({name}:[type].{chained_name[:64]})")
        types = [t for t in p.targets if t in PARAMS and chained_name in param_table(t)]
    types = [t for t in types if chained_name in param_table(t)]
    if not types:
        raise _Unsupported(f"No type {rt}.{name} refers to has the search parameter '{chained_name[:64]}'")
    refs: list[str] = []
    for t in types:
        if "." in chained:  # the chain goes on from t: resolved first, from its far end
            inner = await _forward(db, tenant, t, chained, value, confined, depth + 1)
            filt = live(tenant, [inner, *confinement.clauses(t, confined(t), tenant)])
        else:
            filt = _filter(tenant, t, [(chained, value)], confined)
        docs = await call(db[t].find(filt, {"_sys.id": 1}).limit(MAX_CHAINED - len(refs) + 1)
                          .to_list(None))
        refs += [f"{t}/{d['_sys']['id']}" for d in docs]
        if len(refs) > MAX_CHAINED:
            raise _too_many(raw_name, t)
    return {f"_sys.k.{p.name}": {"$in": refs}}


async def _reverse(db: AsyncDatabase[Any], tenant: str, rt: str, raw_name: str, value: str,
                   confined: ConfinementOf) -> dict[str, Any]:
    parts = raw_name.split(":", 3)
    if len(parts) < 4 or not all(parts[1:]):
        raise _Unsupported(f"'{raw_name[:100]}': _has takes _has:[type]:[reference]:[parameter]")
    _, source, name, chained = parts
    if chained.startswith("_has:") or "." in chained:
        raise _Unsupported(f"'{raw_name[:100]}': reverse chains of one level only")
    if source not in PARAMS:
        raise _Unsupported(f"Resource type '{source[:64]}' is not supported by this server")
    p = _reference(source, name)
    if p.targets and rt not in p.targets:
        raise _Unsupported(f"{source}.{name} does not refer to a {rt}")
    filt = _filter(tenant, source, [(chained, value)], confined)
    # The distinct references to rt of the matching sources: never more than MAX_CHAINED + 1 rows come back.
    stages: list[dict[str, Any]] = [
        {"$match": filt},
        {"$project": {"_id": 0, "r": f"$_sys.k.{p.name}"}},
        {"$unwind": "$r"},
        {"$match": {"r": {"$regex": f"^{rt}/"}}},
        {"$group": {"_id": "$r"}},
        {"$limit": MAX_CHAINED + 1},
    ]
    cursor = await call(db[source].aggregate(stages))
    rows: list[dict[str, Any]] = await call(cursor.to_list(None))
    if len(rows) > MAX_CHAINED:
        raise _too_many(raw_name, rt)
    ids = [row["_id"].partition("/")[2] for row in rows if isinstance(row.get("_id"), str)]
    return {"_id": {"$in": [doc_id(tenant, i) for i in ids]}}


def _filter(tenant: str, rt: str, params: list[tuple[str, str]], confined: ConfinementOf) -> dict[str, Any]:
    """The intermediate query: the chained parameter compiled strictly (an unknown one is unsupported), inside
    the caller's tenant and its confinement for ``rt``."""
    try:
        clauses, _, _ = compile_params(rt, params, tenant, strict=True)
    except Invalid as exc:
        raise _Unsupported(exc.message) from None
    return live(tenant, [*clauses, *confinement.clauses(rt, confined(rt), tenant)])


def _too_many(raw_name: str, rt: str) -> Invalid:
    return Invalid(f"'{raw_name[:100]}' matches more than {MAX_CHAINED} {rt} resources: narrow it (add parameters "
                   "to the chain's value or search the chained type first)", paths=[raw_name[:100]])
