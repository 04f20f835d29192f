"""`fhirgraph demo-data` end to end into a `fhirgraph devdb` of its own: wall time, and the CPU of each process.

    python bench/demo_load_bench.py [--patients 1000] [--trees BEFORE,AFTER] [--rounds 1] [--profile DIR]

For each tree (default: this checkout) and round: a fresh `fhirgraph devdb` (in memory) on a free port, then
`fhirgraph demo-data --patients N` into it. Prints the load's wall time, resources and resources/s, the CPU
seconds of the loader (with its worker processes; "of it, main": the loader process alone) and of devdb
(/proc/<pid>/stat) with their CPU-µs per resource — robust to a shared machine's load, unlike the wall time —
and devdb's resident memory (VmRSS) once the load is in.
``--profile DIR`` records both processes with py-spy (DIR/<tree>-loader.txt, DIR/<tree>-devdb.txt, collapsed
stacks, from the load's second second on) when py-spy is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import cpu_seconds, free_port, stop, wait_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "50",
                             "--nonblocking", "--subprocesses", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(tree: Path, patients: int, profile: Path | None) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree), "FHIRGRAPH_LOG_LEVEL": "WARNING"}
    devdb = subprocess.Popen([sys.executable, "-m", "app.cli", "devdb", "--port", str(port)], cwd=tree, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spies: list[subprocess.Popen[bytes]] = []
    try:
        wait_port(port)
        devdb_before = cpu_seconds(devdb.pid)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        env["MONGODB_URI"] = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        started = time.monotonic()
        loader = subprocess.Popen([sys.executable, "-m", "app.cli", "demo-data", "--patients", str(patients)],
                                  cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if profile is not None and shutil.which("py-spy"):
            profile.mkdir(parents=True, exist_ok=True)
            time.sleep(1.0)  # py-spy cannot read the interpreter's version from a process still starting
            spies = [spy(loader.pid, profile / f"{tree.name}-loader.txt"),
                     spy(devdb.pid, profile / f"{tree.name}-devdb.txt")]
        own = 0.0  # the loader's own CPU, apart from its workers': its last reading before it exits
        while loader.poll() is None:
            with contextlib.suppress(OSError, IndexError, ValueError):
                own = cpu_seconds(loader.pid)
            time.sleep(0.2)
        out = loader.stdout.read() if loader.stdout else b""
        wall = time.monotonic() - started
        if loader.returncode != 0:
            raise RuntimeError(f"demo-data failed ({loader.returncode})")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = re.search(r"^total\s+([\d,]+)", out.decode(), re.M)
        return {"wall": wall, "resources": float(total.group(1).replace(",", "")) if total else 0.0,
                "loader_cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), "own_cpu": own,
                "devdb_cpu": cpu_seconds(devdb.pid) - devdb_before, "rss": rss_mib(devdb.pid)}
    finally:
        for s in spies:
            s.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT (the loader's ends on its own)
            s.wait(timeout=60)
        stop(devdb, timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--trees", default="", help="two (or more) checkouts, comma-separated, run alternately")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--profile", type=Path, help="py-spy raw profiles of both processes into this directory")
    args = ap.parse_args()
    trees = [Path(t).resolve() for t in args.trees.split(",")] if args.trees else [ROOT]
    print(f"{args.patients:,} patients; load average {os.getloadavg()[0]:.2f}")
    print(f"{'tree':16} {'wall s':>8} {'resources':>10} {'res/s':>7} {'loader CPU s':>13} {'µs/res':>7} "
          f"{'of it, main':>12} {'devdb CPU s':>12} {'µs/res':>7} {'devdb RSS MiB':>14}")
    for _ in range(args.rounds):
        for tree in trees:
            r = run(tree, args.patients, args.profile)
            n = r["resources"] or 1.0
            print(f"{tree.name:16} {r['wall']:8.1f} {r['resources']:10,.0f} {r['resources'] / r['wall']:7,.0f} "
                  f"{r['loader_cpu']:13.1f} {r['loader_cpu'] / n * 1e6:7,.0f} {r['own_cpu']:12.1f} "
                  f"{r['devdb_cpu']:12.1f} "
                  f"{r['devdb_cpu'] / n * 1e6:7,.0f} {r['rss']:14,.0f}", flush=True)


if __name__ == "__main__":
    main()
