"""The first resource referencing another, coalesced: the row ``search(rt, [(param, ref), *params], count=1)``
answers, for the ``ref``s of concurrent callers in one command — the reverse references a view of one
resource joins (the qapi appointment's encounter, its patient's family group), which would otherwise cost a
search command per request.

A lane is the shape of the question (type, tenant, reference parameter, the other parameters, the caller's
confinement); its batch asks ``param`` for every waiting ``ref`` at once, in the search's default order
(``_id``). The command is bounded (``ROWS_PER_REF`` rows per ``ref``) and unsorted: when it brings fewer, it
brought every row, and each ``ref``'s first is picked from them. When rows of a few ``ref``s fill it, the
lookup is asked again in ``_id`` order, and the ``ref``s still unanswered again after the last row seen (a keyset
continuation), until each has its row or none is left. Nothing is cached (store/reads.py ``Coalescer``).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from store import confinement
from store.errors import Invalid
from store.layout import KEYS_ONLY, live
from store.params import param_table
from store.reads import Coalescer
from store.search import compile_params
from store.types import Confinement

# Rows per asked ref in one command: most refs have one referrer or none (an appointment's encounter).
ROWS_PER_REF = 2


@dataclass(frozen=True)
class Lane:
    rt: str
    tenant: str
    param: str  # a reference parameter of ``rt``
    params: tuple[tuple[str, str], ...]
    within: Confinement | None


def lane(rt: str, tenant: str, param: str, params: list[tuple[str, str]] | None,
         within: Confinement | None) -> Lane:
    """The lane of a lookup, its shape checked here (``Invalid``), not in a batch shared with others."""
    _check(rt, param, tuple(params or ()))
    return Lane(rt, tenant, param, tuple(params or ()), within)


@functools.lru_cache(maxsize=256)
def _check(rt: str, param: str, params: tuple[tuple[str, str], ...]) -> None:
    p = param_table(rt).get(param)
    if p is None or p.type != "reference":
        raise Invalid(f"{rt} has no reference search parameter '{param[:64]}'")
    compile_params(rt, list(params), "-")  # refuses what a search would (the tenant only shapes _id clauses)


class ReferenceCoalescer(Coalescer):
    def first(self, lane: Lane, ref: str) -> asyncio.Future[dict[str, Any] | None]:
        """A future of the stored document of the first ``lane.rt`` whose ``lane.param`` holds ``ref``
        (``Type/id``) and that matches the lane's parameters (None: there is none)."""
        return self.want(lane, ref)

    async def _lookup(self, lane: Any, keys: list[str]) -> dict[str, dict[str, Any]]:
        clauses, _, _ = compile_params(lane.rt, list(lane.params), lane.tenant)
        clauses += confinement.clauses(lane.rt, lane.within, lane.tenant)
        found: dict[str, dict[str, Any]] = {}
        # Most refs have a row or two: all of them, in whatever order the database finds them cheapest, and
        # each ref's first picked here.
        docs, whole = await self._rows(lane, clauses, keys, sort=False)
        if whole:
            self._assign(lane, sorted(docs, key=lambda d: str(d["_id"])), dict.fromkeys(keys), found)
            return found
        # Some ref has more rows than one command takes: in the search's order, resumed after the last row seen.
        remaining = dict.fromkeys(keys)
        after: str | None = None
        while remaining:
            docs, whole = await self._rows(lane, clauses, list(remaining), sort=True, after=after)
            self._assign(lane, docs, remaining, found)
            if whole or not docs:
                break
            after = docs[-1]["_id"]
        return found

    async def _rows(self, lane: Lane, clauses: list[dict[str, Any]], refs: list[str], *, sort: bool,
                    after: str | None = None) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``ROWS_PER_REF`` rows a ref of ``refs`` (in ``_id`` order after ``after`` when ``sort``), and
        whether they are all there are."""
        asked = [*clauses, {f"_sys.k.{lane.param}": {"$in": refs}}, *([{"_id": {"$gt": after}}] if after else [])]
        limit = len(refs) * ROWS_PER_REF
        find: dict[str, Any] = {"find": lane.rt, "filter": live(lane.tenant, asked), "projection": KEYS_ONLY,
                                "limit": limit, "batchSize": limit}
        if sort:
            find["sort"] = {"_id": 1}
        reply = await self._find_command(find)
        docs: list[dict[str, Any]] = reply["cursor"]["firstBatch"]
        cut = await self._close(lane.rt, reply)  # past the 16 MB reply limit (what came is still in order)
        return docs, not cut and len(docs) < limit

    @staticmethod
    def _assign(lane: Lane, docs: list[dict[str, Any]], remaining: dict[str, None],
                found: dict[str, dict[str, Any]]) -> None:
        """Each ref of ``remaining`` its first row among ``docs`` (in ``_id`` order), taken out of it."""
        for doc in docs:
            for ref in doc["_sys"]["k"].get(lane.param) or ():
                if ref in remaining:
                    found[ref] = doc
                    del remaining[ref]
