"""GraphQL bench: the nested patients query at N = 10, 50, 100 — store calls, latency, µs per field value.

    python -m bench.graphql_bench [--patients 120] [--runs 30]

Loads the demo clinic into an embedded devdb (in-process), then for each N runs
``patients(first: N) { medicalSummary family episodes appointments }`` through the real schema:

- store calls: ``store.metrics.COUNTER.total`` around one execution (wire round trips, getMore included);
- p50/p99 latency of a whole execution, store included (fresh DataLoaders each run);
- µs per resolved field value with the data already loaded (same schema, DataLoaders warm, the top-level
  page memoized): the cost of the GraphQL layer itself, as CPU time of the executing thread (medians);
- the floor: plain graphql-core executing the same document over a schema built from the same SDL
  (introspection) whose resolvers are graphql-core's default dict resolvers over the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphql import build_client_schema, execute, introspection_from_schema, parse  # noqa: E402

from app.demo import load_demo  # noqa: E402
from app.logs import configure as configure_logs  # noqa: E402
from app.settings import Settings  # noqa: E402
from graph.context import Context  # noqa: E402
from graph.schema import build_schema  # noqa: E402
from store.client import open_store  # noqa: E402
from store.devdb import DevDB  # noqa: E402
from store.metrics import COUNTER, STORE_CALLS  # noqa: E402
from store.types import SystemPrincipal  # noqa: E402
from tests.graph.queries import NESTED  # noqa: E402

SIZES = (10, 50, 100)


def count_fields(value: Any) -> int:
    """Resolved field values in a response: every key of every object, recursively."""
    if isinstance(value, dict):
        return len(value) + sum(count_fields(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_fields(v) for v in value)
    return 0


class MemoRepo:
    """The repository with ``search`` memoized: the warm runs measure the GraphQL layer, not the store."""

    def __init__(self, repo: Any):
        self._repo = repo
        self._pages: dict[Any, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repo, name)

    async def search(self, principal: Any, rt: str, params: Any = None, **kw: Any) -> Any:
        key = (rt, repr(params), repr(sorted(kw.items())))
        if key not in self._pages:
            self._pages[key] = await self._repo.search(principal, rt, params, **kw)
        return self._pages[key]


def calls_by_label() -> dict[tuple[str, str], float]:
    return {(smp.labels["operation"], smp.labels["collection"]): smp.value
            for metric in STORE_CALLS.collect() for smp in metric.samples if smp.name.endswith("_total")}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


async def run(patients: int, runs: int, metrics: bool = True) -> None:
    devdb = DevDB()
    devdb.start_in_thread()
    settings = Settings(mongodb_uri=devdb.uri, db_name="bench", api_keys="", metrics=metrics)
    if metrics:  # logging as serve sets it up: JSON lines on stderr at INFO, or at FHIRGRAPH_LOG_LEVEL when set
        configure_logs(settings.log_level, settings.log_format)
    handle = await open_store(devdb.uri, "bench")
    principal = SystemPrincipal("bench", "bench")
    t0 = time.perf_counter()
    counts = await load_demo(handle.repo, principal, patients, seed=11, anchor=dt.date(2026, 11, 2))
    print(f"demo clinic: {counts['Patient']} patients, {sum(counts.values())} resources loaded in "
          f"{time.perf_counter() - t0:.1f}s (devdb, in-process)\n")
    schema = build_schema(settings)
    floor_schema = build_client_schema(introspection_from_schema(schema._schema))

    def context(repo: Any) -> Context:
        return Context(principal=principal, repo=repo, settings=settings)

    rows = []
    for n in SIZES:
        query = NESTED % n
        doc = parse(query)
        # cold: fresh loaders, real store
        calls, lat = [], []
        result = None
        for i in range(runs + 3):
            before = COUNTER.total
            t = time.perf_counter()
            result = await schema.execute(query, context_value=context(handle.repo))
            elapsed = time.perf_counter() - t
            if result.errors:
                raise SystemExit(f"errors at N={n}: {result.errors}")
            if i >= 3:
                calls.append(COUNTER.total - before)
                lat.append(elapsed)
        assert result is not None
        before_labels = calls_by_label()
        await schema.execute(query, context_value=context(handle.repo))
        after_labels = calls_by_label()
        breakdown = {k: int(v - before_labels.get(k, 0)) for k, v in after_labels.items()
                     if v - before_labels.get(k, 0)}
        fields = count_fields(result.data)
        # warm: same schema and data, no store round trip
        memo = MemoRepo(handle.repo)
        warm_ctx = context(memo)
        await schema.execute(query, context_value=warm_ctx)
        # CPU time of this thread: the machine may be shared, and neither side does I/O here
        warm, floor = [], []
        for _ in range(runs):
            gc.collect()
            before = COUNTER.total
            t = time.thread_time()
            r = await schema.execute(query, context_value=warm_ctx)
            warm.append(time.thread_time() - t)
            assert COUNTER.total == before and not r.errors
            # floor: graphql-core default resolvers over the same data
            gc.collect()
            t = time.thread_time()
            fr = execute(floor_schema, doc, root_value=result.data)
            floor.append(time.thread_time() - t)
            assert not getattr(fr, "errors", None)
        w, f = statistics.median(warm), statistics.median(floor)
        rows.append((n, min(calls), max(calls), pct(lat, 50), pct(lat, 99), fields, w / fields * 1e6,
                     f / fields * 1e6))
        print(f"N={n}: " + ", ".join(f"{op} {coll} {c}" for (op, coll), c in sorted(breakdown.items())))
    print()
    print(f"{'N':>4} {'store calls':>12} {'p50 ms':>8} {'p99 ms':>8} {'fields':>7} {'µs/field':>9} "
          f"{'floor µs':>9} {'ratio':>6}")
    for n, cmin, cmax, p50, p99, fields, us, floor_us in rows:
        calls_s = f"{cmin}" if cmin == cmax else f"{cmin}-{cmax}"
        print(f"{n:>4} {calls_s:>12} {p50 * 1e3:>8.1f} {p99 * 1e3:>8.1f} {fields:>7} {us:>9.2f} {floor_us:>9.2f} "
              f"{us / floor_us:>6.2f}")
    await handle.close()
    devdb.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--observability", choices=["on", "off"], default="on",
                    help="the GraphQL operation metrics extension and logging (JSON lines on stderr at INFO, "
                         "or at FHIRGRAPH_LOG_LEVEL) as shipped (on), or both left out (off)")
    args = ap.parse_args()
    print(f"observability: {args.observability}")
    asyncio.run(run(args.patients, args.runs, metrics=args.observability == "on"))


if __name__ == "__main__":
    main()
