"""The rate limit's shared counters: increments add up across instances, grants are seen by the others until
they stop renewing them, and a sync is two round trips whatever the number of tenants."""

from __future__ import annotations

import time
import uuid

from store.client import StoreHandle
from store.metrics import STORE_CALLS
from store.ratelimits import ALIVE_S, PRUNE_S, RATELIMITS, Others, RateCounters

# "Now" in these syncs is today: the collection has a TTL index on when a document expires, and a date in 1970
# would let the store's TTL sweep remove documents in the middle of a test.
NOW = time.time()
W = int(NOW // 60)  # this minute's window
S = W * 60  # its first second


def ratelimit_calls() -> float:
    return sum(s.value for m in STORE_CALLS.collect() for s in m.samples
               if s.name.endswith("_total") and s.labels.get("collection") == RATELIMITS)


async def test_counts_add_up_across_instances_and_grants_are_shared(store: StoreHandle) -> None:
    counters = RateCounters(store.repo.db)
    t1, t2 = f"rl-{uuid.uuid4().hex[:8]}", f"rl-{uuid.uuid4().hex[:8]}"
    windows = [(t1, W - 1), (t1, W), (t2, W)]
    before = ratelimit_calls()
    first = await counters.sync({(t1, S - 1): 3, (t1, S): 2, (t1, S + 7): 1, (t2, S + 59): 5},
                                {t1: (10, True), t2: (4, False)}, windows, instance="a", now=NOW)
    assert ratelimit_calls() - before == 2  # one bulk write, one find
    assert first.totals == {(t1, S - 1): 3, (t1, S): 2, (t1, S + 7): 1, (t2, S + 59): 5}  # per second
    assert first.others == {t1: Others(), t2: Others()}  # its own grant is not another's
    second = await counters.sync({(t1, S): 1}, {t1: (6, True)}, windows, instance="b", now=NOW + 1)
    assert second.totals[(t1, S)] == 3 and second.totals[(t2, S + 59)] == 5
    assert second.others[t1] == Others(granted=10, active=1)
    # a stops renewing its grant without giving it up (a crash): read as spent, at the second it lapsed, for
    # as long as what it admitted may still be in the last minute.
    lapsed = NOW + 1 + ALIVE_S + 1
    later = await counters.sync({}, {t1: (6, True)}, windows, instance="b", now=lapsed)
    assert later.others[t1] == Others(spent={int(NOW + ALIVE_S): 10})
    gone = await counters.sync({}, {t1: (6, True)}, windows, instance="b", now=NOW + ALIVE_S + 62)
    assert gone.others[t1] == Others()
    # A clean stop gives its grant up (0): nothing is read as spent.
    await counters.sync({}, {t2: (0, False)}, windows, instance="a", now=NOW + 2)
    assert (await counters.sync({}, {t2: (1, True)}, windows, instance="b", now=lapsed)).others[t2] == Others()


async def test_a_count_without_seconds_is_put_at_its_windows_end(store: StoreHandle) -> None:
    # Written by a version that counted whole minutes only: the latest second it can have, never earlier.
    counters = RateCounters(store.repo.db)
    tenant = f"rl-{uuid.uuid4().hex[:8]}"
    await store.repo.db[RATELIMITS].insert_one({"_id": f"{tenant}/{W}", "tenant": tenant, "window": W, "n": 4})
    synced = await counters.sync({(tenant, S + 3): 2}, {}, [(tenant, W)], instance="a", now=NOW)
    assert synced.totals == {(tenant, S + 3): 2, (tenant, S + 59): 4}


async def test_long_gone_instances_are_pruned(store: StoreHandle) -> None:
    counters = RateCounters(store.repo.db)
    tenant = f"rl-{uuid.uuid4().hex[:8]}"
    await counters.sync({}, {tenant: (5, True)}, [], instance="gone", now=NOW)
    await counters.sync({}, {tenant: (5, True)}, [], instance="b", now=NOW + PRUNE_S + 1)  # notices it
    await counters.sync({}, {tenant: (5, True)}, [], instance="b", now=NOW + PRUNE_S + 2)  # removes it
    doc = await store.repo.db[RATELIMITS].find_one({"_id": f"{tenant}/grants"})
    assert doc is not None and set(doc["grants"]) == {"b"}
