"""The rate limiter (app/ratelimit.py) with a fake clock and an in-memory double of the store's counters."""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Iterable, Mapping

import pytest
from pydantic import ValidationError

from app.ratelimit import GRANT_DIVISOR, UNLIMITED, WINDOW_S, Limiter, parse_limits
from app.settings import Settings, problems
from store.errors import TooManyRequests, Unavailable
from store.ratelimits import ALIVE_S, Grant, Others, Slot, Synced, Window

T0 = 1_700_000_040.0  # the start of a minute (1_700_000_040 = 28_333_334 × 60)


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class MemoryCounters:
    """What store/ratelimits.py keeps, in memory: shared by the limiters of one test like one store."""

    def __init__(self) -> None:
        self.totals: dict[Slot, int] = {}
        self.grants: dict[str, dict[str, tuple[int, bool, float]]] = {}
        self.down = False
        self.calls = 0

    async def sync(self, increments: Mapping[Slot, int], grants: Mapping[str, Grant], wanted: Iterable[Window],
                   *, instance: str, now: float) -> Synced:
        self.calls += 1
        if self.down:
            raise Unavailable()
        for key, n in increments.items():
            self.totals[key] = self.totals.get(key, 0) + n
        for tenant, (granted, active) in grants.items():
            self.grants.setdefault(tenant, {})[instance] = (granted, active, now)
        others = {}
        for tenant in grants:
            theirs = [(g, a, at) for i, (g, a, at) in self.grants[tenant].items() if i != instance]
            live = [(g, a) for g, a, at in theirs if at >= now - ALIVE_S]
            spent: dict[int, int] = {}
            for g, _, at in theirs:
                if now - ALIVE_S - WINDOW_S - 1 <= at < now - ALIVE_S and g:
                    spent[int(at + ALIVE_S)] = spent.get(int(at + ALIVE_S), 0) + g
            others[tenant] = Others(sum(g for g, _ in live), sum(1 for _, a in live if a), spent)
        windows = set(wanted)
        return Synced(totals={k: n for k, n in self.totals.items() if (k[0], k[1] // WINDOW_S) in windows},
                      others=others)

    def total(self, tenant: str) -> int:
        return sum(n for (t, _), n in self.totals.items() if t == tenant)


async def admitted(limiter: Limiter, tenant: str, n: int) -> int:
    """How many of ``n`` requests of ``tenant`` are admitted."""
    ok = 0
    for _ in range(n):
        try:
            quota = limiter.take(tenant)
            if quota is None:
                quota = await limiter.first(tenant)
        except TooManyRequests:
            continue
        ok += 1
    return ok


async def admitted_over(limiter: Limiter, tenant: str, n: int, *, syncs: int) -> int:
    """How many are admitted of ``n`` requests of ``tenant`` knocking before each of ``syncs`` syncs and after the
    last (a grant is at most a fifth of the limit: a whole quota takes five syncs)."""
    ok = await admitted(limiter, tenant, n)
    for _ in range(syncs):
        await limiter.sync()
        ok += await admitted(limiter, tenant, n)
    return ok


async def test_a_single_instance_admits_the_limit_then_refuses_with_the_quota() -> None:
    clock, store = Clock(), MemoryCounters()
    limiter = Limiter(5, counters=store, clock=clock)
    await limiter.start()
    quotas = [await limiter.first("clinic-a")]
    for _ in range(4):
        # A grant is a fifth of the limit (one here): the next waits for the next sync, the minute has room.
        with pytest.raises(TooManyRequests) as spent:
            limiter.take("clinic-a")
        assert spent.value.retry_after == limiter.interval_s
        await limiter.sync()
        quotas.append(limiter.take("clinic-a"))
    assert [q[1] for q in quotas if q] == [4, 3, 2, 1, 0]  # remaining after each
    # Reset: when the oldest of them leaves the last 60 s (each second is counted whole, until its end).
    assert all(q[0] == 5 and q[2] == WINDOW_S + 1 for q in quotas if q)
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("clinic-a")
    error = refused.value
    assert error.limit == 5 and error.window_s == WINDOW_S
    # All 5 not synced yet: counted at this second, they leave the last 60 s a minute after it ends.
    assert error.retry_after == pytest.approx(WINDOW_S + 1)
    await limiter.stop()
    assert store.total("clinic-a") == 5  # the clean stop flushed them


async def test_tenants_have_their_own_limits_and_zero_is_none() -> None:
    limiter = Limiter(2, {"big": 4, "free": 0}, counters=MemoryCounters(), clock=Clock())
    assert await admitted_over(limiter, "small", 10, syncs=6) == 2
    assert await admitted_over(limiter, "big", 10, syncs=6) == 4
    assert limiter.take("free") == UNLIMITED
    assert Limiter(0).enabled is False and Limiter(0, {"x": 3}).enabled is True


async def test_requests_leave_the_count_a_minute_after_their_second() -> None:
    clock, store = Clock(T0 + 50), MemoryCounters()
    limiter = Limiter(10, counters=store, clock=clock)
    assert await admitted_over(limiter, "c", 12, syncs=6) == 10
    await limiter.sync()  # they are counted at this second, T0 + 50
    clock.now = T0 + WINDOW_S + 6  # in the next minute, but within 60 s of them: nothing
    await limiter.sync()
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("c")
    assert refused.value.retry_after == pytest.approx(50 + WINDOW_S + 1 - (WINDOW_S + 6))  # when T0 + 50 leaves
    clock.now = T0 + 50 + WINDOW_S + 1
    await limiter.sync()
    assert await admitted(limiter, "c", 12) == 1  # all room again, but idle meanwhile: a burst's worth (1)
    await limiter.sync()
    assert await admitted(limiter, "c", 12) == 10 // GRANT_DIVISOR  # busy again: a whole grant
    assert await admitted_over(limiter, "c", 12, syncs=6) == 10 - 1 - 10 // GRANT_DIVISOR


async def test_no_60_s_span_holds_more_than_the_limit_whatever_the_minute() -> None:
    # The sliding estimate of two fixed minutes (previous × (1 − f) + current) assumed the previous minute's
    # requests were spread evenly: a limit's worth spent in a burst 10 s before a minute boundary, then steady
    # knocking, let 100 + 100 × 50/60 in within 60 s of the burst. Counted per second, no 60 s hold more.
    clock, store = Clock(T0 + 50), MemoryCounters()
    limiter = Limiter(100, counters=store, clock=clock)
    times: list[float] = []
    for step in range(150 * 4):  # 150 s, knocking 100 times every 0.25 s, syncing as often
        clock.now = T0 + 50 + step * 0.25
        await limiter.sync()
        times += [clock.now] * await admitted(limiter, "c", 100)
    most = max(sum(1 for u in times if t <= u < t + WINDOW_S) for t in times)
    assert most <= 100
    assert len(times) >= 250  # and it refills: a limit's worth in every minute or so


async def test_two_instances_share_one_limit_within_their_bound() -> None:
    clock, store = Clock(), MemoryCounters()
    a, b = (Limiter(1000, counters=store, clock=clock, interval_s=0.25) for _ in range(2))
    await a.start()
    await b.start()
    rng = random.Random(7)
    ok = 0
    # 12 s of 6,000 requests (500/s) spread over both, each instance syncing every 0.25 s, out of phase.
    for step in range(6000):
        clock.now = T0 + step * 0.002
        if step % 125 == 0:
            await a.sync()
        if step % 125 == 60:
            await b.sync()
        ok += await admitted(rng.choice((a, b)), "c", 1)
    await a.stop()
    await b.stop()
    assert 900 <= ok <= 1000 + 1  # at most N − 1 past the limit
    assert store.total("c") == ok


@pytest.mark.parametrize("n", [2, 3])
async def test_saturating_instances_out_of_phase_never_pass_the_limit(n: int) -> None:
    # The worst case of sharing "what was left at my last sync": every instance spends its whole share at once,
    # syncing in turn, each blind to the others' latest shares (that would end 25 % over with two instances).
    clock, store = Clock(), MemoryCounters()
    limiters = [Limiter(1000, counters=store, clock=clock) for _ in range(n)]
    ok = 0
    for limiter in limiters:
        ok += await admitted(limiter, "c", 1)
    for step in range(40 * n):  # ten seconds, each instance syncing every 0.25 s, out of phase
        clock.now += 0.25 / n
        limiter = limiters[step % n]
        await limiter.sync()
        ok += await admitted(limiter, "c", 2000)
    assert 950 <= ok <= 1000
    assert store.total("c") == ok


async def test_a_spent_grant_refuses_until_the_next_sync() -> None:
    clock, store = Clock(), MemoryCounters()
    a, b = (Limiter(100, counters=store, clock=clock) for _ in range(2))
    cap = 100 // GRANT_DIVISOR
    assert await admitted(a, "c", 100) == cap  # one grant: a fifth of the limit, not all that is left
    with pytest.raises(TooManyRequests) as refused:
        a.take("c")
    assert refused.value.retry_after == a.interval_s  # the next sync's grant, not the minute's end
    assert await admitted(b, "c", 100) == cap  # a's grant did not hold the rest of the minute
    ok = 2 * cap
    for _ in range(8):  # both busy, syncing in turn: each gets its share of what is left, never past it
        await a.sync()
        await b.sync()
        ok += await admitted(a, "c", 100) + await admitted(b, "c", 100)
    assert ok == 100
    for limiter in (a, b):
        with pytest.raises(TooManyRequests) as refused:
            limiter.take("c")
        assert refused.value.retry_after == WINDOW_S + 1  # the minute is spent: when its requests leave it


async def test_traffic_pinned_to_one_instance_still_reaches_the_limit() -> None:
    clock, store = Clock(), MemoryCounters()
    a, b = (Limiter(100, counters=store, clock=clock) for _ in range(2))
    await a.start()
    await b.start()
    ok = 0
    for _ in range(12):  # twelve intervals; the other instance is idle but alive
        ok += await admitted(a, "c", 50)
        clock.now += 0.25
        await a.sync()
        await b.sync()
    assert ok == 100  # the idle one gave its burst's worth up to the busy one at the minute's end


async def test_what_a_crashed_instance_admitted_but_never_sent_stays_counted() -> None:
    # b is killed (SIGKILL) after admitting on its grant, before its next sync sends them: nobody will ever
    # count them. Once b's grant lapsed, a used to take the whole limit again within the same minute.
    clock, store = Clock(), MemoryCounters()
    a, b = (Limiter(100, counters=store, clock=clock) for _ in range(2))
    ok = await admitted(a, "c", 1) + await admitted(b, "c", 1)
    for step in range(8):  # both busy, syncing in turn, a few requests each per step
        clock.now += 0.125
        await (a if step % 2 else b).sync()
        ok += await admitted(a, "c", 3) + await admitted(b, "c", 3)
    await b.sync()
    lost = await admitted(b, "c", 100)  # b's grant, spent; then b is gone without a word
    assert lost > 10
    ok += lost
    for _ in range(4 * 30):  # a, busy for the next 30 s
        clock.now += 0.25
        await a.sync()
        ok += await admitted(a, "c", 100)
    assert ok <= 100
    clock.now += WINDOW_S  # a minute after b's grant lapsed, it is spent no more
    for _ in range(4):
        clock.now += 0.25
        await a.sync()
        ok += await admitted(a, "c", 100)
    assert ok > 150


async def test_after_its_only_busy_instance_crashed_a_clinic_still_gets_all_but_a_grant() -> None:
    # b alone has the clinic's traffic; it crashes right after a sync that sent its counts and declared its next
    # grant. That grant is read as spent for a minute: when it could be all the room left (the whole quota for
    # an instance alone), the clinic got almost nothing from a for the next minute. Capped, it costs a fifth.
    clock, store = Clock(), MemoryCounters()
    a, b = (Limiter(1000, counters=store, clock=clock) for _ in range(2))
    cap = 1000 // GRANT_DIVISOR
    before = await admitted(a, "c", 1)  # a knows the clinic, then has no traffic
    before += await admitted(b, "c", 1)
    for _ in range(4):
        clock.now += 0.25
        await a.sync()
        await b.sync()
        before += await admitted(b, "c", 75)
    await b.sync()  # b's last word: its counts, and a grant it will never spend nor give up
    after = 0
    for _ in range(4 * 55):  # a, busy for the next 55 s (within the minute of b's admissions)
        clock.now += 0.25
        await a.sync()
        after += await admitted(a, "c", 50)
    assert before == 2 + 4 * 75
    assert 1000 - cap - before <= after <= 1000 - before


@pytest.mark.parametrize("burst_s", [2.0, 0.5])
async def test_one_busy_instance_admits_a_burst_of_the_whole_limit_within_seconds(burst_s: float) -> None:
    # A grant is a fifth of the limit per sync: 1,000 requests arriving on one instance within burst_s, each
    # refused one retried after its Retry-After (whole seconds, as the header says), are all admitted soon after.
    clock, store = Clock(), MemoryCounters()
    a, b = (Limiter(1000, counters=store, clock=clock) for _ in range(2))
    assert await admitted(b, "c", 1) == 1  # another instance, alive and idle
    await b.sync()
    due: list[float] = []  # when each refused request is knocked again
    arriving, ok, refused, last = 1000 - 1, 1, 0, 0.0
    steps = int(burst_s / 0.25)
    for step in range(4 * 8):
        if step:
            clock.now += 0.25
            await a.sync()
            await b.sync()
        knocks = [t for t in due if t <= clock.now]
        due = [t for t in due if t > clock.now]
        fresh = min(arriving, math.ceil(999 / steps)) if step < steps else 0
        arriving -= fresh
        for _ in range(len(knocks) + fresh):
            try:
                if a.take("c") is None:
                    await a.first("c")
            except TooManyRequests as exc:
                refused += 1
                assert exc.retry_after is not None and exc.retry_after <= 1  # the next grant, not the minute's end
                due.append(clock.now + max(1, math.ceil(exc.retry_after)))
                continue
            ok, last = ok + 1, clock.now - T0
    assert ok == 1000 and not due
    assert last <= burst_s + 2  # the last of them admitted within two seconds of the burst's end
    # 125 per sync fit in a grant (but for the idle instance's burst's worth, given up at the minute's end);
    # 500 do not, and wait for the next grants.
    assert refused <= 1000 // 20 if burst_s == 2.0 else refused >= 500


async def test_a_client_honouring_retry_after_is_admitted_on_its_retry() -> None:
    # One client knocking at a, b alive and idle (holding a burst's worth): every refusal's Retry-After, waited
    # out, leads to an admission — the next grant's second when the grant is spent, the minute's requests
    # leaving it when the rest of the minute is spent or held by b.
    clock, store = Clock(), MemoryCounters()
    a, b = (Limiter(100, counters=store, clock=clock) for _ in range(2))
    ok = await admitted(b, "c", 1) + await admitted(a, "c", 1)
    waits: list[int] = []
    retrying = False
    while clock.now < T0 + 130:
        try:
            a.take("c")
        except TooManyRequests as exc:
            assert not retrying, (waits, ok)  # refused again right after waiting what it was told
            assert exc.retry_after is not None
            wait = max(1, math.ceil(exc.retry_after))
            waits.append(wait)
            for _ in range(4 * wait):
                clock.now += 0.25
                await a.sync()
                await b.sync()
            retrying = True
            continue
        ok += 1
        retrying = False
    assert {w for w in waits if w > 1}  # the minute was spent (or held by b) at least once: told the real wait
    assert all(w == 1 or w >= 50 for w in waits)
    assert ok >= 2 * (100 - 5)  # two minutes' worth, about (b's idle share may stay unused)


async def test_a_new_instance_learns_the_global_count_before_admitting() -> None:
    clock, store = Clock(), MemoryCounters()
    a = Limiter(5, counters=store, clock=clock)
    await a.start()
    assert await admitted_over(a, "c", 5, syncs=6) == 5
    b = Limiter(5, counters=store, clock=clock)
    await b.start()
    assert await admitted_over(b, "c", 3, syncs=6) == 0


async def test_store_unavailable_fails_open_at_the_steady_rate_logs_once_then_flushes(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, store = Clock(), MemoryCounters()
    limiter = Limiter(120, counters=store, clock=clock)
    await limiter.start()
    assert await admitted(limiter, "clinic-x", 4) == 4
    store.down = True
    with caplog.at_level(logging.INFO, logger="fhirgraph.ratelimit"):
        ok = {"clinic-x": 0, "clinic-y": 0}
        for _ in range(4 * 90):  # 90 s without the store, knocking hard every 0.25 s
            clock.now += 0.25
            await limiter.sync()
            for tenant in ok:  # clinic-y first seen meanwhile: admitted too, not on a blind quota
                ok[tenant] += await admitted(limiter, tenant, 50)
            if clock.now - T0 <= 1:
                assert ok["clinic-y"] <= 4  # the steady rate, 2 a second, one at least per sync
        assert 116 - 2 <= ok["clinic-x"] <= 116 + 2  # the local view still holds the limit over any minute
        assert 120 - 4 <= ok["clinic-y"] <= 120 + 4
        store.down = False
        clock.now += 0.25
        await limiter.sync()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "clinic" not in caplog.text
    assert store.total("clinic-x") == 4 + ok["clinic-x"] and store.total("clinic-y") == ok["clinic-y"]


async def test_a_store_hiccup_costs_the_steady_rate_not_the_others_grants() -> None:
    # Two busy instances; the store stops answering for a second (a sync past its deadline on a loaded machine).
    # Each used to admit all that its last view left, the other's grant included: together up to twice that.
    clock, store = Clock(), MemoryCounters()
    a, b = (Limiter(1000, counters=store, clock=clock) for _ in range(2))
    ok = await admitted(a, "c", 1) + await admitted(b, "c", 1)
    for step in range(8):  # both knocking hard, syncing in turn: 2 s
        clock.now += 0.125
        await (a if step % 2 else b).sync()
        ok += await admitted(a, "c", 50) + await admitted(b, "c", 50)
    assert ok < 900
    store.down = True
    for step in range(8):  # 1 s without the store, knocking as hard
        clock.now += 0.125
        await (a if step % 2 else b).sync()
        ok += await admitted(a, "c", 2000) + await admitted(b, "c", 2000)
    assert ok <= 1000 + 2 * math.ceil(1000 * 1.25 / WINDOW_S)  # each at most the steady rate past the limit


async def test_an_instance_without_tenants_asks_nothing() -> None:
    clock, store = Clock(), MemoryCounters()
    limiter = Limiter(10, counters=store, clock=clock)
    await limiter.start()
    for _ in range(8):
        clock.now += 0.25
        await limiter.sync()
    await limiter.stop()
    assert store.calls == 0


def test_rate_limits_setting_is_checked_without_quoting_it() -> None:
    assert parse_limits(" a=5000, b-2=200 ,") == {"a": 5000, "b-2": 200}
    for bad in ("a", "a=x", "a=-1", "bad/name=3", "=3"):
        with pytest.raises(ValueError):
            parse_limits(bad)
    with pytest.raises(ValidationError) as error:
        Settings(rate_limits="secret-tenant/x=12", rate_limit_per_minute=-1)
    lines = problems(error.value)
    assert any(line.startswith("FHIRGRAPH_RATE_LIMITS: ") for line in lines)
    assert any(line.startswith("FHIRGRAPH_RATE_LIMIT_PER_MINUTE: ") for line in lines)
    assert "secret-tenant" not in " ".join(lines)


async def test_an_idle_tenant_keeps_a_burst_between_syncs() -> None:
    # A clinic quiet for a while (its grant shrank to the idle share) fires a page's dozen requests at once:
    # a twentieth of its limit is still admitted before the next sync, not one.
    clock, store = Clock(), MemoryCounters()
    limiter = Limiter(1000, counters=store, clock=clock)
    assert await admitted(limiter, "quiet", 1) == 1
    for _ in range(3):  # syncs with no traffic: the tenant is idle
        clock.now += 0.25
        await limiter.sync()
    assert await admitted(limiter, "quiet", 12) == 12
    assert await admitted(limiter, "quiet", 100) == 1000 // 20 - 12


class SlowCounters(MemoryCounters):
    """A store that takes a while to answer: requests keep arriving while a sync is under way."""

    async def sync(self, increments: Mapping[Slot, int], grants: Mapping[str, Grant], wanted: Iterable[Window],
                   *, instance: str, now: float) -> Synced:
        await asyncio.sleep(0.01)
        return await super().sync(increments, grants, wanted, instance=instance, now=now)


async def test_requests_arriving_while_a_new_tenant_is_learnt_wait_for_its_grant_instead_of_a_429() -> None:
    # A dashboard opening many subscriptions at once as a clinic's first traffic on this instance: the ones that
    # arrive between the sync that learns the counts and the one that declares the grant used to be refused.
    limiter = Limiter(1000, counters=SlowCounters(), interval_s=60)

    async def request(delay: float) -> bool:
        await asyncio.sleep(delay)
        try:
            if limiter.take("clinic-a") is None:
                await limiter.first("clinic-a")
        except TooManyRequests:
            return False
        return True

    results = await asyncio.gather(*(request(i * 0.002) for i in range(30)))
    assert all(results)
    assert limiter.take("clinic-a")  # and counted: the tenant is known, its grant declared
