"""What the PHI audit trail costs a served read, per process: ``serve --demo N`` read by id under wrk.

    python bench/audit_read_bench.py [--trees A,B] [--demo 1000] [--rounds 2] [--duration 8] [--connections 16]
                                     [--quiet 0]

For each tree (``--trees``, default: this one), alternating round by round: starts ``fhirgraph serve --demo N``
from that tree pinned to CPU 0 (taskset; its devdb is a thread of the server process), reads one Patient by id
with wrk -t1 on CPU 1, and prints req/s and CPU µs per read of the server process and of its audit writer child
(app/audit_writer.py), from /proc/PID/stat (utime + stime) over the timed run — the figures issue 16 asks about.
Then, ``--quiet`` seconds after the run, an auditor's first search of the trail (the read Patient's AuditEvents):
its wall time is what devdb's filing of the run's records in the AuditEvent indexes left to that search; the
server's CPU in those quiet seconds, per read of the run (``quiet µs``), is the filing devdb did meanwhile.
Take the bench lock: ``flock /tmp/fhirgraph-bench.lock python bench/audit_read_bench.py ...``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import children, own_cpu_seconds, serve_demo, stop, wait_idle, wrk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def one_run(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryFile() as log:
        proc, base = serve_demo(tree, args.demo, log)
        try:
            first = httpx.get(f"{base}/fhir/r4/Patient?_count=1", timeout=60).json()
            url = f"{base}/fhir/r4/Patient/{first['entry'][0]['resource']['id']}"
            httpx.get(url, timeout=60).raise_for_status()
            wrk(url, args.warmup, args.connections, cpu=1)
            writers = children(proc.pid)
            wait_idle(proc.pid, *writers)
            server0 = own_cpu_seconds(proc.pid)
            writer0 = sum(own_cpu_seconds(w) for w in writers)
            result = wrk(url, args.duration, args.connections, cpu=1)
            time.sleep(0.5)  # the trail's last interval: its batch reaches the writer
            server = own_cpu_seconds(proc.pid) - server0
            writer = sum(own_cpu_seconds(w) for w in writers if Path(f"/proc/{w}").exists()) - writer0
            time.sleep(args.quiet)
            quiet = own_cpu_seconds(proc.pid) - server0 - server
            started = time.perf_counter()
            trail = httpx.get(f"{base}/fhir/r4/AuditEvent",
                              params={"entity": url.split("/fhir/r4/")[1], "_count": 1}, timeout=600)
            search_ms = (time.perf_counter() - started) * 1e3
            trail.raise_for_status()
        finally:
            stop(proc)
    n = result["requests"]
    if result["errors"]:
        raise RuntimeError(f"{tree}: {result['errors']:.0f} non-2xx answers")
    return {"rps": result["rps"], "server": server / n * 1e6, "writer": writer / n * 1e6,
            "total": (server + writer) / n * 1e6, "quiet": quiet / n * 1e6, "search": search_ms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", default=str(ROOT), help="comma-separated source trees (default: this one)")
    ap.add_argument("--demo", type=int, default=1000, help="patients of the demo clinic (default: 1000)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=int, default=8, help="seconds of each timed wrk run (default: 8)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--quiet", type=float, default=0.0,
                    help="seconds between the run and the trail's first search (default: 0)")
    args = ap.parse_args()
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    runs: dict[Path, list[dict[str, float]]] = {t: [] for t in trees}
    for i in range(args.rounds):
        for tree in trees if i % 2 == 0 else trees[::-1]:
            runs[tree].append(one_run(tree, args))
            r = runs[tree][-1]
            print(f"  round {i + 1} {tree}: {r['rps']:,.0f} req/s, server {r['server']:.1f} µs, "
                  f"writer {r['writer']:.1f} µs per read; quiet {r['quiet']:.1f} µs, then the trail's first search "
                  f"{r['search']:,.0f} ms", flush=True)
    print(f"\nread by id, serve --demo {args.demo}, wrk -t1 -c{args.connections} {args.duration}s; medians of "
          f"{args.rounds}; the trail's first search {args.quiet:g} s after; load {os.getloadavg()[0]:.2f}")
    print(f"{'tree':40} {'req/s':>8} {'server µs':>10} {'writer µs':>10} {'total µs':>9} {'quiet µs':>9}"
          f" {'search ms':>10}")
    for tree, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"{str(tree):40} {med['rps']:8,.0f} {med['server']:10.1f} {med['writer']:10.1f} {med['total']:9.1f}"
              f" {med['quiet']:9.1f} {med['search']:10,.0f}")


if __name__ == "__main__":
    main()
