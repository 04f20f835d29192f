"""Live-events benchmark: write→receive latency of GraphQL subscriptions, and webhook deliveries per second.

    python bench/events_bench.py [--subscribers 1,100,1000] [--writes 100] [--rate 20] [--webhook-events 500] [--cpu]

Starts, as separate processes, a `fhirgraph devdb` and one `fhirgraph serve` (so this load generator does
not share an event loop with the server). For each subscriber count it opens that many graphql-transport-ws
connections, each with one `events(types: ["patient.created"])` subscription, then creates patients through
FHIR REST at a steady rate and measures, per received event, the time from just before the POST to its
arrival; delivered ÷ written counts every (subscriber, event) pair. Then it registers a webhook to a local
receiver, writes a burst of events and reports deliveries per second.

``--cpu`` adds, per subscriber count, the CPU time (user + system, from /proc/<pid>/stat) the server process
spent from the first measured write until the last delivery, divided by the (subscriber, event) pairs
delivered — a cost that, unlike latency on a shared machine, does not depend on what else runs — and the
share of one core this client used meanwhile (near 100 % means the client, not the server, sets the pace).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from common import free_port, wait_port  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-events-key"
QUERY = 'subscription { events(types: ["patient.created"]) { id resourceId sequence } }'


def patient(i: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": f"Bench{i}", "given": ["Events"]}], "gender": "other"}


class Subscriber(asyncio.Protocol):
    """One graphql-transport-ws connection with one subscription, kept lean so that 1,000 of them in this process
    do not become the latency being measured: the arrival time is taken in the socket callback and, once the
    subscription is live, the bytes are only queued there (``Inbox``) — parsed by websockets' sans-I/O protocol
    after the loop's turn has read every socket that was ready, so that one subscriber's read does not wait for
    the decoding of the others' frames (in the field each subscriber decodes on its own device)."""

    def __init__(self, url: str, sent: dict[str, float], latencies: list[float],
                 arrivals: dict[str, list[float]] | None = None):
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.url, self.sent, self.latencies = url, sent, latencies
        self.arrivals = {} if arrivals is None else arrivals  # event → [first arrival, last arrival]
        self.count = 0
        self.ws = ClientProtocol(parse_uri(url), subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                 max_size=None)
        self.acked: asyncio.Future[None] | None = None
        self.opened: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.inbox: Inbox | None = None  # set once subscribed: arrivals queue there

    async def connect(self) -> None:
        from urllib.parse import urlsplit

        loop = asyncio.get_running_loop()
        self.acked, self.opened = loop.create_future(), loop.create_future()
        parts = urlsplit(self.url)
        await loop.create_connection(lambda: self, parts.hostname, parts.port)
        request = self.ws.connect()
        request.headers["X-API-Key"] = KEY
        self.ws.send_request(request)
        self._flush()
        await asyncio.wait_for(self.opened, 30)
        self.ws.send_text(b'{"type":"connection_init"}')
        self._flush()
        await asyncio.wait_for(self.acked, 30)
        self.ws.send_text(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
        self._flush()
        self.inbox = Inbox.of(loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if (inbox := self.inbox) is not None:
            inbox.put(self, now, data)
        else:
            self.receive(now, data)

    def receive(self, now: float, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if self.opened is not None and not self.opened.done():
                if self.ws.handshake_exc is not None:
                    self.opened.set_exception(self.ws.handshake_exc)
                    return
                self.opened.set_result(None)
            if getattr(event, "opcode", None) is not None and event.opcode.name == "TEXT":
                self._message(now, event.data)
        self._flush()  # pongs for the server's pings

    def _message(self, now: float, frame: bytes) -> None:
        msg = orjson.loads(frame)
        kind = msg.get("type")
        if kind == "connection_ack" and self.acked is not None and not self.acked.done():
            self.acked.set_result(None)
        elif kind == "ping":
            self.ws.send_text(b'{"type":"pong"}')
        elif kind == "next":
            rid = msg["payload"]["data"]["events"]["resourceId"]
            started = self.sent.get(rid)
            if started is not None:
                self.latencies.append(now - started)
                self.count += 1
                if (seen := self.arrivals.get(rid)) is None:
                    self.arrivals[rid] = [now, now]
                else:
                    seen[1] = now  # arrival times only grow: this process takes them in order
        elif kind in ("error", "complete"):
            raise RuntimeError(f"subscription ended: {msg}")

    def _flush(self) -> None:
        out = self.ws.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.opened, self.acked):
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError("closed before connection_ack"))

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.ws.send_close()
            self._flush()
            self.transport.close()


class Inbox:
    """Bytes read from the subscribers' sockets, with their arrival times, decoded in one callback after the
    loop's turn of reads (asyncio runs callbacks made ready by I/O after that turn's I/O)."""

    _loops: dict[asyncio.AbstractEventLoop, Inbox] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.queued: list[tuple[Subscriber, float, bytes]] = []

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Inbox:
        inbox = cls._loops.get(loop)
        if inbox is None:
            inbox = cls._loops[loop] = cls(loop)
        return inbox

    def put(self, sub: Subscriber, now: float, data: bytes) -> None:
        if not self.queued:
            self.loop.call_soon(self.drain)
        self.queued.append((sub, now, data))

    def drain(self) -> None:
        queued, self.queued = self.queued, []
        for sub, now, data in queued:
            sub.receive(now, data)


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (Linux /proc), in seconds."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of process ``pid`` (Linux /proc), in seconds: Python and the kernel (socket writes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of process ``pid`` so far (Linux /proc), all its threads."""
    total = [0, 0]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total[0] += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                total[1] += int(line.split()[1])
    return total[0], total[1]


STAGES = ("fhirgraph_relay_wake_seconds", "fhirgraph_relay_fanout_seconds")


async def server_stages(c: httpx.AsyncClient, base: str) -> dict[str, Any]:
    """The server's relay stage histograms (cumulative buckets by upper bound) and its collector counts, from
    /metrics (the relay times its stages itself: the wake-up after a local write, each event's fan-out)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = (await c.get(f"{base}/metrics")).text
    out: dict[str, Any] = {name: {} for name in STAGES}
    out["gc"] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removesuffix("_bucket")
            if name in STAGES and sample.name.endswith("_bucket"):
                out[name][float(sample.labels["le"])] = sample.value
            elif sample.name == "fhirgraph_relay_fanout_cpu_seconds_total":
                out["fanout_cpu"] = sample.value
            elif sample.name == "python_gc_collections_total":
                out["gc"][sample.labels["generation"]] = sample.value
    return out


def histogram_pct(before: dict[float, float], after: dict[float, float], p: float) -> float:
    """The ``p``-th percentile of what a cumulative histogram gained between two scrapes (linear within a
    bucket; the top bucket's lower bound when it falls past the last finite one)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank, low, below = total * p / 100, 0.0, 0.0
    for bound, cum in zip(bounds, counts, strict=True):
        if cum >= rank:
            if bound == float("inf"):
                return low
            return low + (bound - low) * ((rank - below) / (cum - below) if cum > below else 1.0)
        low, below = bound, cum
    return low


async def subscribers_round(base: str, n: int, writes: int, rate: float, server_pid: int) -> dict[str, Any]:
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    latencies: list[float] = []
    arrivals: dict[str, list[float]] = {}
    url = base.replace("http://", "ws://") + "/graphql"
    subs = [Subscriber(url, sent, latencies, arrivals) for _ in range(n)]
    for i in range(0, n, 50):
        await asyncio.gather(*(s.connect() for s in subs[i:i + 50]))
    # This process's own collector pauses (a thousand connections' objects) would be timed as server latency.
    gc.collect()
    gc.freeze()
    async with httpx.AsyncClient(base_url=f"{base}/fhir/r4", headers={"X-API-Key": KEY}, timeout=30) as c:
        # Warm-up: one event every subscriber must see before measuring (all subscriptions are live).
        warm = f"bench-warm-{n}"
        sent[warm] = time.perf_counter()
        assert (await c.put(f"/Patient/{warm}", json={**patient(-1), "id": warm})).status_code in (200, 201)
        deadline = time.monotonic() + 60
        while sum(s.count for s in subs) < n and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for s in subs:
            s.count = 0
        latencies.clear()
        arrivals.clear()
        await asyncio.sleep(0.5)
        stages = await server_stages(c, base)
        server_cpu, client_cpu, wall = cpu_split(server_pid), cpu_seconds(os.getpid()), time.perf_counter()
        server_switches = switches(server_pid)
        for i in range(writes):
            tick = time.perf_counter()
            body = patient(i)
            # The id is known only from the response; key the send time by a client-chosen id instead.
            rid = f"bench-{n}-{i}"
            sent[rid] = tick
            r = await c.put(f"/Patient/{rid}", json={**body, "id": rid})
            answered[rid] = time.perf_counter()
            assert r.status_code in (200, 201), r.text
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - tick)))
    # Wait for everything, as long as deliveries keep coming (a saturated server drains a backlog).
    seen, idle_since = -1, time.monotonic()
    while (got := sum(s.count for s in subs)) < n * writes and time.monotonic() - idle_since < 10:
        if got != seen:
            seen, idle_since = got, time.monotonic()
        await asyncio.sleep(0.05)
    user, system = (now - then for now, then in zip(cpu_split(server_pid), server_cpu, strict=True))
    client_cpu = cpu_seconds(os.getpid()) - client_cpu
    woke, preempted = (now - then for now, then in zip(switches(server_pid), server_switches, strict=True))
    client_share = client_cpu / (time.perf_counter() - wall)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": KEY}, timeout=30) as c:
        stages_after = await server_stages(c, base)
    for s in subs:
        await s.close()
    lat = sorted(latencies)
    per_delivery = 1e6 / len(lat) if lat else float("nan")
    # Per event, as this client saw it: the write's round trip, the first subscriber's arrival, and how long
    # after it the last one's came (the fan-out's length plus whatever this client queued behind it).
    events = [(answered[rid] - sent[rid], first - sent[rid], last - first)
              for rid, (first, last) in arrivals.items() if rid in answered]
    stage_ms = {"write": [e[0] for e in events], "first": [e[1] for e in events], "spread": [e[2] for e in events]}
    for name, short in zip(STAGES, ("wake", "fanout"), strict=True):
        stage_ms[short] = [histogram_pct(stages[name], stages_after[name], p) for p in (50, 99)]
    fanout_cpu = stages_after.get("fanout_cpu", float("nan")) - stages.get("fanout_cpu", float("nan"))
    gc_runs = {gen: stages_after["gc"].get(gen, 0) - stages["gc"].get(gen, 0) for gen in ("0", "1", "2")}
    return {"subscribers": n, "written": writes, "received": len(lat),
            "ratio": len(lat) / (n * writes), "p50_ms": _pct(lat, 50) * 1000, "p95_ms": _pct(lat, 95) * 1000,
            "p99_ms": _pct(lat, 99) * 1000, "max_ms": (lat[-1] if lat else 0) * 1000,
            "cpu_us": (user + system) * per_delivery, "user_us": user * per_delivery,
            "sys_us": system * per_delivery, "fanout_us": fanout_cpu * per_delivery,
            "client_us": client_cpu * per_delivery,
            "client_cpu": client_share * 100, "stages": stage_ms, "gc": gc_runs,
            "switches": (woke / writes, preempted / writes)}


def _ms(values: list[float], p: float) -> str:
    return f"{_pct(sorted(values), p) * 1000:.1f}"


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def webhook_round(base: str, events: int, hooks: int) -> dict[str, Any]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    times: list[float] = []

    async def hook(request: Request) -> Response:
        await request.body()
        times.append(time.perf_counter())
        return Response(b"")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
                                          host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=f"{base}/fhir/r4", headers={"X-API-Key": KEY}, timeout=30) as c:
        # Registered "off", the backlog written, then switched on: what is timed is delivery alone.
        created = []
        for _ in range(hooks):
            r = await c.post("/Subscription", json={
                "resourceType": "Subscription", "status": "off", "reason": "bench", "criteria": "patient.created",
                "channel": {"type": "rest-hook", "endpoint": f"http://127.0.0.1:{port}/hook"}})
            assert r.status_code == 201, r.text
            created.append(r.json())
        sem = asyncio.Semaphore(16)

        async def write(i: int) -> None:
            async with sem:
                assert (await c.post("/Patient", json=patient(i))).status_code == 201

        await asyncio.gather(*(write(i) for i in range(events)))
        started = time.perf_counter()
        for sub in created:
            sub.pop("extension", None)
            assert (await c.put(f"/Subscription/{sub['id']}", json={**sub, "status": "active"})).status_code == 200
        deadline = time.monotonic() + 300
        while len(times) < events * hooks and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for sub in created:  # stop them before the next round
            await c.delete(f"/Subscription/{sub['id']}")
    server.should_exit = True
    await task
    drain = (times[-1] - started) if times else float("nan")
    first = (times[0] - started) if times else float("nan")
    return {"events": events * hooks, "hooks": hooks, "delivered": len(times), "drain_s": drain,
            "first_s": first, "deliveries_per_s": len(times) / drain if times else float("nan")}


def start_stack(tree: Path = ROOT) -> tuple[str, list[subprocess.Popen[bytes]]]:
    db_port, app_port = free_port(), free_port()
    env = {**os.environ, "MONGODB_URI": f"mongodb://127.0.0.1:{db_port}/?directConnection=true",
           "FHIRGRAPH_API_KEYS": f"{KEY}=bench", "FHIRGRAPH_ALLOW_ANONYMOUS": "false",
           "FHIRGRAPH_WEBHOOK_ALLOW_PRIVATE": "true", "FHIRGRAPH_LOG_LEVEL": "WARNING",
           "FHIRGRAPH_SUBSCRIPTIONS_PER_CONNECTION": "10", "FHIRGRAPH_DB_NAME": "events_bench",
           "FHIRGRAPH_RATE_LIMIT_PER_MINUTE": os.environ.get("FHIRGRAPH_RATE_LIMIT_PER_MINUTE", "1000000000")}
    procs = [subprocess.Popen([sys.executable, "-m", "app.cli", "devdb", "--port", str(db_port)], cwd=tree, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    wait_port(db_port)
    procs.append(subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(app_port)], cwd=tree,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_port(app_port)
    time.sleep(0.5)
    return f"http://127.0.0.1:{app_port}", procs


async def main_async(args: argparse.Namespace, base: str, server_pid: int) -> None:
    cpu_head = f" {'server CPU us/delivery':>22} {'client CPU %':>12}" if args.cpu else ""
    print(f"{'subscribers':>11} {'written':>7} {'received':>9} {'delivered/written':>17} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}{cpu_head}")
    rounds = []
    for n in args.subscribers:
        r = await subscribers_round(base, n, args.writes, args.rate, server_pid)
        rounds.append(r)
        cpu = f" {r['cpu_us']:>22.1f} {r['client_cpu']:>12.0f}" if args.cpu else ""
        print(f"{r['subscribers']:>11} {r['written']:>7} {r['received']:>9} {r['ratio']:>17.4f} "
              f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['max_ms']:>7.1f}{cpu}", flush=True)
    if args.stages:
        print("\nstages, p50/p99 ms per event (write: the PUT's round trip; wake: server, commit → fan-out start;"
              " fan-out: server, to the last socket write;\n first: PUT sent → first subscriber's arrival; spread:"
              " first → last arrival), CPU us per delivery (server user/sys, of which its fan-outs; this client), the"
              " server's collections"
              " by generation, and its context switches per event (voluntary/involuntary):")
        for r in rounds:
            st = r["stages"]
            wake, fanout = (f"{st[k][0] * 1000:.1f}/{st[k][1] * 1000:.1f}" for k in ("wake", "fanout"))
            gc_runs = "/".join(f"{r['gc'][g]:.0f}" for g in ("0", "1", "2"))
            print(f"{r['subscribers']:>6}: write {_ms(st['write'], 50)}/{_ms(st['write'], 99)}  wake {wake}  "
                  f"fan-out {fanout}  first {_ms(st['first'], 50)}/{_ms(st['first'], 99)}  "
                  f"spread {_ms(st['spread'], 50)}/{_ms(st['spread'], 99)}  "
                  f"cpu {r['user_us']:.1f}/{r['sys_us']:.1f} (fan-out {r['fanout_us']:.1f}) client "
                  f"{r['client_us']:.1f}  "
                  f"server gc 0/1/2 {gc_runs}  server switches/event {r['switches'][0]:.0f}/"
                  f"{r['switches'][1]:.0f}", flush=True)
    if args.webhook_events:
        print()
        for hooks in (1, 4):
            w = await webhook_round(base, args.webhook_events, hooks)
            print(f"webhooks x{hooks}: {w['delivered']}/{w['events']} deliveries of a {args.webhook_events}-event "
                  f"backlog in {w['drain_s']:.2f}s (first after {w['first_s'] * 1000:.0f} ms): "
                  f"{w['deliveries_per_s']:.0f} deliveries/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", default="1,100,1000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="writes per second")
    parser.add_argument("--webhook-events", type=int, default=500)
    parser.add_argument("--cpu", action="store_true",
                        help="also report the server's CPU time per delivered event and this client's CPU share")
    parser.add_argument("--stages", action="store_true",
                        help="also decompose each event's latency: the write, the server's wake-up and fan-out "
                             "(its /metrics), the first arrival and the spread to the last")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="serve from this checkout (default: this script's), e.g. a base to compare with")
    args = parser.parse_args()
    base, procs = start_stack(args.tree.resolve())
    try:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(main_async(args, base, procs[1].pid))
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
