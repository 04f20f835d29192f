"""The audit trail's flusher (auth/audit.py ``AuditTrail``) against a sink that records what it is handed: full
batches under a steady stream, a partial batch at the interval, backpressure, retries — and every record stored
exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from auth.audit import AuditTrail
from auth.balp import Access
from auth.principal import Principal
from store.errors import Unavailable

PRINCIPAL = Principal("clinic", "reader")


class Sink:
    """Keeps each batch's record ids; the first ``failures`` appends raise ``Unavailable``."""

    def __init__(self, failures: int = 0):
        self.batches: list[list[str]] = []
        self.failures = failures

    def prepare(self, access: Access, observer: str) -> str:
        assert access.rid is not None
        return access.rid

    async def append(self, tenant: str, items: list[Any]) -> int:
        await asyncio.sleep(0)  # the round trip: requests run meanwhile
        if self.failures:
            self.failures -= 1
            raise Unavailable("store away")
        self.batches.append(list(items))
        return len(items)

    async def close(self) -> None:
        return None

    def stored(self) -> list[str]:
        return [rid for batch in self.batches for rid in batch]


def read(trail: AuditTrail, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        trail.record(PRINCIPAL, "read", 200, rt="Patient", rid=f"p{i}")


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):  # up to ~10 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the trail did not get there")


async def test_a_busy_trail_writes_full_batches_not_one_per_round_trip() -> None:
    trail = AuditTrail(batch_size=50, interval_s=3600)
    sink = Sink()
    await trail.start(sink)
    for turn in range(23):  # 10 reads a turn of the event loop, while batches are out
        read(trail, 10, 10 * turn)
        await asyncio.sleep(0)
    await until(lambda: trail.pending < 50)
    assert [len(b) for b in sink.batches] == [50, 50, 50, 50]  # the 30 left wait for the interval
    assert trail.pending == 30
    await trail.stop()
    assert sorted(sink.stored()) == sorted(f"p{i}" for i in range(230))  # each stored once, none lost


async def test_a_partial_batch_is_written_when_the_interval_is_up() -> None:
    trail = AuditTrail(batch_size=500, interval_s=0.05)
    sink = Sink()
    await trail.start(sink)
    read(trail, 3)
    await until(lambda: bool(sink.batches))
    assert sink.batches == [["p0", "p1", "p2"]]
    await trail.stop()


async def test_a_full_queue_is_written_before_the_interval_even_below_a_batch() -> None:
    trail = AuditTrail(batch_size=500, interval_s=3600, max_pending=5, wait_s=5)
    sink = Sink()
    await trail.start(sink)
    read(trail, 5)
    await trail.admit()  # returns once the flusher made room, rather than refusing after wait_s
    assert sink.stored() == [f"p{i}" for i in range(5)]
    await trail.stop()


async def test_a_batch_that_failed_is_retried_and_stored_once() -> None:
    trail = AuditTrail(batch_size=4, interval_s=3600, retry_base_s=0.01)
    sink = Sink(failures=2)
    await trail.start(sink)
    read(trail, 6)
    await until(lambda: bool(sink.batches))
    assert sink.batches == [["p0", "p1", "p2", "p3"]]
    await trail.stop()
    assert sink.stored() == [f"p{i}" for i in range(6)]
