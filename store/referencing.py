"""The first resource referencing another, coalesced: the row ``search(rt, [(param, ref), *params], count=1)``
answers, for the ``ref``s of concurrent callers in one command — the reverse references a view of one
resource joins (the qapi appointment's encounter, its patient's family group), which would otherwise cost a
search command per request.

A lane is the shape of the question (type, tenant, reference parameter, the other parameters, the caller's
confinement); its batch asks ``param`` for every waiting ``ref`` at once, in the search's default order
(``_id``), so the first row matching a ``ref`` is that ``ref``'s first row. The command is bounded
(``ROWS_PER_REF`` rows per ``ref``); when rows of a few ``ref``s fill it, the ``ref``s still unanswered are asked
again after the last row seen (a keyset continuation), until each has its row or none is left. Nothing is
cached (store/reads.py ``Coalescer``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from store import confinement
from store.layout import KEYS_ONLY, live
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
    params: tuple[tuple[str, str], ...]  # checked by the caller (compile_params)
    within: Confinement | None


class ReferenceCoalescer(Coalescer):
    def first(self, lane: Lane, ref: str) -> asyncio.Future[dict[str, Any] | None]:
        """A future of the stored document of the first ``lane.rt`` whose ``lane.param`` holds ``ref``
        (``Type/id``) and that matches the lane's parameters (None: there is none)."""
        return self.want(lane, ref)

    async def _lookup(self, lane: Any, keys: list[str]) -> dict[str, dict[str, Any]]:
        clauses, _, _ = compile_params(lane.rt, list(lane.params), lane.tenant)
        clauses += confinement.clauses(lane.rt, lane.within, lane.tenant)
        key = f"_sys.k.{lane.param}"
        remaining = dict.fromkeys(keys)
        found: dict[str, dict[str, Any]] = {}
        after: str | None = None
        while remaining:
            asked = [*clauses, {key: {"$in": list(remaining)}}, *([{"_id": {"$gt": after}}] if after else [])]
            limit = len(remaining) * ROWS_PER_REF
            reply = await self._find_command({"find": lane.rt, "filter": live(lane.tenant, asked),
                                              "sort": {"_id": 1}, "projection": KEYS_ONLY, "limit": limit,
                                              "batchSize": limit})
            docs: list[dict[str, Any]] = reply["cursor"]["firstBatch"]
            cut = await self._close(lane.rt, reply)  # past the 16 MB reply limit: what came is still in order
            for doc in docs:
                for ref in doc["_sys"]["k"].get(lane.param) or ():
                    if ref in remaining:
                        found[ref] = doc
                        del remaining[ref]
            if not docs or not (cut or len(docs) >= limit):
                break
            after = docs[-1]["_id"]
        return found
