"""The outbox reader and the one ordered reader over it: out-of-order visibility, gaps awaited then skipped,
events offered by a hook before the outbox shows them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from store.client import StoreHandle
from store.outbox import OrderedEvents, Outbox
from store.types import SystemPrincipal
from tests.factories import make_patient


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def event(tenant: str, seq: int, *, occurred: str = "2026-11-21T10:00:00.000Z", **extra: Any) -> dict[str, Any]:
    return {"_id": str(uuid.uuid4()), "tenant": tenant, "seq": seq, "type": "patient.created", "action": "create",
            "resourceType": "Patient", "resourceId": f"p{seq}", "versionId": "1", "patient": f"Patient/p{seq}",
            "occurredAt": occurred, **extra}


@pytest.fixture
def tenant(principal: SystemPrincipal) -> str:
    return principal.tenant


async def insert(store: StoreHandle, tenant: str, *seqs: int) -> None:
    await store.repo.db.events.insert_many([event(tenant, s) for s in seqs])


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["seq"]) for e in events]


def reader(store: StoreHandle, tenant: str, head: int = 0, grace: float = 1.0) -> tuple[OrderedEvents, Clock]:
    clock = Clock()
    return OrderedEvents(store.repo.outbox, tenant, head, gap_grace=grace, clock=clock), clock


async def test_queries(store: StoreHandle, tenant: str) -> None:
    outbox: Outbox = store.repo.outbox
    assert await outbox.last_seq(tenant) == 0 and await outbox.newest(tenant, 5) == []
    await insert(store, tenant, *range(1, 8))
    await insert(store, f"{tenant}-other", 1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert seqs(await outbox.after(tenant, 2, limit=3)) == [3, 4, 5]
    assert seqs([e async for e in outbox.between(tenant, 2, 6, page=2)]) == [3, 4, 5, 6]
    assert seqs(await outbox.newest(tenant, 3)) == [5, 6, 7]
    assert await outbox.last_seq(tenant) == 7
    assert await outbox.first_seq(tenant, "Patient", "p4") == 4
    assert await outbox.first_seq(tenant, "Patient", "nobody") is None


async def test_first_seq_of_a_resource_is_its_first_write(store: StoreHandle, principal: SystemPrincipal) -> None:
    first = await store.repo.create(principal, make_patient())
    await store.repo.create(principal, make_patient())
    p = first.resource
    await store.repo.update(principal, "Patient", p["id"], {**p, "gender": "male"})
    assert await store.repo.outbox.first_seq(principal.tenant, "Patient", p["id"]) == first.event_seq == 1
    assert await store.repo.outbox.last_seq(principal.tenant) == 3


async def test_out_of_order_visibility_is_put_in_order(store: StoreHandle, tenant: str) -> None:
    ordered, _ = reader(store, tenant)
    await insert(store, tenant, 1, 3)
    await ordered.pull()
    assert seqs(ordered.take()) == [1]
    assert ordered.waiting and ordered.head == 1  # 3 is held back while 2 may still appear
    await insert(store, tenant, 2)
    await ordered.pull()
    assert seqs(ordered.take()) == [2, 3]
    assert not ordered.waiting and ordered.head == 3
    await ordered.pull()
    assert ordered.take() == []  # nothing twice


async def test_a_gap_is_awaited_for_the_grace_then_skipped(store: StoreHandle, tenant: str) -> None:
    ordered, clock = reader(store, tenant, grace=1.0)
    await insert(store, tenant, 1, 3, 4, 6)
    await ordered.pull()
    assert seqs(ordered.take()) == [1]  # the grace of 2 starts now
    clock.now += 0.9
    await ordered.pull()
    assert ordered.take() == [] and ordered.waiting
    clock.now += 0.1
    await ordered.pull()
    assert seqs(ordered.take()) == [3, 4]  # 2 skipped; 5 is a new gap, with a grace of its own
    clock.now += 0.5
    assert ordered.take() == []
    clock.now += 1.0
    assert seqs(ordered.take()) == [6]
    await insert(store, tenant, 2, 5)  # too late: the reader never goes back
    await ordered.pull()
    assert ordered.take() == [] and ordered.head == 6


async def test_progress_restarts_the_grace(store: StoreHandle, tenant: str) -> None:
    ordered, clock = reader(store, tenant, grace=1.0)
    await insert(store, tenant, 2)
    await ordered.pull()
    assert ordered.take() == []  # 1 missing since 100.0
    clock.now += 0.8
    await insert(store, tenant, 1, 4)
    await ordered.pull()
    assert seqs(ordered.take()) == [1, 2]  # 3 is missing now: its grace starts now, not at 100.0
    clock.now += 0.8
    assert ordered.take() == []
    clock.now += 0.2
    assert seqs(ordered.take()) == [4]


async def test_events_offered_before_they_are_visible(store: StoreHandle, tenant: str) -> None:
    ordered, clock = reader(store, tenant)
    e1, e2, e3 = (event(tenant, s) for s in (1, 2, 3))
    assert ordered.offer(e2)  # a local write's hook: 2 committed, 1 not visible yet
    assert ordered.ready() == [] and ordered.waiting
    assert ordered.offer(e1)
    assert seqs(ordered.ready()) == [1, 2]  # no round trip needed
    assert not ordered.offer(e1) and not ordered.offer(e2)  # behind the head: already handed out
    await store.repo.db.events.insert_many([e1, e2, e3])
    await ordered.pull()
    assert seqs(ordered.take()) == [3]


async def test_ready_judges_no_gap(store: StoreHandle, tenant: str) -> None:
    """Only ``take`` (after a pull) skips: a sequence the outbox would show is never skipped unread."""
    ordered, clock = reader(store, tenant, grace=1.0)
    ordered.offer(event(tenant, 2))
    clock.now += 5.0
    assert ordered.ready() == []
    await insert(store, tenant, 1)
    await ordered.pull()
    assert seqs(ordered.take()) == [1, 2]


async def test_reading_from_now_starts_at_the_head(store: StoreHandle, tenant: str) -> None:
    await insert(store, tenant, 1, 2, 4)  # 3 missing long ago: a dead writer's
    ordered = await store.repo.outbox.ordered_from_now(tenant, gap_grace=0.5)
    assert ordered.head == 4 and not ordered.waiting
    assert (await store.repo.outbox.ordered_from_now(f"{tenant}-new", gap_grace=0.5)).head == 0


async def test_reading_from_now_keeps_a_fresh_gap(store: StoreHandle, tenant: str) -> None:
    """Sequence 3 is allocated but not inserted yet when reading starts: it is awaited, not lost."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    await store.repo.db.events.insert_many([event(tenant, s, occurred=now) for s in (1, 2, 4)])
    ordered = await store.repo.outbox.ordered_from_now(tenant, gap_grace=0.5)
    assert ordered.head == 2 and ordered.waiting
    await store.repo.db.events.insert_one(event(tenant, 3, occurred=now))
    await ordered.pull()
    assert seqs(ordered.take()) == [3, 4]
