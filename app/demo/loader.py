"""Loading the demo clinic into a store, batch by batch, as it is generated.

For a large clinic the store's CPU-heavy half of a bulk load — validating, keying and encoding each batch
(``store.bulk.prepare``) — runs in worker processes, for the next batches while this one is written
(``Repository.write_bulk``), so that a load uses every core. The documents are the same as
``bulk_load`` would write, batch by batch, in the same order.

A batch the store could not take (``Unavailable`` or ``TimedOut``: a timeout, a lost connection — the embedded
store busy on a loaded laptop) is tried again after a pause, a few times, before the load fails with one line. A
repeat is safe: each batch is stamped once, and the store's ``bulk_load`` given the same stamp writes the same
documents and takes those the failed try already stored as written (store/writes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import inspect
import logging
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from app.demo.clinic import clinic_phases
from store import bulk
from store.clock import now_instant
from store.errors import DomainError, TimedOut, Unavailable
from store.fhirjson import Resource, ident
from store.writes import SEQUENCED as SEQUENCES  # the qapi's SPID, SAID: the demo writes its own

log = logging.getLogger("fhirgraph.demo")

RETRY_PAUSES_S = (1.0, 2.0, 4.0, 8.0)  # after each failed try of a batch: five tries over 15 s
# From this many patients on, batches are prepared in worker processes (their start, about a second, pays off),
# as many as there are cores, up to two: with this process and the store, two keep a 2-core machine busy.
WORKER_FROM_PATIENTS = 500
WORKERS = max(1, min(2, os.cpu_count() or 1))


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
    worker: bool | None = None,
) -> dict[str, int]:
    """Stream the demo clinic into ``store.bulk_load(principal, batch)`` in batches; return counts per type.

    ``progress(phase, done, total)`` is called when each phase starts and after each of its batches (it may be a
    coroutine function): ``practice`` and ``free slots`` count resources, ``patients`` patients. A batch the
    store is unavailable for is tried again after each of ``retry_pauses_s`` (module docstring). ``worker``:
    prepare the batches in worker processes and store them with ``store.write_bulk`` (default: from
    ``WORKER_FROM_PATIENTS`` patients on, for a store that has ``write_bulk``).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    counts: Counter[str] = Counter()
    highest: dict[str, int] = {}
    if worker is None:
        worker = patients >= WORKER_FROM_PATIENTS and hasattr(store, "write_bulk")

    async def report(phase: str, done: int, total: int) -> None:
        if progress is not None:
            result = progress(phase, done, total)
            if inspect.isawaitable(result):
                await result

    with _preparer(worker) as pool:
        ahead = WORKERS if pool is not None else 0  # batches being prepared while the one before is written
        for phase in clinic_phases(patients, seed=seed, anchor=anchor):
            done = 0
            batch: list[Resource] = []
            pending: deque[_Batch] = deque()
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
                    pending.append(_Batch.of(pool, principal, batch, done))  # a fresh list each: it may be kept
                    batch = []
                    while len(pending) > ahead:
                        written = pending.popleft()
                        await written.load(store, principal, retry_pauses_s)
                        await report(phase.name, written.done, phase.total)
            if batch:
                pending.append(_Batch.of(pool, principal, batch, done))
            while pending:
                written = pending.popleft()
                await written.load(store, principal, retry_pauses_s)
                await report(phase.name, written.done, phase.total)
    # The store's counters move past the demo's numbers, so that ids assigned later never repeat one.
    for name, last in highest.items():
        await _tried(functools.partial(store.raise_seq, principal.tenant, name, last), "the demo's counters",
                     retry_pauses_s)
    return dict(counts)


class _Batch:
    """One batch on its way into the store: its resources, its stamp (one for every try: a repeat writes the same
    documents), what the phase had done with it, and its documents being prepared in the worker (or None)."""

    def __init__(self, batch: list[Resource], stamp: str, done: int, prepared: asyncio.Future[Any] | None):
        self.batch, self.stamp, self.done, self.prepared = batch, stamp, done, prepared

    @classmethod
    def of(cls, pool: Executor | None, principal: Any, batch: list[Resource], done: int) -> _Batch:
        stamp = now_instant()
        prepared = None if pool is None else asyncio.get_running_loop().run_in_executor(
            pool, _prepared, principal, batch, stamp)
        return cls(batch, stamp, done, prepared)

    async def load(self, store: Any, principal: Any, pauses: Sequence[float]) -> None:
        if self.prepared is None:
            call = functools.partial(store.bulk_load, principal, self.batch, stamp=self.stamp)
        else:
            prepared = await self.prepared
            if prepared is None:  # a resource the gate refuses: its error, raised here as bulk_load raises it
                prepared = bulk.prepare(principal, self.batch, self.stamp)
            call = functools.partial(store.write_bulk, principal, prepared)
        await _tried(call, "a batch of demo data", pauses)


def _prepared(principal: Any, batch: list[Resource], stamp: str) -> bulk.Bulk | None:
    """``store.bulk.prepare`` in the worker; None for a batch it refuses (a store error need not pickle)."""
    try:
        return bulk.prepare(principal, batch, stamp, as_bson=True)
    except DomainError:
        return None


@contextlib.contextmanager
def _preparer(wanted: bool) -> Iterator[Executor | None]:
    """The worker processes batches are prepared in (None: not ``wanted``). Spawned, not forked: the caller may
    be a server with threads (``serve --demo``, its embedded store)."""
    if not wanted:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
