"""Idle CPU of ``fhirgraph serve --demo 50`` with N webhooks registered and no traffic, per tree, alternating.

    python bench/idle_webhooks_bench.py [--trees A,B] [--webhooks 60] [--rounds 2] [--seconds 10]

Each webhook is a FHIR rest-hook Subscription to a closed loopback port (``FHIRGRAPH_WEBHOOK_ALLOW_PRIVATE``), so
its worker runs and nothing is delivered. After 5 s for the scan and the leases, the server's CPU time (user +
system, /proc) over ``--seconds``, as a share of one core; the server pinned to CPU 0 (taskset, when installed).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import own_cpu_seconds, serve_demo, stop  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def idle_share(tree: Path, webhooks: int, seconds: float) -> float:
    proc, base = serve_demo(tree, 50, subprocess.DEVNULL, env={"FHIRGRAPH_WEBHOOK_ALLOW_PRIVATE": "true"})
    try:
        for i in range(webhooks):
            channel = {"type": "rest-hook", "endpoint": f"http://127.0.0.1:9/h{i}", "payload": "application/json"}
            r = httpx.post(f"{base}/fhir/r4/Subscription", json={
                "resourceType": "Subscription", "status": "active", "reason": "idle bench",
                "criteria": "patient.created", "channel": channel})
            r.raise_for_status()
        time.sleep(5)
        before = own_cpu_seconds(proc.pid)
        time.sleep(seconds)
        return 100 * (own_cpu_seconds(proc.pid) - before) / seconds
    finally:
        stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", default=str(ROOT), help="comma-separated checkouts to compare")
    ap.add_argument("--webhooks", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    for r in range(args.rounds):
        for tree in trees if r % 2 == 0 else trees[::-1]:
            share = idle_share(tree, args.webhooks, args.seconds)
            print(f"{tree.name}: {args.webhooks} webhooks, idle: {share:.1f} % of a core", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
