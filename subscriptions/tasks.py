"""Stopping background tasks for sure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object]], *, retry_s: float = 0.5) -> None:
    """Cancel ``tasks`` and wait until every one has ended.

    A single cancel is not enough on Python 3.11: ``asyncio.wait_for`` can swallow a cancellation that races
    the completion of what it waits for (fixed in 3.12), and the loop around it then runs on — so a task still
    running after ``retry_s`` is cancelled again."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=retry_s)
