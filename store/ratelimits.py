"""Shared request counters for the per-clinic rate limit (seed 000: 1,000 requests per minute per clinic).

The collection ``ratelimits`` holds, per tenant:

- one document per minute, ``{_id: "<tenant>/<window>", tenant, window, n, s: {<second>: n}, expires}``:
  ``window`` is the minute's number since the epoch (``now // window_s``), ``n`` how many requests all instances
  together admitted in it and ``s`` how many in each of its seconds (``"0"`` … ``"59"``), for a limit that slides
  second by second (app/ratelimit.py);
- one document of grants, ``{_id: "<tenant>/grants", grants: {<instance>: {g, at, active}}, expires}``: how many
  more requests each instance may admit before its next sync (``g``), declared before it uses them, when it
  declared that (``at``, epoch seconds) and whether it has traffic of the tenant (``active``). app/ratelimit.py
  explains why declaring before using bounds the overshoot. A grant its instance stopped renewing without
  giving it up (a crash: a clean stop declares 0) is read as spent — what it admitted since its last write of
  counts was never sent — for a minute after it lapsed.

A TTL index on ``expires`` drops a minute's document once the sliding limit no longer counts it, and a grants
document an hour after its last sync. A tenant name holds no "/" (store/types.py), so the ids cannot collide.

An instance never asks per request: it calls ``sync`` once per interval, two round trips whatever the number of
tenants — one unordered ``bulk_write`` (an upserting ``$inc`` per second it has new admissions for, a ``$set``
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

Window = tuple[str, int]  # (tenant, minute number since the epoch)
Slot = tuple[str, int]  # (tenant, second since the epoch)
Grant = tuple[int, bool]  # (requests it may still admit, whether it has traffic)


@dataclass
class Others:
    """The live grants of the other instances for one tenant: their sum, and how many have traffic; and the
    lapsed ones, read as spent: {second since the epoch: requests} (attributed to when they lapsed)."""

    granted: int = 0
    active: int = 0
    spent: dict[int, int] = field(default_factory=dict)


@dataclass
class Synced:
    """What one sync learnt: the global count of each second of the windows asked for (absent: none), the other
    instances' grants per tenant, and the increments the store did not take (to be sent again)."""

    totals: dict[Slot, int] = field(default_factory=dict)
    others: dict[str, Others] = field(default_factory=dict)
    unapplied: dict[Slot, int] = field(default_factory=dict)


def _window_id(window: Window) -> str:
    return f"{window[0]}/{window[1]}"


def _grants_id(tenant: str) -> str:
    return f"{tenant}/grants"


class RateCounters:
    def __init__(self, db: AsyncDatabase[Any], *, window_s: int = 60):
        self._docs = db[RATELIMITS]
        self.window_s = window_s
        self._stale: dict[str, set[str]] = {}  # per tenant, grants of gone instances to remove at the next sync

    async def sync(self, increments: Mapping[Slot, int], grants: Mapping[str, Grant], wanted: Iterable[Window],
                   *, instance: str, now: float) -> Synced:
        """Add ``increments`` (per second) to the shared counts, declare ``instance``'s ``grants``, then read back
        the counts of each second of the ``wanted`` windows and the other instances' grants for the tenants of
        ``grants``. Raises ``Unavailable`` when the store cannot answer — then nothing is known of what was
        taken (retryable writes make that rare), and the caller keeps its increments: counting one twice errs on
        the safe side."""
        synced = Synced()
        keys = [w for w, n in increments.items() if n]
        ops: list[UpdateOne] = []
        for tenant, second in keys:
            window = second // self.window_s
            n = increments[(tenant, second)]
            ops.append(UpdateOne({"_id": _window_id((tenant, window))},
                                 {"$inc": {"n": n, f"s.{second - window * self.window_s}": n},
                                  "$setOnInsert": {"tenant": tenant, "window": window,
                                                   "expires": self._expiry(window)}}, upsert=True))
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
                self._seconds(windows[doc["_id"]], doc, synced.totals)
            elif doc["_id"] in tenants:
                synced.others[tenants[doc["_id"]]] = self._others(tenants[doc["_id"]], doc, instance, now)
        return synced

    def _seconds(self, window: Window, doc: dict[str, Any], into: dict[Slot, int]) -> None:
        tenant, start = window[0], window[1] * self.window_s
        seconds = doc.get("s")
        if not isinstance(seconds, dict):
            seconds = {}
        counted = 0
        for offset, n in seconds.items():
            if offset.isdigit() and int(offset) < self.window_s and int(n) > 0:
                into[(tenant, start + int(offset))] = int(n)
                counted += int(n)
        if int(doc.get("n", 0)) > counted:  # counted without its second (an older version): at the window's end
            last = (tenant, start + self.window_s - 1)
            into[last] = into.get(last, 0) + int(doc.get("n", 0)) - counted

    def _others(self, tenant: str, doc: dict[str, Any], instance: str, now: float) -> Others:
        others = Others()
        for owner, grant in (doc.get("grants") or {}).items():
            if owner == instance or not isinstance(grant, dict):
                continue
            at, granted = float(grant.get("at", 0)), max(0, int(grant.get("g", 0)))
            if at >= now - ALIVE_S:
                others.granted += granted
                others.active += 1 if grant.get("active") else 0
            elif at >= now - ALIVE_S - self.window_s - 1:
                if granted:  # lapsed, not given up: spent, as far as anyone knows, until it leaves the window
                    second = int(at + ALIVE_S)
                    others.spent[second] = others.spent.get(second, 0) + granted
            elif at < now - PRUNE_S:
                self._stale.setdefault(tenant, set()).add(owner)
        return others

    def _expiry(self, window: int) -> datetime:
        # The sliding limit counts a window's seconds until a minute after each; a little more for clock skew.
        return datetime.fromtimestamp((window + 3) * self.window_s, UTC)
