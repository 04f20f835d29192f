"""Loading the demo clinic into a store, batch by batch, as it is generated.

A batch the store could not take (``Unavailable`` or ``TimedOut``: a timeout, a lost connection — the embedded
store busy on a loaded laptop) is tried again after a pause, a few times, before the load fails with one line. A
repeat is safe: each batch is stamped once, and the store's ``bulk_load`` given the same stamp writes the same
documents and takes those the failed try already stored as written (store/writes.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from app.demo.clinic import clinic_phases
from store.clock import now_instant
from store.errors import TimedOut, Unavailable
from store.fhirjson import Resource, ident
from store.writes import SEQUENCED as SEQUENCES  # the qapi's SPID, SAID: the demo writes its own

log = logging.getLogger("fhirgraph.demo")

RETRY_PAUSES_S = (1.0, 2.0, 4.0, 8.0)  # after each failed try of a batch: five tries over 15 s


async def load_demo(
    store: Any,
    principal: Any,
    patients: int,
    *,
    seed: int = 7,
    anchor: dt.date | None = None,
    batch_size: int = 1000,
    progress: Callable[[str, int, int], Any] | None = None,
    retry_pauses_s: Sequence[float] = RETRY_PAUSES_S,
) -> dict[str, int]:
    """Stream the demo clinic into ``store.bulk_load(principal, batch)`` in batches; return counts per type.

    ``progress(phase, done, total)`` is called when each phase starts and after each of its batches (it may be a
    coroutine function): ``practice`` and ``free slots`` count resources, ``patients`` patients. A batch the
    store is unavailable for is tried again after each of ``retry_pauses_s`` (module docstring).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    counts: Counter[str] = Counter()
    highest: dict[str, int] = {}

    async def report(phase: str, done: int, total: int) -> None:
        if progress is not None:
            result = progress(phase, done, total)
            if inspect.isawaitable(result):
                await result

    for phase in clinic_phases(patients, seed=seed, anchor=anchor):
        done = 0
        batch: list[Resource] = []
        await report(phase.name, 0, phase.total)
        for res, units in phase.resources:
            counts[res["resourceType"]] += 1
            done += units
            seq = SEQUENCES.get(res["resourceType"])
            if seq is not None:
                number = ident(res, seq[1])
                if number and number.isdigit():
                    highest[seq[0]] = max(highest.get(seq[0], 0), int(number))
            batch.append(res)
            if len(batch) >= batch_size:
                await _load(store, principal, batch, retry_pauses_s)  # a fresh list per call: the store may keep it
                batch = []
                await report(phase.name, done, phase.total)
        if batch:
            await _load(store, principal, batch, retry_pauses_s)
            await report(phase.name, done, phase.total)
    # The store's counters move past the demo's numbers, so that ids assigned later never repeat one.
    for name, last in highest.items():
        await _tried(functools.partial(store.raise_seq, principal.tenant, name, last), "the demo's counters",
                     retry_pauses_s)
    return dict(counts)


async def _load(store: Any, principal: Any, batch: list[Resource], pauses: Sequence[float]) -> None:
    stamp = now_instant()  # one for every try: a repeat writes the same documents
    await _tried(functools.partial(store.bulk_load, principal, batch, stamp=stamp), "a batch of demo data", pauses)


async def _tried(call: Callable[[], Awaitable[Any]], what: str, pauses: Sequence[float]) -> None:
    """``call()`` (an idempotent write), tried again after each of ``pauses`` while the store is unavailable."""
    for tried, pause in enumerate([*pauses, None], 1):
        try:
            await call()
            return
        except (Unavailable, TimedOut):
            if pause is None:
                break
            log.warning("demo data: the store did not take %s (try %d of %d); trying again in %.0fs", what, tried,
                        len(pauses) + 1, pause)
            await asyncio.sleep(pause)
    raise Unavailable(f"The database did not take {what} in {len(pauses) + 1} tries over {sum(pauses):.0f}s; "
                      "retry later") from None
