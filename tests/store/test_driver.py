"""store/driver.py's deadlines for streamed work: ``paced`` gives each step after the first a deadline of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from store.driver import current_deadline, deadline, paced


async def _steps(seen: list[float | None], n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0.02)
        seen.append(current_deadline())
        yield i


async def test_paced_steps_outlive_the_requests_deadline() -> None:
    seen: list[float | None] = []
    with deadline(0.01):  # the request's: long over by the time the later steps run
        outer = current_deadline()
        got = [i async for i in paced(_steps(seen, 3), 30.0)]
    assert got == [0, 1, 2]
    assert outer is not None and seen[0] == outer  # the first step: still the request's deadline
    later = [d for d in seen[1:] if d is not None]
    assert len(later) == 2 and all(d > time.monotonic() + 29 for d in later)  # each its own, 30 s


async def test_paced_without_an_outer_deadline_still_bounds_later_steps() -> None:
    seen: list[float | None] = []
    assert [i async for i in paced(_steps(seen, 2), 5.0)] == [0, 1]
    assert seen[0] is None and seen[1] is not None
