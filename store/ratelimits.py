"""Shared request counters for the per-clinic rate limit (seed 000: 1,000 requests per minute per clinic).

The collection ``ratelimits`` holds, per tenant:

- one document per fixed window, ``{_id: "<tenant>/<window>", tenant, window, n, expires}``: ``window`` is the
  window's number since the epoch (``now // window_s``), ``n`` how many requests all instances together admitted
  in it;
- one document of grants, ``{_id: "<tenant>/grants", grants: {<instance>: {g, at, active}}, expires}``: how many
  more requests each instance may admit before its next sync (``g``), declared before it uses them, when it
  declared that (``at``, epoch seconds) and whether it has traffic of the tenant (``active``). app/ratelimit.py
  explains why declaring before using bounds the overshoot.

A TTL index on ``expires`` drops a window's document once no sliding estimate weighs it, and a grants document an
hour after its last sync. A tenant name holds no "/" (store/types.py), so the ids cannot collide.

An instance never asks per request: it calls ``sync`` once per interval, two round trips whatever the number of
tenants — one unordered ``bulk_write`` (an upserting ``$inc`` per window it has new admissions for, a ``$set``
of its grant per tenant) and one ``find`` by ``_id`` of the documents it needs back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from store.driver import call, unavailable

RATELIMITS = "ratelimits"
# A grant not renewed for this long is its instance's no more (it stopped or crashed); removed after PRUNE_S.
ALIVE_S = 5.0
PRUNE_S = 120.0

Window = tuple[str, int]  # (tenant, window number)
Grant = tuple[int, bool]  # (requests it may still admit, whether it has traffic)


@dataclass
class Others:
    """The live grants of the other instances for one tenant: their sum, and how many have traffic."""

    granted: int = 0
    active: int = 0


@dataclass
class Synced:
    """What one sync learnt: the global count of each window asked for (absent: none yet), the other instances'
    grants per tenant, and the increments the store did not take (to be sent again)."""

    totals: dict[Window, int] = field(default_factory=dict)
    others: dict[str, Others] = field(default_factory=dict)
    unapplied: dict[Window, int] = field(default_factory=dict)


def _window_id(window: Window) -> str:
    return f"{window[0]}/{window[1]}"


def _grants_id(tenant: str) -> str:
    return f"{tenant}/grants"


class RateCounters:
    def __init__(self, db: AsyncDatabase[Any], *, window_s: int = 60):
        self._docs = db[RATELIMITS]
        self.window_s = window_s
        self._stale: dict[str, set[str]] = {}  # per tenant, grants of gone instances to remove at the next sync

    async def sync(self, increments: Mapping[Window, int], grants: Mapping[str, Grant], wanted: Iterable[Window],
                   *, instance: str, now: float) -> Synced:
        """Add ``increments`` to the shared counts, declare ``instance``'s ``grants``, then read back the counts
        of ``wanted`` and the other instances' grants for the tenants of ``grants``. Raises ``Unavailable`` when
        the store cannot answer — then nothing is known of what was taken (retryable writes make that rare),
        and the caller keeps its increments: counting one twice errs on the safe side."""
        synced = Synced()
        keys = [w for w, n in increments.items() if n]
        ops: list[UpdateOne] = [
            UpdateOne({"_id": _window_id(w)}, {"$inc": {"n": increments[w]},
                                               "$setOnInsert": {"tenant": w[0], "window": w[1],
                                                                "expires": self._expiry(w[1])}}, upsert=True)
            for w in keys]
        for tenant, (granted, active) in grants.items():
            update: dict[str, Any] = {"$set": {f"grants.{instance}": {"g": granted, "at": now, "active": active},
                                               "expires": datetime.fromtimestamp(now + 3600, UTC)}}
            stale = self._stale.pop(tenant, set()) - {instance}
            if stale:
                update["$unset"] = {f"grants.{i}": "" for i in stale}
            ops.append(UpdateOne({"_id": _grants_id(tenant)}, update, upsert=True))
        if ops:
            try:
                await self._docs.bulk_write(ops, ordered=False)
            except BulkWriteError as exc:
                # Unordered: every statement but the failed ones was applied (an upsert racing another
                # instance's on the same new document fails with a duplicate key; it is sent again next time).
                for error in exc.details.get("writeErrors", []):
                    if error["index"] < len(keys):
                        synced.unapplied[keys[error["index"]]] = increments[keys[error["index"]]]
            except PyMongoError as exc:
                raise unavailable(exc) from exc
        windows = {_window_id(w): w for w in wanted}
        tenants = {_grants_id(t): t for t in grants}
        if not windows and not tenants:
            return synced
        docs = await call(self._docs.find({"_id": {"$in": [*windows, *tenants]}}).to_list(None))
        for doc in docs:
            if doc["_id"] in windows:
                synced.totals[windows[doc["_id"]]] = int(doc.get("n", 0))
            elif doc["_id"] in tenants:
                synced.others[tenants[doc["_id"]]] = self._others(tenants[doc["_id"]], doc, instance, now)
        return synced

    def _others(self, tenant: str, doc: dict[str, Any], instance: str, now: float) -> Others:
        others = Others()
        for owner, grant in (doc.get("grants") or {}).items():
            if owner == instance or not isinstance(grant, dict):
                continue
            at = float(grant.get("at", 0))
            if at >= now - ALIVE_S:
                others.granted += max(0, int(grant.get("g", 0)))
                others.active += 1 if grant.get("active") else 0
            elif at < now - PRUNE_S:
                self._stale.setdefault(tenant, set()).add(owner)
        return others

    def _expiry(self, window: int) -> datetime:
        # The sliding estimate weighs a window until the end of the next one; a little more for clock skew.
        return datetime.fromtimestamp((window + 3) * self.window_s, UTC)
