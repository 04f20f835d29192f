"""Keyed leases with a cursor: one owner at a time, conditional renewals and cursor moves, expiry."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from store.client import StoreHandle
from store.leases import Leases


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def leases(store: StoreHandle, clock: Clock) -> Leases:
    return Leases(store.repo.db, f"leases_{uuid.uuid4().hex[:8]}", clock=clock)


async def test_acquire_renew_release(leases: Leases) -> None:
    assert await leases.acquire("k", "a", 10.0) is None  # no state yet
    await leases.ensure("k", 5, tenant="t", webhook="w")
    state = await leases.acquire("k", "a", 10.0)
    assert state is not None and state["cursor"] == 5 and state["owner"] == "a"
    assert state["tenant"] == "t" and state["webhook"] == "w"
    assert await leases.renew("k", "a", 10.0, cursor=9)
    assert (await leases.get("k") or {})["cursor"] == 9
    assert await leases.renew("k", "a", 10.0)  # no cursor: the cursor stays
    assert (await leases.get("k") or {})["cursor"] == 9
    await leases.release("k", "a")
    got = await leases.get("k")
    assert got is not None and got["owner"] is None and got["cursor"] == 9
    assert not await leases.renew("k", "a", 10.0)  # released: no longer ours
    assert (await leases.acquire("k", "b", 10.0) or {}).get("owner") == "b"  # free at once


async def test_a_second_owner_is_refused(leases: Leases, clock: Clock) -> None:
    await leases.ensure("k", 0)
    assert await leases.acquire("k", "a", 10.0) is not None
    assert await leases.acquire("k", "b", 10.0) is None
    assert not await leases.renew("k", "b", 10.0, cursor=3)
    await leases.release("k", "b")  # not b's to release
    assert (await leases.get("k") or {})["owner"] == "a"
    assert (await leases.get("k") or {})["cursor"] == 0
    assert await leases.acquire("k", "a", 10.0) is not None  # the owner may take it again


async def test_an_expired_lease_is_retaken_and_its_old_owner_stops(leases: Leases, clock: Clock) -> None:
    await leases.ensure("k", 0)
    assert await leases.acquire("k", "a", 10.0) is not None
    assert await leases.renew("k", "a", 10.0, cursor=4)
    clock.now += 9.0
    assert await leases.acquire("k", "b", 10.0) is None  # renewed at 1000: valid until 1010
    clock.now += 2.0
    state = await leases.acquire("k", "b", 10.0)
    assert state is not None and state["owner"] == "b" and state["cursor"] == 4  # resumes from the cursor
    assert not await leases.renew("k", "a", 10.0, cursor=7)  # a learns it lost the lease
    assert (await leases.get("k") or {})["cursor"] == 4


async def test_concurrent_creators_agree(leases: Leases) -> None:
    await asyncio.gather(*(leases.ensure("k", n) for n in (3, 3, 3, 3)))
    await leases.ensure("k", 99)  # exists: unchanged
    assert (await leases.get("k") or {})["cursor"] == 3


async def test_one_of_many_racing_owners_wins(leases: Leases) -> None:
    await leases.ensure("k", 0)
    got = await asyncio.gather(*(leases.acquire("k", f"o{i}", 10.0) for i in range(8)))
    assert len([g for g in got if g is not None]) == 1
