"""``_include`` and ``_revinclude`` (https://hl7.org/fhir/R4/search.html#include), with ``:iterate``: what each
spec asks for, read off the reference keys of stored documents, round after round. The reads themselves are the
caller's (store/queries.py), passed in as two functions.

A plain spec applies to the page's matches; an ``:iterate`` spec (``_include:iterate``, ``_revinclude:iterate``;
R3's ``:recurse`` is the same) also to what the previous round included, for at most ``MAX_DEPTH`` rounds. A
resource is included once, and never when it is already a match.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from store.errors import Invalid
from store.params import PARAMS, param_table
from store.validation import is_resource_type

# At most this many resources per type and spec, in each round.
MAX_INCLUDES = 1000
# Rounds of :iterate after the first.
MAX_DEPTH = 3
ITERATE_MODIFIERS = ("iterate", "recurse")

Doc = dict[str, Any]
# (type, ids) → the stored documents, with their reference keys; (type, param, refs) → those referencing refs.
ReadIds = Callable[[str, list[str]], Awaitable[list[Doc]]]
ReadReferencing = Callable[[str, str, list[str]], Awaitable[list[Doc]]]


@dataclass(frozen=True)
class Spec:
    """One ``_include`` (``reverse`` False) or ``_revinclude``: ``source`` is the type whose reference
    parameter ``param`` points at ``target`` (empty: any type the parameter may refer to)."""

    source: str
    param: str
    target: str
    reverse: bool
    iterate: bool = False


def parse(spec: str, *, reverse: bool, iterate: bool = False) -> Spec:
    """``<source>:<param>[:<target>]``; unknown types and parameters raise ``Invalid``."""
    name = "_revinclude" if reverse else "_include"
    source, _, rest = spec.partition(":")
    param, _, target = rest.partition(":")
    p = param_table(source).get(param) if is_resource_type(source) and source in PARAMS else None
    if p is None or p.type != "reference" or (target and (target not in PARAMS or
                                                            (p.targets and target not in p.targets))):
        raise Invalid(f"Unsupported {name} '{spec[:100]}'", paths=[name])
    return Spec(source, param, target, reverse, iterate)


def _referenced(docs: list[Doc], spec: Spec) -> dict[str, list[str]]:
    by_type: dict[str, list[str]] = {}
    for d in docs:
        for ref in d["_sys"]["k"].get(spec.param, []):
            t, _, rid = ref.partition("/")
            if rid and (not spec.target or t == spec.target):
                by_type.setdefault(t, []).append(rid)
    return {t: list(dict.fromkeys(ids))[:MAX_INCLUDES] for t, ids in by_type.items() if t in PARAMS}


async def gather(rt: str, matches: list[Doc], specs: list[Spec], read_ids: ReadIds,
                 read_referencing: ReadReferencing) -> list[Doc]:
    """The stored documents ``specs`` include for the ``matches`` of a search on ``rt``, each once."""
    for spec in specs:
        if not spec.reverse and not spec.iterate and spec.source != rt:
            raise Invalid(f"Unsupported _include '{spec.source}:{spec.param}': a search of {rt} includes "
                          f"what {rt} references (or use _include:iterate)", paths=["_include"])
    seen = {f"{d['resourceType']}/{d['id']}" for d in matches}
    out: list[Doc] = []
    frontier = matches
    for depth in range(MAX_DEPTH + 1):
        active = [s for s in specs if s.iterate or depth == 0]
        if not active or not frontier:
            break
        found: list[Doc] = []
        for spec in active:
            if spec.reverse:
                refs = _targets(frontier, spec)
                found += await read_referencing(spec.source, spec.param, refs) if refs else []
            else:
                sources = [d for d in frontier if d["resourceType"] == spec.source]
                for t, ids in _referenced(sources, spec).items():
                    found += await read_ids(t, ids)
        frontier = []
        for d in found:
            key = f"{d['resourceType']}/{d['id']}"
            if key not in seen:
                seen.add(key)
                out.append(d)
                frontier.append(d)
    return out


def _targets(docs: list[Doc], spec: Spec) -> list[str]:
    """The ``Type/id`` of the ``docs`` a revinclude spec's parameter may point at."""
    targets = param_table(spec.source)[spec.param].targets
    return [f"{d['resourceType']}/{d['id']}" for d in docs
            if (not spec.target or d["resourceType"] == spec.target)
            and (not targets or d["resourceType"] in targets)][:MAX_INCLUDES]
