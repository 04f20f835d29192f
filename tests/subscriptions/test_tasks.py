"""Background tasks stop for sure, even when one swallows a cancellation (asyncio.wait_for on 3.11)."""

from __future__ import annotations

import asyncio

from subscriptions.tasks import cancel_and_wait


async def test_a_task_that_swallows_one_cancel_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed == 0:
                    swallowed += 1
                    continue  # what a lost cancellation looks like to the loop
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task], retry_s=0.05), 5)
    assert task.cancelled() and swallowed == 1


async def test_finished_tasks_are_left_alone() -> None:
    async def done() -> int:
        return 1

    task = asyncio.create_task(done())
    await task
    await cancel_and_wait([task])
    assert task.result() == 1
