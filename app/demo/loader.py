"""Loading the demo clinic into a store, batch by batch, as it is generated."""

from __future__ import annotations

import datetime as dt
import inspect
from collections import Counter
from collections.abc import Callable
from typing import Any

from app.demo.clinic import clinic_phases
from store.fhirjson import Resource, ident
from store.writes import SEQUENCED as SEQUENCES  # the qapi's SPID, SAID: the demo writes its own


async def load_demo(
    store: Any,
    principal: Any,
    patients: int,
    *,
    seed: int = 7,
    anchor: dt.date | None = None,
    batch_size: int = 1000,
    progress: Callable[[str, int, int], Any] | None = None,
) -> dict[str, int]:
    """Stream the demo clinic into ``store.bulk_load(principal, batch)`` in batches; return counts per type.

    ``progress(phase, done, total)`` is called when each phase starts and after each of its batches (it may be a
    coroutine function): ``practice`` and ``free slots`` count resources, ``patients`` patients.
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
                await store.bulk_load(principal, batch)  # a fresh list per call: the store may keep it
                batch = []
                await report(phase.name, done, phase.total)
        if batch:
            await store.bulk_load(principal, batch)
            await report(phase.name, done, phase.total)
    # The store's counters move past the demo's numbers, so that ids assigned later never repeat one.
    for name, last in highest.items():
        await store.raise_seq(principal.tenant, name, last)
    return dict(counts)
