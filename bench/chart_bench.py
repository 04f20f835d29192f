"""The GraphQL rows of issue 16 with the engine as its own process: CPU per request of the app and of devdb.

    python bench/chart_bench.py [--patients 1000] [--trees .,../other-checkout] [--blocks 6] [--requests 8]

The demo clinic of ``--patients`` is loaded once into ``bench/out/chart-<N>`` (``fhirgraph serve --demo N
--data-dir``; kept for the next run). Then, for each tree (a checkout of this repository; default: this one), a
``fhirgraph devdb`` on a copy of that data dir and a ``fhirgraph serve`` on it (``MONGODB_URI``), so each tree
runs its own engine code on the same data. Two queries, one request at a time: the 50-patient chart
(tests/graph/queries.py NESTED at 50) and 50 patients with their observations (bench/peer_bench.py's). Blocks of
``--requests`` requests alternate between the trees; per block, the CPU time each process used (/proc) divided by
the requests: robust to a shared machine's load, unlike the latencies also printed (medians over the blocks).

``--embedded``: each tree runs as README command 1 and peer_bench run it instead — one ``fhirgraph serve
--data-dir`` on its copy, the embedded devdb a thread of the same process, pinned to CPU 0 (taskset, when
installed) with this script on CPU 1; the app column is then the whole process's CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from common import cpu_seconds, free_port, pinned, stop, wait_http, wait_port  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.graph.queries import NESTED  # noqa: E402

OUT = ROOT / "bench" / "out"
OBSERVATIONS = ("{ patients(first: 50) { edges { node { id lastName "
                "vitalSigns { edges { node { id dateTaken pulse } } } } } } }")
QUERIES = {"chart": NESTED % 50, "observations": OBSERVATIONS}


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    return base | {"FHIRGRAPH_RATE_LIMIT_PER_MINUTE": "0"} | extra


def load_clinic(tree: Path, patients: int, data: Path, log: Any) -> None:
    """The demo clinic in ``data``, loaded by ``serve --demo`` (which listens once it is in) and saved at its exit."""
    marker = data.with_name(data.name + ".loaded")
    if marker.exists() and data.exists():
        return
    shutil.rmtree(data, ignore_errors=True)
    port = free_port()
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--demo", str(patients),
                             "--data-dir", str(data)], cwd=tree, env=env(), stdout=log, stderr=log)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=3600)
    finally:
        stop(proc)
    marker.write_text(f"{patients}\n")
    print(f"demo clinic of {patients:,} patients loaded in {time.perf_counter() - t:.0f}s", file=sys.stderr)


def start_embedded(tree: Path, data: Path, log: Any) -> tuple[str, subprocess.Popen[bytes], None]:
    port = free_port()
    app = subprocess.Popen(pinned([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--data-dir",
                                   str(data)], 0), cwd=tree, env=env(), stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health", timeout=600)
    return base, app, None


def start(tree: Path, data: Path, log: Any) -> tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    db_port, port = free_port(), free_port()
    devdb = subprocess.Popen([sys.executable, "-m", "app.cli", "devdb", "--port", str(db_port), "--data-dir",
                              str(data)], cwd=tree, env=env(), stdout=log, stderr=log)
    wait_port(db_port, timeout=600)
    app = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=tree,
                           env=env(MONGODB_URI=f"mongodb://127.0.0.1:{db_port}/?directConnection=true"),
                           stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health", timeout=120)
    return base, app, devdb


def warm(client: httpx.Client, base: str) -> None:
    """Until both queries answer without errors (devdb builds its indexes on their first use)."""
    deadline = time.monotonic() + 600
    for query in QUERIES.values():
        ok = 0
        while ok < 3:
            body = client.post(base + "/graphql", json={"query": query}).json()
            if body.get("errors"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{base}: {str(body)[:300]}")
                time.sleep(2)
                continue
            rows = body["data"]["patients"]["edges"]
            if len(rows) != 50:
                raise RuntimeError(f"{base}: {len(rows)} patients, not 50")
            ok += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--trees", default=".", help="comma-separated checkouts to compare (default: this one)")
    ap.add_argument("--blocks", type=int, default=6, help="alternating blocks per query and tree")
    ap.add_argument("--requests", type=int, default=8, help="sequential requests per block")
    ap.add_argument("--embedded", action="store_true", help="one serve process per tree, devdb in a thread of it")
    ap.add_argument("--queries", default=",".join(QUERIES), help="comma-separated, of: " + ", ".join(QUERIES))
    args = ap.parse_args()
    trees = [(ROOT / t).resolve() for t in args.trees.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    data = OUT / f"chart-{args.patients}"
    client = httpx.Client(timeout=300)
    running: list[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes] | None]] = []
    copies = [OUT / f"chart-{args.patients}-tree{i}" for i in range(len(trees))]
    with (OUT / "chart_bench.log").open("ab") as log:
        try:
            load_clinic(trees[0], args.patients, data, log)
            for tree, copy in zip(trees, copies, strict=True):
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(data, copy)
                running.append(start_embedded(tree, copy, log) if args.embedded else start(tree, copy, log))
            if args.embedded and shutil.which("taskset"):
                os.sched_setaffinity(0, {1})
            for base, _, _ in running:
                warm(client, base)
            mode = "embedded, one process per tree" if args.embedded else "devdb its own process"
            print(f"{args.patients:,} patients ({mode}); {args.blocks} blocks of {args.requests} sequential requests "
                  f"per query and tree, alternating; load average {os.getloadavg()[0]:.1f} at the start\n")
            print("| query | tree | app CPU ms/req | devdb CPU ms/req | p50 ms | req/s (one at a time) |\n"
                  "|---|---|---:|---:|---:|---:|")
            for name in args.queries.split(","):
                query = QUERIES[name]
                cpu: dict[int, tuple[list[float], list[float], list[float]]] = {i: ([], [], []) for i in
                                                                                range(len(trees))}
                for b in range(args.blocks):
                    order = list(range(len(trees))) if b % 2 == 0 else list(reversed(range(len(trees))))
                    for i in order:
                        base, app, devdb = running[i]
                        app_cpu, db_cpu, lat = cpu[i]
                        a0, d0 = cpu_seconds(app.pid), cpu_seconds(devdb.pid) if devdb else 0.0
                        for _ in range(args.requests):
                            t = time.perf_counter()
                            client.post(base + "/graphql", json={"query": query}).raise_for_status()
                            lat.append((time.perf_counter() - t) * 1000)
                        time.sleep(0.2)  # the app's after-response work (audit batches) lands in its block
                        app_cpu.append((cpu_seconds(app.pid) - a0) * 1000 / args.requests)
                        db_cpu.append(((cpu_seconds(devdb.pid) if devdb else 0.0) - d0) * 1000 / args.requests)
                for i, tree in enumerate(trees):
                    app_cpu, db_cpu, lat = cpu[i]
                    print(f"| {name} | {tree.name} | {statistics.median(app_cpu):.0f} | "
                          f"{statistics.median(db_cpu):.0f} | {statistics.median(lat):.0f} | "
                          f"{len(lat) / (sum(lat) / 1000):.2f} |")
        finally:
            stop(*(p for _, app, devdb in running for p in (app, devdb) if p is not None))
            for copy in copies:
                shutil.rmtree(copy, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
