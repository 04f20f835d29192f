"""Vendor API (qapi) beside FHIR REST: create a patient, create an appointment, get an appointment — each
through qapi and the same operation through FHIR REST, on one server; prints requests/s and the ratio.

    python bench/qapi_bench.py [--duration 10] [--connections 16] [--warmup 2] [--rounds 1]
                               [--only 'get appointment' ...]

Starts the embedded devdb (unless MONGODB_URI is set) and one `fhirgraph serve`, as separate processes; load
comes from an httpx loop in this process (a floor of what the server does, and it shares the machine's cores:
its own cost per request, the same for both doors, narrows the gap between them). Both doors are driven alike:
the same client, connections and Api-Key, and the get reads the same stored Appointment. The target: qapi at
least 80 % of FHIR REST's throughput for each operation. qapi does more per request than the bare FHIR
interaction (a create of an appointment finds the waiting room by name and its free slot; a get joins the
patient, their family group, the encounter and the practitioners), so the ratio is what that mapping costs.

Beside req/s each row shows what depends less on the machine's load: store commands per request (the driver's
count from /metrics, the app's background work — the audit trail's batches — included; concurrent requests
share coalesced reads, so it also falls with the load) and the CPU µs per request of devdb, of the app and of
this load generator: on a machine the three saturate, the ratio of throughputs tends to the inverse ratio of
their sums.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from common import cpu_seconds, free_port, wait_http, wait_idle, wait_port  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
KEY = "qapi-bench-key"
ROOM = "Bench waiting room"
CLINIC_ROOM = "Bench clinic room"
Request = Callable[[httpx.AsyncClient, int], Any]


def store_calls(base: str) -> dict[str, float]:
    """The app's store commands so far, by ``operation collection`` (its /metrics counter)."""
    text = httpx.get(f"{base}/metrics", headers={"Api-Key": KEY}, timeout=30).text
    out: dict[str, float] = {}
    for op, coll, value in re.findall(
            r'^fhirgraph_store_calls_total\{collection="([^"]*)",operation="([^"]*)"\} (\S+)$', text, re.M):
        out[f"{coll} {op}"] = float(value)
    return out


def measured(duration: float, connections: int, make: Request, base: str, pids: list[int]) -> dict[str, Any]:
    """One row's load, with the store commands and CPU it cost per request (after the processes went idle)."""
    wait_idle(*pids)
    calls, cpu = store_calls(base), [cpu_seconds(p) for p in pids]
    result: dict[str, Any] = asyncio.run(load(duration, connections, make, base))
    wait_idle(*pids)
    after = store_calls(base)
    n = max(result["requests"], 1.0)
    # The scrape itself is not a store command; the diff is the load's (and what it left for the background).
    result["calls"] = {k: (v - calls.get(k, 0.0)) / n for k, v in after.items() if v - calls.get(k, 0.0) > 0}
    result["cpu"] = [1e6 * (cpu_seconds(p) - c) / n for p, c in zip(pids, cpu, strict=True)]
    return result


def merged(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Turns of one door as one row: request-weighted means (p50: the median turn's)."""
    n = sum(c["requests"] for c in chunks) or 1.0
    keys = {k for c in chunks for k in c["calls"]}
    return {"rps": sum(c["rps"] for c in chunks) / len(chunks), "requests": n,
            "p50": sorted(c["p50"] for c in chunks)[len(chunks) // 2],
            "errors": sum(c["errors"] for c in chunks),
            "calls": {k: sum(c["calls"].get(k, 0.0) * c["requests"] for c in chunks) / n for k in keys},
            "cpu": [sum(c["cpu"][i] * c["requests"] for c in chunks) / n for i in range(len(chunks[0]["cpu"]))]}


async def load(duration: float, connections: int, make: Request, base: str) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration
    counter = itertools.count()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t = time.perf_counter()
            r = await make(client, next(counter))
            latencies.append((time.perf_counter() - t) * 1000)
            errors += r.status_code >= 400

    async with httpx.AsyncClient(base_url=base, headers={"Api-Key": KEY}, timeout=60,
                                 limits=httpx.Limits(max_connections=connections)) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    latencies.sort()
    return {"rps": len(latencies) / duration, "p50": latencies[len(latencies) // 2] if latencies else 0.0,
            "errors": float(errors), "requests": float(len(latencies))}


async def prepare(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, headers={"Api-Key": KEY}, timeout=60) as c:
        room = (await c.post("/fhir/r4/HealthcareService", json={"resourceType": "HealthcareService", "name": ROOM,
                                                                 "active": True})).json()
        pid = f"bench-{uuid.uuid4().hex[:8]}"
        assert (await c.post("/qapi/v1/patients", json={"id": pid, "name": [{"firstName": "A", "lastName": "B"}]})
                ).status_code == 201
        made = (await c.post(f"/qapi/v1/patients/{pid}/appointments", json={"waitingRoom": ROOM})).json()
        # A second appointment, booked into a practitioner's free slot of a room of its own (so that the create
        # row's room keeps no schedule): its get also reads the provider.
        async def post(res: dict[str, Any]) -> str:
            r = await c.post(f"/fhir/r4/{res['resourceType']}", json=res)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])
        clinic = await post({"resourceType": "HealthcareService", "name": CLINIC_ROOM, "active": True})
        doctor = await post({"resourceType": "Practitioner", "active": True, "name": [
            {"family": "Chen", "given": ["Wei"]}], "telecom": [{"system": "email", "value": "wei.chen@example.org"}]})
        schedule = await post({"resourceType": "Schedule", "active": True, "actor": [
            {"reference": f"HealthcareService/{clinic}"}, {"reference": f"Practitioner/{doctor}"}]})
        await post({"resourceType": "Slot", "schedule": {"reference": f"Schedule/{schedule}"}, "status": "free",
                    "start": "2031-01-01T09:00:00Z", "end": "2031-01-01T09:15:00Z"})
        booked = (await c.post(f"/qapi/v1/patients/{pid}/appointments", json={
            "waitingRoom": CLINIC_ROOM, "date": 1925024400, "duration": 900})).json()
        fhir = {}
        for said in (made["id"], booked["id"]):
            fhir[said] = (await c.get("/fhir/r4/Appointment", params={
                "identifier": f"https://fhirgraph.dev/fhir/sid/said|{said}"})).json()["entry"][0]["resource"]
        assert any(p["actor"]["reference"] == f"Practitioner/{doctor}" for p in fhir[booked["id"]]["participant"])
        return {"room": room["id"], "patient": pid, "said": made["id"], "appointment": fhir[made["id"]]["id"],
                "booked_said": booked["id"], "booked": fhir[booked["id"]]["id"]}


def operations(ctx: dict[str, Any]) -> list[tuple[str, Request, Request]]:
    run = uuid.uuid4().hex[:6]

    def appointment(i: int) -> dict[str, Any]:
        return {"resourceType": "Appointment", "status": "booked", "start": "2031-01-01T09:00:00Z",
                "end": "2031-01-01T09:15:00Z", "minutesDuration": 15, "participant": [
                    {"actor": {"reference": f"Patient/{ctx['patient']}"}, "status": "accepted"},
                    {"actor": {"reference": f"HealthcareService/{ctx['room']}"}, "status": "accepted"}]}

    return [
        ("create patient",
         lambda c, i: c.post("/qapi/v1/patients", json={
             "id": f"q{run}{uuid.uuid4().hex[:16]}", "name": [{"firstName": "Mike", "lastName": "Shinoda"}],
             "gender": "male", "birthDate": "1983-08-15"}),
         lambda c, i: c.post("/fhir/r4/Patient", json={"resourceType": "Patient", "name": [
             {"family": "Shinoda", "given": ["Mike"]}], "gender": "male", "birthDate": "1983-08-15"})),
        ("create appointment",
         lambda c, i: c.post(f"/qapi/v1/patients/{ctx['patient']}/appointments",
                             json={"waitingRoom": ROOM, "date": 1925000000, "duration": 900}),
         lambda c, i: c.post("/fhir/r4/Appointment", json=appointment(i))),
        ("get appointment",
         lambda c, i: c.get(f"/qapi/v1/appointments/{ctx['said']}"),
         lambda c, i: c.get(f"/fhir/r4/Appointment/{ctx['appointment']}")),
        ("get appointment+provider",
         lambda c, i: c.get(f"/qapi/v1/appointments/{ctx['booked_said']}"),
         lambda c, i: c.get(f"/fhir/r4/Appointment/{ctx['booked']}")),
    ]


def cpu_names(procs: list[subprocess.Popen[bytes]]) -> list[str]:
    return [*(["devdb"] if len(procs) == 2 else []), "app", "load"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--rounds", type=int, default=1,
                    help="split each door's duration into this many turns, taken in alternation")
    ap.add_argument("--only", action="append", default=[], metavar="OPERATION",
                    help="run only this operation (e.g. 'get appointment'); repeatable")
    args = ap.parse_args()
    env = {**os.environ, "FHIRGRAPH_API_KEYS": f"{KEY}=qapi-bench", "FHIRGRAPH_ALLOW_ANONYMOUS": "false",
           "FHIRGRAPH_LOG_LEVEL": "WARNING", "FHIRGRAPH_DB_NAME": f"fhirgraph_qapi_bench_{uuid.uuid4().hex[:6]}",
           "FHIRGRAPH_RATE_LIMIT_PER_MINUTE": "0"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        uri = os.environ.get("MONGODB_URI")
        if not uri:
            port = free_port()
            procs.append(subprocess.Popen([sys.executable, "-m", "app.cli", "devdb", "--port", str(port)],
                                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(port)
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        env["MONGODB_URI"] = uri
        app_port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(app_port)],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        base = f"http://127.0.0.1:{app_port}"
        wait_http(f"{base}/health")
        ctx = asyncio.run(prepare(base))
        pids = [*(p.pid for p in procs), os.getpid()]  # devdb (when started here), the app, this load generator
        print(f"httpx -c{args.connections}, {args.duration:g}s per row (in {args.rounds} turns per door) after "
              f"{args.warmup:g}s of warm-up; "
              f"{os.cpu_count()} cores; store calls and CPU µs per request, {' + '.join(cpu_names(procs))}\n")
        print(f"{'operation':<26}{'qapi req/s':>12}{'FHIR req/s':>12}{'ratio':>8}{'qapi p50':>10}{'FHIR p50':>10}"
              f"{'errors':>8}{'qapi calls':>12}{'FHIR calls':>12}{'qapi CPU µs':>20}{'FHIR CPU µs':>20}")
        for name, qapi, fhir in operations(ctx):
            if args.only and name not in args.only:
                continue
            chunks: list[list[dict[str, Any]]] = [[], []]
            for make in (qapi, fhir):
                asyncio.run(load(args.warmup, args.connections, make, base))
            for _ in range(args.rounds):  # the doors take turns: a change in the machine's load hits both
                for i, make in enumerate((qapi, fhir)):
                    chunks[i].append(measured(args.duration / args.rounds, args.connections, make, base, pids))
            q, f = merged(chunks[0]), merged(chunks[1])
            print(f"{name:<26}{q['rps']:>12.0f}{f['rps']:>12.0f}{q['rps'] / max(f['rps'], 1e-9):>8.0%}"
                  f"{q['p50']:>9.1f}ms{f['p50']:>8.1f}ms{q['errors'] + f['errors']:>8.0f}"
                  f"{sum(q['calls'].values()):>12.2f}{sum(f['calls'].values()):>12.2f}"
                  f"{' + '.join(f'{c:.0f}' for c in q['cpu']):>20}{' + '.join(f'{c:.0f}' for c in f['cpu']):>20}",
                  flush=True)
            for door, row in (("qapi", q), ("FHIR", f)):
                calls = ", ".join(f"{k} {v:.2f}" for k, v in sorted(row["calls"].items()) if v >= 0.005)
                print(f"    {door} calls/request: {calls}")
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
