"""Loading the demo clinic into a store, batch by batch, as it is generated."""

from __future__ import annotations

import datetime as dt
import inspect
from collections import Counter
from collections.abc import Callable
from typing import Any

from app.demo.clinic import generate_clinic
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
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, int]:
    """Stream the demo clinic into ``store.bulk_load(principal, batch)`` in batches; return counts per type.

    ``progress(patients_done, patients)`` is called after each batch (it may be a coroutine function).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    counts: Counter[str] = Counter()
    batch: list[Resource] = []
    highest: dict[str, int] = {}

    async def flush(full: list[Resource]) -> None:
        await store.bulk_load(principal, full)  # a fresh list per call: the store may keep it
        if progress is not None:
            result = progress(counts["Patient"], patients)
            if inspect.isawaitable(result):
                await result

    for res in generate_clinic(patients, seed=seed, anchor=anchor):
        counts[res["resourceType"]] += 1
        seq = SEQUENCES.get(res["resourceType"])
        if seq is not None:
            number = ident(res, seq[1])
            if number and number.isdigit():
                highest[seq[0]] = max(highest.get(seq[0], 0), int(number))
        batch.append(res)
        if len(batch) >= batch_size:
            await flush(batch)
            batch = []
    if batch:
        await flush(batch)
    # The store's counters move past the demo's numbers, so that ids assigned later never repeat one.
    for name, last in highest.items():
        await store.raise_seq(principal.tenant, name, last)
    return dict(counts)
