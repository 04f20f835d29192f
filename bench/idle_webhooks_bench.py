"""Idle CPU of ``fhirgraph serve --demo 50`` with N webhooks registered and no traffic, per tree, alternating.

    python bench/idle_webhooks_bench.py [--trees A,B] [--webhooks 60] [--rounds 2] [--seconds 10]

Each webhook is a FHIR rest-hook Subscription to a closed loopback port (``FHIRGRAPH_WEBHOOK_ALLOW_PRIVATE``), so
its worker runs and nothing is delivered. After 5 s for the scan and the leases, the server's CPU time (user +
system, /proc) over ``--seconds``, as a share of one core; the server pinned to CPU 0 (taskset, when installed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, pinned, wait_http  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_share(tree: Path, webhooks: int, seconds: float) -> float:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"} | {
        "PYTHONPATH": str(tree), "FHIRGRAPH_RATE_LIMIT_PER_MINUTE": "0", "FHIRGRAPH_WEBHOOK_ALLOW_PRIVATE": "true"}
    proc = subprocess.Popen(pinned([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--demo", "50"], 0),
                            cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", timeout=300)
        for i in range(webhooks):
            channel = {"type": "rest-hook", "endpoint": f"http://127.0.0.1:9/h{i}", "payload": "application/json"}
            r = httpx.post(f"{base}/fhir/r4/Subscription", json={
                "resourceType": "Subscription", "status": "active", "reason": "idle bench",
                "criteria": "patient.created", "channel": channel})
            r.raise_for_status()
        time.sleep(5)
        before = cpu_seconds(proc.pid)
        time.sleep(seconds)
        return 100 * (cpu_seconds(proc.pid) - before) / seconds
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
