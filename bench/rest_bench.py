"""FHIR REST benchmark: read by id, a search page of 50, a create, an update and a delete, beside the ceiling.

    python bench/rest_bench.py [--sizes 100,10000,100000] [--duration 10] [--connections 32] [--warmup 2]
                               [--ops read,bearer,search,create,update,delete,graphql,stack] [--observability off,on]
                               [--audit off,on,inline] [--trees BEFORE,AFTER] [--rounds 3] [--pin] [--server-log FILE]

For each store size it starts (as separate processes, so the load generator does not share their CPU time
slices with the same event loop): the embedded devdb (unless MONGODB_URI is set), one `fhirgraph serve`,
and a bare Starlette+orjson app that answers the same bytes as the read (the ceiling: what the HTTP stack
alone costs). Load comes from `wrk` when installed (apt-get install wrk), else from an httpx loop (slower,
so its numbers are a floor of what the server does). Prints requests/s and p50/p99 per operation, and the CPU
time (user + system, /proc/<pid>/stat) the app and devdb spent per request — on a shared machine req/s moves by
±20 % from one run to the next, CPU per request far less. Several variants (``--observability off,on``,
``--audit off,on``, ``--trees`` of two checkouts) are served side by side against one devdb and measured in
alternation, ``--rounds`` times; the medians and each variant's ratio to the first are printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import orjson
from common import (  # bench/ is the script's folder
    children,
    cpu_seconds,
    free_port,
    own_cpu_seconds,
    wait_http,
    wait_idle,
    wait_port,
    wrk,
)
from common import httpx_load as common_httpx_load

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TENANT_KEY = "bench-key"
TENANT = "bench"
# Creates, updates and deletes go to a tenant of their own, so they never change what the read and search rows see.
WRITER_KEY = "bench-writer-key"
WRITER = "bench-writes"
HEADERS = {"X-API-Key": TENANT_KEY, "Content-Type": "application/fhir+json"}


def patient(i: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": f"bench-{i:07d}", "active": True, "gender": "female" if i % 2 else "male",
            "name": [{"use": "official", "family": f"Family{i % 997}", "given": [f"Given{i}"]}],
            "birthDate": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 9}",
            "telecom": [{"system": "phone", "value": f"555-{i:07d}"}],
            "identifier": [{"system": "https://fhirgraph.dev/fhir/sid/mrn", "value": f"MRN{i}"}]}


async def load(uri: str, db: str, n: int) -> None:
    from auth.principal import Principal
    from store.client import open_store

    handle = await open_store(uri, db)
    principal = Principal(TENANT, "bench")
    have = await handle.repo.count(principal, "Patient")
    batch: list[dict[str, Any]] = []
    for i in range(have, n):
        batch.append(patient(i))
        if len(batch) == 2000:
            await handle.repo.bulk_load(principal, batch)
            batch = []
    if batch:
        await handle.repo.bulk_load(principal, batch)
    await handle.close()


async def prepare(uri: str, db: str, ids: list[str]) -> None:
    """Patients with these ids in the writer tenant, for the update and delete rows to change (before the load)."""
    from auth.principal import Principal
    from store.client import open_store

    handle = await open_store(uri, db)
    principal = Principal(WRITER, "bench")
    for start in range(0, len(ids), 2000):
        await handle.repo.bulk_load(principal, [{**patient(i), "id": rid}
                                                for i, rid in enumerate(ids[start:start + 2000], start)])
    await handle.close()


CEILING_APP = textwrap.dedent("""
    import sys, orjson
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    import uvicorn
    body = open(sys.argv[2], "rb").read()
    async def read(request):
        return Response(body, media_type="application/fhir+json; charset=utf-8")
    app = Starlette(routes=[Route("/{path:path}", read, methods=["GET", "POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False)
""")

# Reads pick a random stored id per request: repeating one id would let concurrent identical reads share one
# store round trip and flatter the number. Each wrk thread seeds its own generator (the same seed would make
# the threads ask for the same ids at the same moments).
# Each wrk thread gets a number of its own, ``t``, from 1.
THREAD_LUA = """
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("t", counter)
end
"""
READ_LUA = THREAD_LUA + """
function init(args)
  math.randomseed(os.time() * 1000 + t)
end
request = function()
  local path = string.format("%s/Patient/bench-%%07d", math.random(0, %d - 1))
  return wrk.format("GET", path, {["%s"] = "%s"})
end
"""

# Updates and deletes: each wrk thread takes ids of its own, ``<prefix>-<thread>-<n>``, n counting up from 0 per
# request: an update cycles through ``UPDATE_POOL`` ids per thread (a PUT of an id another request still changes
# would be refused: 412 changed concurrently), a delete takes each id once (``write_row`` prepares enough of them).
WRITE_LUA = THREAD_LUA + """
local n = -1
request = function()
  n = n + 1
  local id = string.format("%s-%%d-%%07d", t, %s)
  local headers = {["Content-Type"] = "%s", ["X-API-Key"] = "%s"}
  return wrk.format("%s", "/fhir/r4/Patient/" .. id, headers, %s)
end
"""

POST_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "%s"
wrk.headers["X-API-Key"] = "%s"
wrk.body = [[%s]]
"""


def graphql_body(rid: str, size: int) -> bytes:
    """A named operation (its metrics are labelled by name) whose variables carry patient data, as an app's
    would: the logs must show the operation's name and never these values."""
    body = orjson.dumps({"query": "query BenchPatient($id: ID!, $q: String!) { patient(id: $id) { id firstName "
                                  "lastName dateOfBirth } searchPatients(query: $q) { id } }",
                         "variables": {"id": rid, "q": patient(size // 2)["name"][0]["family"]}})
    return body


# --pin: the servers (the app with its audit writer child, which inherits the affinity, and the ceiling) on one
# core, devdb and wrk on the other — the store and the load generator are not on the app's core. ``--pin apart``:
# the same, but each app's audit writer process moved to the other core once it has started — the app's event
# loop alone on its core, as on a host with a core for the app's process and another for its helper process
# (the writer is a process of its own so that it can run beside the loop). Unpinned, all of them share both cores.
APP_CORE, LOAD_CORE = 0, 1


def pinned(cmd: list[str], core: int | None) -> list[str]:
    return ["taskset", "-c", str(core), *cmd] if core is not None else cmd


def run_wrk(url: str, duration: int, connections: int, script: str | None = None,
            auth: tuple[str, str] = ("X-API-Key", TENANT_KEY), cpu: int | None = None) -> dict[str, float]:
    return wrk(url, duration, connections, threads=threads(connections), script=script, headers={auth[0]: auth[1]},
               cpu=cpu)


def threads(connections: int) -> int:
    """wrk's threads: two, but never more than connections (wrk refuses that)."""
    return min(2, connections)


async def httpx_load(url: str, duration: int, connections: int, body: bytes | None,
                     auth: tuple[str, str] = ("X-API-Key", TENANT_KEY),
                     content_type: str = HEADERS["Content-Type"]) -> dict[str, float]:
    headers = {"Content-Type": content_type, auth[0]: auth[1]}
    return await common_httpx_load(url, duration, connections, body, headers)


async def register_client(uri: str, db: str) -> tuple[str, str]:
    """A backend-services client of the bench's tenant (what `fhirgraph clients add` does)."""
    from pymongo import AsyncMongoClient

    from auth.registry import add_client
    from store.identity import IdentityStore

    mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    try:
        shown = await add_client(IdentityStore(mongo[db]), name="bench", tenant="bench", redirect_uris=[],
                                 grant="client_credentials", scopes=["system/*.rs"])
    finally:
        await mongo.close()
    return shown["client_id"], shown["client_secret"]


def access_token(origin: str, client: tuple[str, str]) -> str:
    answer = httpx.post(f"{origin}/auth/token", data={"grant_type": "client_credentials"}, auth=client)
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def lua(text: str) -> str:
    fd, path = tempfile.mkstemp(suffix=".lua")
    os.write(fd, text.encode())
    os.close(fd)
    return path


def settle(health_url: str, timeout: float = 60.0) -> None:
    """Wait until the app and its store have drained what the previous row left queued (wrk stops sending,
    but requests already accepted still run): two quick health checks, which ping the store, in a row."""
    quick = 0
    stop = time.perf_counter() + timeout
    while quick < 2 and time.perf_counter() < stop:
        t = time.perf_counter()
        httpx.get(health_url, timeout=timeout)
        quick = quick + 1 if time.perf_counter() - t < 0.05 else 0
        time.sleep(0.2)


def measure(url: str, args: argparse.Namespace, body: bytes | None = None,
            random_ids: tuple[str, int] | None = None, expect_errors: bool = False,
            auth: tuple[str, str] = ("X-API-Key", TENANT_KEY), pids: tuple[int, ...] = (),
            poster: tuple[str, str] = (WRITER_KEY, HEADERS["Content-Type"]),
            scripts: Callable[[str], str] | None = None) -> dict[str, float]:
    """One row: ``--warmup`` seconds of load, then ``--duration`` seconds measured, with the credential
    ``auth`` (header, value); a ``body`` is POSTed with ``poster`` (API key, content type). Random ids need wrk
    (the httpx loop reads ``url`` itself); so do ``scripts``: the wrk script of each phase ("warmup", "measured").
    ``pids``: the server's processes (the app first, then its store), whose
    CPU time per request is added as ``cpu0``, ``cpu1`` … (µs), counted from the measured load's start until they
    are idle again, so that work a request leaves behind (the audit trail's batches) counts too."""
    if shutil.which("wrk"):
        script = None
        if body is not None:
            script = lua(POST_LUA % (poster[1], poster[0], body.decode()))
        elif random_ids is not None:
            script = lua(READ_LUA % (random_ids[0], random_ids[1], auth[0], auth[1]))

        def load(seconds: int, phase: str) -> dict[str, float]:
            return run_wrk(url, seconds, args.connections, scripts(phase) if scripts else script, auth,
                           LOAD_CORE if args.pin else None)
    elif scripts is not None:
        raise SystemExit("the update and delete rows need wrk")
    else:
        def load(seconds: int, phase: str) -> dict[str, float]:
            return asyncio.run(httpx_load(url, seconds, args.connections, body,
                                          ("X-API-Key", poster[0]) if body is not None else auth, poster[1]))
    warm = 0.0
    if args.warmup:  # connections, pools and the interpreter's specialisations settle first
        warm = load(args.warmup, "warmup")["requests"]
        wait_idle(*pids)
    before = [cpu_seconds(p) for p in pids]
    own = own_cpu_seconds(pids[0]) if pids else 0.0
    load_before = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child that ends meanwhile
    result = load(args.duration, "measured")
    load_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wait_idle(*pids)
    count = max(result["requests"], 1.0)
    result["warmup_requests"] = warm
    for i, (pid, then) in enumerate(zip(pids, before, strict=True)):
        result[f"cpu{i}"] = 1e6 * (cpu_seconds(pid) - then) / count
    if pids:  # the app's children: its audit writer process (app/audit_writer.py)
        result["writer"] = result["cpu0"] - 1e6 * (own_cpu_seconds(pids[0]) - own) / count
    result["wrk"] = 1e6 * (load_after.ru_utime + load_after.ru_stime - load_before.ru_utime
                           - load_before.ru_stime) / count
    if expect_errors:
        result["errors"] = 0.0  # the row measures an error answer on purpose (checked to be a 404 beforehand)
    return result


CEILING = "ceiling (same bytes)"
# An update row's ids per wrk thread, cycled through (both phases): a few hundred requests go by before one is
# changed again, so no PUT meets another of the same id still under way.
UPDATE_POOL = 200


async def versions(uri: str, db: str, ids: list[str]) -> tuple[int, int]:
    """(the sum of these writer-tenant patients' version numbers, how many of them are deleted)."""
    from pymongo import AsyncMongoClient

    mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    try:
        total = deleted = 0
        async for doc in mongo[db].Patient.find({"_id": {"$in": [f"{WRITER}/{rid}" for rid in ids]}},
                                                {"_sys.v": 1, "_sys.deleted": 1}):
            total += int(doc["_sys"]["v"])
            deleted += bool(doc["_sys"]["deleted"])
    finally:
        await mongo.close()
    return total, deleted


def write_row(op: str, base: str, args: argparse.Namespace, pids: tuple[int, ...], uri: str,
              tag: str) -> dict[str, float]:
    """The update row (a PUT of a stored patient: each a new version) or the delete row (a DELETE of a stored,
    live patient each), measured as ``measure`` does. The patients are bulk-loaded first, under ids of the row's
    own (``tag``); afterwards the store must show one new version per answered request, else the shortfall is
    counted in ``errors`` (a delete of what is gone answers 204 too, and costs less)."""
    per = threads(args.connections)
    if op == "update":
        phases = {phase: UPDATE_POOL for phase in ("warmup", "measured")}
        prefix = {phase: tag for phase in phases}  # the same ids
        index = f"n % {UPDATE_POOL}"
    else:
        # A delete takes each id once: enough for --write-rate deletes a second, each phase its own.
        phases = {"warmup": -(-args.write_rate * args.warmup // per),
                  "measured": -(-args.write_rate * args.duration // per)}
        prefix = {phase: f"{tag}{phase[0]}" for phase in phases}
        index = "n"
    ids = {phase: [f"{prefix[phase]}-{t}-{n:07d}" for t in range(1, per + 1) for n in range(count)]
           for phase, count in phases.items()}
    every = list(dict.fromkeys(rid for phase_ids in ids.values() for rid in phase_ids))
    asyncio.run(prepare(uri, "fhirgraph_bench", every))
    rest = orjson.dumps({k: v for k, v in patient(0).items() if k not in ("id", "resourceType")}).decode()
    body = f'[[{{"resourceType":"Patient","id":"]] .. id .. [[",{rest[1:]}]]' if op == "update" else "nil"
    method = "PUT" if op == "update" else "DELETE"
    scripts = {phase: lua(WRITE_LUA % (prefix[phase], index, HEADERS["Content-Type"], WRITER_KEY, method, body))
               for phase in phases}
    before = asyncio.run(versions(uri, "fhirgraph_bench", every))
    r = measure(f"{base}/Patient", args, pids=pids, scripts=scripts.__getitem__)
    after = asyncio.run(versions(uri, "fhirgraph_bench", every))
    answered = r["requests"] + r["warmup_requests"]
    made = after[0] - before[0] if op == "update" else after[1] - before[1]
    r["errors"] += max(0.0, answered - made)
    if op == "delete" and after[1] == len(every):
        print(f"(delete row {tag}: every prepared patient was deleted; raise --write-rate)", flush=True)
    return r


def variant_env(env: dict[str, str], observability: str, audit: str, level: str = "INFO") -> dict[str, str]:
    """The server's environment for one variant (``--observability`` × ``--audit``); ``level``: an observed
    variant's log level (FHIRGRAPH_LOG_LEVEL as the bench was started with, else INFO as shipped)."""
    observed = observability != "off"
    return {**env, "FHIRGRAPH_AUDIT": "false" if audit == "off" else "true",
            "FHIRGRAPH_AUDIT_WRITER": "inline" if audit == "inline" else "process",
            "FHIRGRAPH_METRICS": "true" if observed else "false",
            "FHIRGRAPH_LOG_LEVEL": level if observed else "WARNING"}


def show(size: int, name: str, variant: str, r: dict[str, float], ceil: float) -> None:
    ratio = f"{100 * r['rps'] / ceil:5.1f}%" if name != CEILING else ""
    print(f"{size:>8}  {name:<22}{variant:<26}{r['rps']:>9.0f}{r['p50']:>8.2f}{r['p99']:>8.2f}"
          f"{r['errors']:>7.0f}{r.get('cpu0', 0):>8.0f}{r.get('writer', 0):>7.0f}{r.get('cpu1', 0):>7.0f}"
          f"{r.get('wrk', 0):>7.0f}  {ratio}", flush=True)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,10000,100000")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=2, help="seconds of the same load before each measured row")
    ap.add_argument("--ops", default="read,bearer,search,create,stack",
                    help="rows to measure besides the ceiling (bearer: the read with an OAuth access token instead "
                         "of an API key; update: a PUT of a stored patient, a new version each; delete: a DELETE of "
                         "a stored patient, each once; graphql: a named GraphQL query over HTTP, one patient by id "
                         "and a search by family name; stack: the app's HTTP stack without a store call)")
    ap.add_argument("--observability", default="on",
                    help="on: metrics and logging as shipped (request metrics, JSON lines at INFO, or at "
                         "FHIRGRAPH_LOG_LEVEL when set, to a file); access-log: the same with serve --access-log; "
                         "off: no request metrics, WARNING. Several, comma-separated (off,on): one server each, "
                         "measured in alternation")
    ap.add_argument("--server-log", type=Path, default=None,
                    help="append the observed servers' log lines to this file (default: a temporary file, "
                         "dropped at the end), e.g. to check what an operator's collector would receive")
    ap.add_argument("--audit", default="on",
                    help="the PHI audit trail (FHIRGRAPH_AUDIT): on (its writer process, as shipped), inline (built "
                         "and stored in the app's process: FHIRGRAPH_AUDIT_WRITER=inline) or off; several (off,on): "
                         "one server each, measured in alternation")
    ap.add_argument("--trees", default="",
                    help="checkouts to serve from, comma-separated (default: this one): e.g. before and after a "
                         "change, served side by side against one devdb and measured in alternation")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of every row; with several, the medians are printed last (a shared machine moves "
                         "req/s by ±20 %% from one run to the next: CPU per request moves far less)")
    ap.add_argument("--pin", nargs="?", const="together", choices=("together", "apart"),
                    help="pin (taskset) the app servers, their audit writer processes and the ceiling to core 0, "
                         "devdb and wrk to core 1: what the app costs on a core of its own, as deployed beside a "
                         "MongoDB on its own machine (unpinned, all share every core); --pin apart: the audit "
                         "writers on core 1 too, the app's event loop alone on core 0")
    ap.add_argument("--write-rate", type=int, default=2500,
                    help="the delete row prepares this many patients per second of its load (each is deleted once)")
    args = ap.parse_args()
    if args.pin and (not shutil.which("taskset") or (os.cpu_count() or 1) < 2):
        ap.error("--pin needs taskset and two cores")
    app_core, load_core = (APP_CORE, LOAD_CORE) if args.pin else (None, None)
    ops = [op for op in ("read", "bearer", "search", "create", "update", "delete", "graphql", "stack")
           if op in args.ops.split(",")]
    trees = [Path(t).resolve() for t in args.trees.split(",")] if args.trees else [ROOT]
    variants = [(t, o, a) for t in trees for o in args.observability.split(",") for a in args.audit.split(",")]
    for _, o, a in variants:
        if o not in ("on", "access-log", "off") or a not in ("on", "inline", "off"):
            ap.error(f"no such variant: observability {o}, audit {a}")
    procs: list[subprocess.Popen[bytes]] = []
    level = os.environ.get("FHIRGRAPH_LOG_LEVEL", "INFO")
    env = {**os.environ, "FHIRGRAPH_API_KEYS": f"{TENANT_KEY}=bench,{WRITER_KEY}=bench-writes",
           "FHIRGRAPH_ALLOW_ANONYMOUS": "false", "FHIRGRAPH_LOG_LEVEL": "WARNING",
           "FHIRGRAPH_DB_NAME": "fhirgraph_bench",
           # The per-clinic limit counts every request but must not refuse the load (0 turns it off).
           "FHIRGRAPH_RATE_LIMIT_PER_MINUTE": os.environ.get("FHIRGRAPH_RATE_LIMIT_PER_MINUTE", "1000000000")}
    logs = []  # the observed servers' JSON lines: a file, as a deployment's collector would read
    try:
        uri = os.environ.get("MONGODB_URI")
        engine = "mongodb"
        db_pids: tuple[int, ...] = ()
        if not uri:
            port = free_port()
            devdb = subprocess.Popen(pinned([sys.executable, "-m", "app.cli", "devdb", "--port", str(port)], load_core),
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(devdb)
            db_pids = (devdb.pid,)
            wait_port(port)
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            engine = "devdb"
        env["MONGODB_URI"] = uri
        print(f"observability: {args.observability}; audit trail: {args.audit}; engine: {engine}; "
              f"load: {'wrk' if shutil.which('wrk') else 'httpx'} "
              f"-c{args.connections} {args.duration}s per row after {args.warmup}s of warm-up; "
              f"{args.rounds} round(s); {os.cpu_count()} cores"
              f"{f'; pinned: servers on core {APP_CORE}, devdb and wrk on core {LOAD_CORE}' if args.pin else ''}"
              f"{f', audit writers on core {LOAD_CORE}' if args.pin == 'apart' else ''}\n")
        print("CPU µs/req: user+system time per request of the app (with its audit writer process), of the writer "
              "alone (wr), of devdb and of wrk\n")
        print(f"{'stored':>8}  {'operation':<22}{'variant':<26}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
              f"{'errors':>7}{'app µs':>8}{'wr µs':>7}{'db µs':>7}{'wrk µs':>7}  vs ceiling")
        for size in [int(s) for s in args.sizes.split(",")]:
            t = time.perf_counter()
            asyncio.run(load(uri, "fhirgraph_bench", size))
            bench_client = asyncio.run(register_client(uri, "fhirgraph_bench"))
            loaded = time.perf_counter() - t
            servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
            for tree, o, a in variants:
                app_port = free_port()
                log: IO[bytes] | None = None  # the file lives for the run
                if o != "off":
                    log = args.server_log.open("ab") if args.server_log else tempfile.TemporaryFile()  # noqa: SIM115
                logs.append(log)
                app = subprocess.Popen(pinned([sys.executable, "-m", "app.cli", "serve", "--port", str(app_port),
                                               *(["--access-log"] if o == "access-log" else [])], app_core), cwd=tree,
                                       env=variant_env(env, o, a, level), stdout=subprocess.DEVNULL,
                                       stderr=log or subprocess.DEVNULL)
                procs.append(app)
                label = " ".join([*([tree.name] if len(trees) > 1 else []),
                                  *([f"obs {o}"] if "," in args.observability else []),
                                  *([f"audit {a}"] if "," in args.audit else [])])
                servers[label] = (app, f"http://127.0.0.1:{app_port}")
            for app, origin in servers.values():
                wait_http(f"{origin}/health")
                if args.pin == "apart":
                    for child in children(app.pid):  # the audit writer, started by the app's lifespan
                        os.sched_setaffinity(child, {LOAD_CORE})
            rid = f"bench-{size // 2:07d}"
            first = next(iter(servers.values()))[1]
            sample = httpx.get(f"{first}/fhir/r4/Patient/{rid}", headers=HEADERS).content
            fd, body_file = tempfile.mkstemp()
            os.write(fd, sample)
            os.close(fd)
            ceil_port = free_port()
            ceiling = subprocess.Popen(pinned([sys.executable, "-c", CEILING_APP, str(ceil_port), body_file], app_core),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(ceiling)
            wait_http(f"http://127.0.0.1:{ceil_port}/x")
            tokens = {name: access_token(origin, bench_client) for name, (_, origin) in servers.items()}
            table: dict[tuple[str, str], list[dict[str, float]]] = {}

            for _ in range(args.rounds):
                ceil = measure(f"http://127.0.0.1:{ceil_port}/Patient/{rid}", args, pids=(ceiling.pid,))
                table.setdefault((CEILING, ""), []).append(ceil)
                show(size, CEILING, "", ceil, ceil["rps"])
                for op in ops:
                    for variant, (app, origin) in servers.items():
                        base = f"{origin}/fhir/r4"
                        pids = (app.pid, *db_pids)
                        if op == "read":
                            name, r = "read by id", measure(f"{base}/Patient/{rid}", args,
                                                            random_ids=("/fhir/r4", size), pids=pids)
                        elif op == "bearer":
                            name, r = "read, bearer token", measure(
                                f"{base}/Patient/{rid}", args, random_ids=("/fhir/r4", size), pids=pids,
                                auth=("Authorization", f"Bearer {tokens[variant]}"))
                        elif op == "search":
                            name, r = "search page of 50", measure(f"{base}/Patient?_count=50&gender=male", args,
                                                                   pids=pids)
                        elif op == "create":
                            name, r = "create", measure(f"{base}/Patient", args, pids=pids, body=orjson.dumps(
                                {k: v for k, v in patient(0).items() if k != "id"}))
                        elif op in ("update", "delete"):
                            tag = f"{op[0]}{len(table.get((op, variant), []))}v{list(servers).index(variant)}"
                            name, r = op, write_row(op, base, args, pids, uri, f"{tag}s{size}")
                        elif op == "graphql":
                            body = graphql_body(rid, size)
                            answer = httpx.post(f"{origin}/graphql", content=body, headers={
                                "X-API-Key": TENANT_KEY, "Content-Type": "application/json"}).json()
                            assert "errors" not in answer and answer["data"]["patient"], answer
                            name, r = "graphql, named query", measure(f"{origin}/graphql", args, pids=pids,
                                                                        body=body,
                                                                        poster=(TENANT_KEY, "application/json"))
                        else:
                            # The whole request path — uvicorn, middleware, authentication, the read lane, an
                            # OperationOutcome — for a read that needs no store call (an unknown type is a 404
                            # before the store): what the app costs beside the ceiling when the store is left out.
                            assert httpx.get(f"{base}/Unicorn/{rid}", headers=HEADERS).status_code == 404
                            name, r = "stack, no store (404)", measure(f"{base}/Unicorn/{rid}", args,
                                                                       expect_errors=True, pids=pids)
                        table.setdefault((name, variant), []).append(r)
                        show(size, name, variant, r, ceil["rps"])
            if args.rounds > 1:
                print(f"{'':>8}  medians of {args.rounds} rounds:")
                ceil_rps = median([r["rps"] for r in table[(CEILING, "")]])
                for (name, variant), rs in table.items():
                    show(size, name, variant, {k: median([r.get(k, 0.0) for r in rs]) for k in rs[0]}, ceil_rps)
            reference = next(iter(servers))
            for (name, variant), rs in table.items():
                if variant and variant != reference and (name, reference) in table:
                    ref = table[(name, reference)]
                    rps = 100 * median([r["rps"] for r in rs]) / median([r["rps"] for r in ref])
                    cpu = 100 * median([r["cpu0"] for r in rs]) / median([r["cpu0"] for r in ref])
                    print(f"{'':>8}  {name}, {variant} ÷ {reference}: req/s {rps:.1f}%, app CPU/req {cpu:.1f}%")
            reads = [(v, table.get(("read by id", v)), table.get(("read, bearer token", v))) for v in servers]
            for variant, key_rows, bearer_rows in reads:
                if key_rows and bearer_rows:
                    share = 100 * median([r["rps"] for r in bearer_rows]) / median([r["rps"] for r in key_rows])
                    print(f"{'':>8}  (reads with a bearer token: {share:.1f}% of reads with an API key {variant})")
            print(f"{'':>8}  (loaded to {size} patients in {loaded:.1f}s)")
            for p in (*(app for app, _ in servers.values()), ceiling):
                p.send_signal(signal.SIGINT)
                p.wait(timeout=20)
                procs.remove(p)
    finally:
        for p in procs:
            p.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
