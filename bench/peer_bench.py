"""Side by side with Medplum's in-memory FHIR router, one core each, in one run (issue 16).

    python bench/peer_bench.py [--patients 1000] [--duration 10] [--warmup 3] [--rounds 1] [--peer DIR]

Starts, each pinned to CPU 0 (taskset, when installed), the load generator on CPU 1:
- Medplum's fhir-router on its ``MemoryRepository`` (``--peer``, default ../shared/peer-medplum: N patients
  with 3 Observations, 2 Appointments and 1 AllergyIntolerance each), installed with ``npm ci`` into
  bench/out/peer-medplum on first use;
- the Python ceiling: the peer's bare Starlette+orjson app (ceiling.py) serving the bytes of Medplum's read;
- fhirgraph as README command 1 starts it (``fhirgraph serve --demo N``: the embedded store in the same
  process, audit trail and metrics on), with the per-clinic rate limit off so the load is not refused.

Then runs the same work against each, one server at a time (after each run it waits until the server's CPU
use stops): a FHIR read by id, the read's request path alone (fhirgraph answering an unknown type's 404 without a
store call, beside Medplum's and the ceiling's read: what the read goal leaves to the store) and a search page
of 50 (16 connections), GraphQL 50 patients with their observations (1 connection; fhirgraph: each patient's
``vitalSigns``, from all its Observations; Medplum: ``ObservationList(_reference: subject)``), and fhirgraph's
50-patient chart query (summary, family, episodes → appointments, appointments: tests/graph/queries.py's NESTED;
Medplum has no such API). Load: wrk -t1 when installed (apt-get install wrk), else an httpx loop (slower: a
floor). Prints medians over ``--rounds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import free_port, httpx_load, pinned, serve_demo, wait_http, wait_idle, wrk  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.graph.queries import NESTED  # noqa: E402

OUT = ROOT / "bench" / "out"
FG_OBSERVATIONS = ("{ patients(first: 50) { edges { node { id lastName "
                   "vitalSigns { edges { node { id dateTaken pulse } } } } } } }")
MP_OBSERVATIONS = ("{ PatientList(_count: 50) { id name { family } "
                   "ObservationList(_reference: subject) { id code { text } } } }")
POST_LUA = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[%s]==]\n'


@dataclass
class Server:
    name: str
    base: str
    proc: subprocess.Popen[bytes]


@dataclass
class Work:
    label: str
    connections: int
    targets: dict[str, tuple[str, str | None]]  # server name -> (path, GraphQL query to POST, or None: a GET)
    status: dict[str, int] | None = None  # server name -> the status its answers have, when not 200


def start_medplum(peer: Path, patients: int, log: Any) -> Server:
    here = OUT / "peer-medplum"
    here.mkdir(parents=True, exist_ok=True)
    for name in ("server.mjs", "ceiling.py", "package.json", "package-lock.json"):
        shutil.copyfile(peer / name, here / name)
    if not (here / "node_modules" / "@medplum" / "fhir-router").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=here, check=True, stdout=log, stderr=log)
    port = free_port()
    proc = subprocess.Popen(pinned(["node", "server.mjs", str(port), str(patients)], 0), cwd=here,
                            stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()  # "ready port=... patients=..." once its data is in
    if not line.startswith("ready"):
        raise RuntimeError(f"Medplum did not start: {line!r}")
    return Server("medplum", f"http://127.0.0.1:{port}", proc)


def start_ceiling(peer: Path, read_bytes: bytes, log: Any) -> Server:
    body = OUT / "peer-medplum" / "read.json"
    body.write_bytes(read_bytes)
    port = free_port()
    proc = subprocess.Popen(pinned([sys.executable, str(peer / "ceiling.py"), str(port), str(body)], 0),
                            stdout=log, stderr=log)
    wait_http(f"http://127.0.0.1:{port}/Patient/x")
    return Server("ceiling", f"http://127.0.0.1:{port}", proc)


def start_fhirgraph(patients: int, log: Any) -> Server:
    proc, base = serve_demo(ROOT, patients, log)
    return Server("fhirgraph", base, proc)


def check(server: Server, path: str, query: str | None, status: int = 200) -> bytes:
    """Answer the request once and check it is what the row claims to measure; returns the body."""
    url = server.base + path
    r = (httpx.post(url, json={"query": query}, timeout=300) if query else httpx.get(url, timeout=300))
    if status != 200:
        if r.status_code != status:
            raise RuntimeError(f"{server.name} {path}: {r.status_code}, not {status}")
        return r.content
    r.raise_for_status()
    data = r.json()
    if query is not None:
        if data.get("errors") or not data.get("data"):
            raise RuntimeError(f"{server.name} {path}: {str(data)[:300]}")
        rows = data["data"].get("patients", {}).get("edges") if "patients" in data["data"] else \
            data["data"].get("PatientList")
        if rows is not None and len(rows) != 50:
            raise RuntimeError(f"{server.name}: {len(rows)} patients, not 50")
    elif "_count=50" in path and len(data.get("entry", [])) != 50:
        raise RuntimeError(f"{server.name} {path}: {len(data.get('entry', []))} entries, not 50")
    return r.content


def load(server: Server, path: str, query: str | None, seconds: int, connections: int) -> dict[str, float]:
    url = server.base + path
    body = json.dumps({"query": query}).encode() if query else None
    if shutil.which("wrk"):
        script = None
        if body is not None:
            fd, script = tempfile.mkstemp(suffix=".lua")
            os.write(fd, (POST_LUA % body.decode()).encode())
            os.close(fd)
        try:
            return wrk(url, seconds, connections, script=script, cpu=1)
        finally:
            if script:
                os.unlink(script)
    headers = {"Content-Type": "application/json"}
    return asyncio.run(httpx_load(url, seconds, connections, body, headers))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--duration", type=int, default=10, help="seconds measured per server and row")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of the same load before each measured run")
    ap.add_argument("--rounds", type=int, default=1, help="measure each row this many times (medians shown)")
    ap.add_argument("--peer", type=Path, default=ROOT.parent / "shared" / "peer-medplum",
                    help="the peer-medplum folder (server.mjs, ceiling.py, package-lock.json)")
    args = ap.parse_args()
    if not (args.peer / "server.mjs").exists():
        args.peer = Path("/work/shared/peer-medplum")
    OUT.mkdir(parents=True, exist_ok=True)
    servers: dict[str, Server] = {}
    with (OUT / "peer_bench.log").open("ab") as log:
        try:
            t = time.perf_counter()
            servers["medplum"] = start_medplum(args.peer, args.patients, log)
            read = check(servers["medplum"], "/Patient/pat-00001", None)
            servers["ceiling"] = start_ceiling(args.peer, read, log)
            servers["fhirgraph"] = start_fhirgraph(args.patients, log)
            print(f"started in {time.perf_counter() - t:.0f}s (logs: {OUT / 'peer_bench.log'})", file=sys.stderr)
            first = httpx.get(servers["fhirgraph"].base + "/fhir/r4/Patient?_count=1", timeout=60).json()
            pid = first["entry"][0]["resource"]["id"]
            works = [
                Work("FHIR read by id (16 connections)", 16, {
                    "fhirgraph": (f"/fhir/r4/Patient/{pid}", None), "medplum": ("/Patient/pat-00001", None),
                    "ceiling": ("/Patient/pat-00001", None)}),
                # What the read goal leaves to the store: fhirgraph's whole request path (uvicorn, middleware,
                # authentication, audit trail, metrics, the read lane) answering without a store call.
                Work("the read's request path alone (fhirgraph: an unknown type's 404, no store call; "
                     "Medplum and the ceiling: their read)", 16, {
                    "fhirgraph": ("/fhir/r4/Unstored/x", None), "medplum": ("/Patient/pat-00001", None),
                    "ceiling": ("/Patient/pat-00001", None)}, status={"fhirgraph": 404}),
                Work("search page of 50 (16 connections)", 16, {
                    "fhirgraph": ("/fhir/r4/Patient?_count=50", None), "medplum": ("/Patient?_count=50", None)}),
                Work("GraphQL: 50 patients + their observations (1 connection)", 1, {
                    "fhirgraph": ("/graphql", FG_OBSERVATIONS), "medplum": ("/$graphql", MP_OBSERVATIONS)}),
                Work("GraphQL: 50-patient chart (1 connection)", 1, {"fhirgraph": ("/graphql", NESTED % 50)}),
            ]
            results = run(works, servers, args)
        finally:
            for server in servers.values():
                server.proc.terminate()
            for server in servers.values():
                try:
                    server.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.proc.kill()
    report(works, results, args)
    return 0


def run(works: list[Work], servers: dict[str, Server], args: argparse.Namespace) -> dict[tuple[str, str], Any]:
    for work in works:
        for name, (path, query) in work.targets.items():
            check(servers[name], path, query, (work.status or {}).get(name, 200))
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(args.rounds):
        for work in works:
            names = list(work.targets) if r % 2 == 0 else list(reversed(work.targets))
            for name in names:
                server, (path, query) = servers[name], work.targets[name]
                if args.warmup:
                    load(server, path, query, args.warmup, work.connections)
                    wait_idle(server.proc.pid)
                result = load(server, path, query, args.duration, work.connections)
                wait_idle(server.proc.pid)
                results.setdefault((work.label, name), []).append(result)
                print(f"  {work.label} · {name}: {result['rps']:.2f} req/s, p50 {result['p50']:.1f} ms",
                      file=sys.stderr)
    return {key: {k: statistics.median(run[k] for run in runs) for k in runs[0]} for key, runs in results.items()}


def report(works: list[Work], results: dict[tuple[str, str], Any], args: argparse.Namespace) -> None:
    load_name = "wrk -t1" if shutil.which("wrk") else "an httpx loop"
    pinning = "one core each (taskset: servers on CPU 0, load on CPU 1)" if shutil.which("taskset") else "unpinned"
    print(f"\n{args.patients:,} patients each; {pinning}; {load_name}, {args.duration}s per run after "
          f"{args.warmup}s of warm-up; median of {args.rounds} round(s); {os.cpu_count()} cores\n")
    print("| work | fhirgraph | Medplum in-memory | ratio |\n|---|---:|---:|---:|")
    for work in works:
        fg, mp = results.get((work.label, "fhirgraph")), results.get((work.label, "medplum"))
        ceiling = results.get((work.label, "ceiling"))
        ratio = f"{fg['rps'] / mp['rps']:.2f}" if fg and mp and mp["rps"] else "—"
        if ceiling and fg:
            ratio += f" ({fg['rps'] / ceiling['rps']:.2f} of the Python ceiling, {ceiling['rps']:,.0f} req/s)"
        print(f"| {work.label} | {cell(fg)} | {cell(mp)} | {ratio} |")
    expected = {(work.label, name) for work in works for name in (work.status or {})}
    errors = {f"{label} · {name}": int(r["errors"]) for (label, name), r in results.items()
              if r["errors"] and (label, name) not in expected}
    if errors:
        print(f"\nnon-2xx answers: {errors}")


def cell(result: dict[str, float] | None) -> str:
    if result is None:
        return "—"
    return f"{result['rps']:,.{0 if result['rps'] >= 100 else 2}f} req/s, p50 {result['p50']:,.0f} ms"


if __name__ == "__main__":
    raise SystemExit(main())
