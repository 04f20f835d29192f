"""The relay on its own, over the real driver and store: sequence gaps, wake-ups, resume, slow subscribers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from store.repository import Repository
from subscriptions import relay as relay_mod
from subscriptions.relay import InvalidCursor, LiveEvent, Relay, decode_cursor, encode_cursor


@pytest.fixture
async def relay(mongo_uri: str) -> AsyncIterator[Relay]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    db = client[f"relay_{uuid.uuid4().hex[:8]}"]
    r = Relay(Repository(db), poll_interval=0.05, gap_grace=0.3)
    r.start()
    yield r
    await r.stop()
    await client.drop_database(db.name)
    await client.close()


def _event(tenant: str, seq: int) -> dict[str, Any]:
    return {"_id": str(uuid.uuid4()), "tenant": tenant, "seq": seq, "type": "patient.created", "action": "create",
            "resourceType": "Patient", "resourceId": f"p{seq}", "versionId": "1", "patient": f"Patient/p{seq}",
            "occurredAt": "2026-11-21T10:00:00.000Z"}


async def _write(relay: Relay, tenant: str, seqs: range) -> None:
    """Events ``seqs`` of ``tenant`` inserted, then offered as a local write offers them."""
    events = [_event(tenant, s) for s in seqs]
    await relay.repo.db.events.insert_many(events)
    for e in events:
        relay.notify(e)


class Collector:
    def __init__(self, relay: Relay, tenant: str, after: int | None = None, match: Any = None):
        self.seqs: list[int] = []
        self.task = asyncio.create_task(self._run(relay, tenant, after, match or (lambda e: True)))

    async def _run(self, relay: Relay, tenant: str, after: int | None, match: Any) -> None:
        async for event in relay.stream(tenant, match, after):
            self.seqs.append(event.seq)

    async def until(self, n: int, within: float = 3.0) -> list[int]:
        for _ in range(int(within / 0.01)):
            if len(self.seqs) >= n:
                break
            await asyncio.sleep(0.01)
        return self.seqs

    async def close(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def test_gap_is_awaited_then_filled_in_order(relay: Relay) -> None:
    tenant = f"t{uuid.uuid4().hex[:6]}"
    sub = Collector(relay, tenant)
    await asyncio.sleep(0.05)
    e1, e2, e3 = (_event(tenant, s) for s in (1, 2, 3))
    await relay.repo.db.events.insert_many([e1, e3])
    relay.notify(e3)  # a local write's wake-up arrives before the earlier sequence is visible
    assert await sub.until(1) == [1]
    await asyncio.sleep(0.1)
    assert sub.seqs == [1]  # 3 is held back while 2 may still appear
    await relay.repo.db.events.insert_one(e2)
    assert await sub.until(3) == [1, 2, 3]
    await sub.close()


async def test_gap_is_skipped_after_the_grace(relay: Relay) -> None:
    tenant = f"t{uuid.uuid4().hex[:6]}"
    sub = Collector(relay, tenant)
    await asyncio.sleep(0.05)
    await relay.repo.db.events.insert_many([_event(tenant, 1), _event(tenant, 3)])
    assert await sub.until(2) == [1, 3]  # 2 never came: skipped after gap_grace
    await sub.close()


async def test_local_wake_up_needs_no_poll(relay: Relay) -> None:
    relay.poll_interval = 60.0
    await asyncio.sleep(0.1)
    tenant = f"t{uuid.uuid4().hex[:6]}"
    sub = Collector(relay, tenant)
    await asyncio.sleep(0.05)
    e1 = _event(tenant, 1)
    await relay.repo.db.events.insert_one(e1)
    relay.notify(e1)
    assert await sub.until(1, within=0.5) == [1]
    await sub.close()


async def test_resume_replays_exactly_after_the_cursor(relay: Relay) -> None:
    tenant = f"t{uuid.uuid4().hex[:6]}"
    await relay.repo.db.events.insert_many([_event(tenant, s) for s in range(1, 8)])
    sub = Collector(relay, tenant, after=3)
    assert await sub.until(4) == [4, 5, 6, 7]
    await relay.repo.db.events.insert_one(_event(tenant, 8))
    assert await sub.until(5) == [4, 5, 6, 7, 8]
    await asyncio.sleep(0.1)
    assert sub.seqs == [4, 5, 6, 7, 8]
    await sub.close()


async def test_slow_subscriber_overflow_rereads_the_outbox(relay: Relay, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_mod, "QUEUE_LIMIT", 3)
    tenant = f"t{uuid.uuid4().hex[:6]}"
    got: list[int] = []
    gate = asyncio.Event()

    async def slow() -> None:
        async for event in relay.stream(tenant, lambda e: True, None):
            got.append(event.seq)
            await gate.wait()

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.05)
    events = [_event(tenant, s) for s in range(1, 21)]
    await relay.repo.db.events.insert_many(events)
    for e in events:
        relay.notify(e)
    await asyncio.sleep(0.2)
    gate.set()
    for _ in range(300):
        if len(got) >= 20:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert got == list(range(1, 21))


def test_cursor_is_opaque_and_tenant_bound() -> None:
    cursor = encode_cursor("tenant-a", 42)
    assert "tenant-a" not in cursor and decode_cursor(cursor, "tenant-a") == 42
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, "tenant-b")
    with pytest.raises(InvalidCursor):
        decode_cursor("not a cursor!", "tenant-a")


async def test_live_event_reads_its_resource_once(relay: Relay) -> None:
    calls = 0

    class Repo:
        async def vread(self, principal: Any, rt: str, rid: str, vid: str) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)
            return {"resourceType": rt, "id": rid}

    event = LiveEvent(_event("t", 1), Repo())  # type: ignore[arg-type]
    results = await asyncio.gather(*(event.resource() for _ in range(50)))
    assert calls == 1 and all(r == {"resourceType": "Patient", "id": "p1"} for r in results)


async def test_a_fresh_gap_at_start_is_not_lost_on_resume(relay: Relay) -> None:
    """Sequence 3 is allocated but not yet inserted when the first subscriber of the tenant arrives."""
    tenant = f"t{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    e1, e2, e3, e4 = ({**_event(tenant, s), "occurredAt": now} for s in (1, 2, 3, 4))
    await relay.repo.db.events.insert_many([e1, e2, e4])
    sub = Collector(relay, tenant, after=1)
    assert await sub.until(1) == [2]
    await asyncio.sleep(0.1)
    assert sub.seqs == [2]
    await relay.repo.db.events.insert_one(e3)
    assert await sub.until(3) == [2, 3, 4]
    await sub.close()


async def test_direct_takes_events_only_while_the_stream_is_idle_and_never_twice(
        relay: Relay, monkeypatch: pytest.MonkeyPatch) -> None:
    """``direct`` is offered live events while the consumer waits; what it refuses, and everything after it until
    the consumer is idle again, comes through the stream in order — also across an overflow's re-read."""
    monkeypatch.setattr(relay_mod, "QUEUE_LIMIT", 3)
    tenant = f"t{uuid.uuid4().hex[:6]}"
    direct_seqs: list[int] = []
    streamed: list[int] = []
    refuse = {3}
    gate = asyncio.Event()
    gate.set()

    def direct(event: LiveEvent) -> bool:
        if event.seq in refuse:
            return False
        direct_seqs.append(event.seq)
        return True

    async def consume() -> None:
        async for event in relay.stream(tenant, lambda e: True, None, direct):
            streamed.append(event.seq)
            await gate.wait()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)

    await _write(relay, tenant, range(1, 3))  # idle: both go direct
    for _ in range(100):
        if len(direct_seqs) == 2:
            break
        await asyncio.sleep(0.01)
    assert direct_seqs == [1, 2] and streamed == []
    gate.clear()
    await _write(relay, tenant, range(3, 5))  # 3 refused: the stream takes it, 4 queues behind it (the stream is busy)
    await asyncio.sleep(0.1)
    assert streamed == [3] and direct_seqs == [1, 2]
    await _write(relay, tenant, range(5, 12))  # the busy stream's queue overflows: it re-reads the outbox after 3
    await asyncio.sleep(0.1)
    gate.set()
    for _ in range(300):
        if sorted(direct_seqs + streamed) == list(range(1, 12)):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert streamed == list(range(3, 12))  # in order, after the refused one; nothing direct-delivered again
    assert direct_seqs == [1, 2]
    await _write(relay, tenant, range(12, 14))  # idle again: direct once more
    for _ in range(100):
        if len(direct_seqs) == 4:
            break
        await asyncio.sleep(0.01)
    assert direct_seqs == [1, 2, 12, 13] and streamed == list(range(3, 12))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_failing_direct_leaves_the_event_to_the_stream(relay: Relay) -> None:
    tenant = f"t{uuid.uuid4().hex[:6]}"
    streamed: list[int] = []

    def direct(event: LiveEvent) -> bool:
        raise RuntimeError("render failed")

    async def consume() -> None:
        async for event in relay.stream(tenant, lambda e: True, None, direct):
            streamed.append(event.seq)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    e1 = _event(tenant, 1)
    await relay.repo.db.events.insert_one(e1)
    relay.notify(e1)
    for _ in range(100):
        if streamed:
            break
        await asyncio.sleep(0.01)
    assert streamed == [1]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_streams_with_one_key_are_checked_once_per_event_and_leave_on_their_own(relay: Relay) -> None:
    """Streams that give the same ``key`` share one ``match`` and one ``gate`` call per event; each still gets
    every event (direct or streamed, by its own state); a stream that ends leaves the others their group, and
    a stream with another key is checked on its own."""
    tenant = f"t{uuid.uuid4().hex[:6]}"
    checks = {"match": 0, "gate": 0, "other": 0}
    direct_seqs: list[list[int]] = [[], []]
    streamed: list[list[int]] = [[], [], []]

    def match(e: LiveEvent) -> bool:
        checks["match"] += 1
        return e.seq % 2 == 1  # odd sequences only

    def gate(e: LiveEvent) -> bool:
        checks["gate"] += 1
        return e.seq != 3  # 3 may not go direct: the streams deliver it

    def other(e: LiveEvent) -> bool:
        checks["other"] += 1
        return True

    def direct_of(i: int) -> Any:
        def direct(e: LiveEvent) -> bool:
            direct_seqs[i].append(e.seq)
            return True
        return direct

    async def consume(i: int, m: Any, key: Any, direct: Any) -> None:
        async for event in relay.stream(tenant, m, None, direct, gate=gate if key else None, key=key):
            streamed[i].append(event.seq)

    tasks = [asyncio.create_task(consume(0, match, "odd", direct_of(0))),
             asyncio.create_task(consume(1, match, "odd", direct_of(1))),
             asyncio.create_task(consume(2, other, None, None))]
    await asyncio.sleep(0.05)

    async def until(done: Any) -> None:
        for _ in range(300):
            if done():
                return
            await asyncio.sleep(0.01)

    await _write(relay, tenant, range(1, 5))
    await until(lambda: len(streamed[2]) == 4 and all(len(direct_seqs[i]) + len(streamed[i]) == 2 for i in (0, 1)))
    assert direct_seqs == [[1], [1]] and streamed[:2] == [[3], [3]] and streamed[2] == [1, 2, 3, 4]
    assert checks == {"match": 4, "gate": 2, "other": 4}  # once per event for the group, not per stream
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    await _write(relay, tenant, range(5, 6))
    await until(lambda: direct_seqs[1] == [1, 5])
    assert direct_seqs == [[1], [1, 5]] and checks["match"] == 5
    for task in tasks[1:]:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.2)
    assert tenant not in relay.tenants  # its groups left with their streams


async def test_a_local_write_fans_out_without_the_relay_loop(mongo_uri: str) -> None:
    """The hook's own callback hands a contiguous local event out (the loop task only polls and mends gaps),
    and the relay times the wake-up and the fan-out, and counts the fan-out's CPU time."""
    from store.metrics import RELAY_FANOUT, RELAY_FANOUT_CPU, RELAY_WAKE

    def count(histogram: Any) -> float:
        return next(s.value for m in histogram.collect() for s in m.samples if s.name.endswith("_count"))

    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    db = client[f"relay_{uuid.uuid4().hex[:8]}"]
    relay = Relay(Repository(db), poll_interval=60.0, gap_grace=0.3)  # not started: no loop task
    try:
        tenant = f"t{uuid.uuid4().hex[:6]}"
        sub = Collector(relay, tenant)
        await asyncio.sleep(0.05)
        woken, fanned, cpu = count(RELAY_WAKE), count(RELAY_FANOUT), RELAY_FANOUT_CPU._value.get()
        await _write(relay, tenant, range(1, 3))
        assert await sub.until(2, within=0.5) == [1, 2]
        assert count(RELAY_WAKE) == woken + 2
        assert count(RELAY_FANOUT) == fanned + 2
        assert RELAY_FANOUT_CPU._value.get() > cpu
        await sub.close()
    finally:
        await client.drop_database(db.name)
        await client.close()
