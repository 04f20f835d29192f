"""The app's own CPU per request, in-process: its ASGI stack driven directly, without a server, sockets or wrk.

    python bench/stack_bench.py [--requests 20000] [--rounds 5] [--variants off,on,audit,all] 2>/dev/null

A shared machine moves a load test's req/s by ±20 %; the CPU time of this thread per request, taken over
many calls, moves far less, so layer costs of a few µs can be told apart. It opens the app as `serve` does
(lifespan, the embedded devdb in a thread of its own — not counted: ``time.thread_time``) and calls it with a
scope shaped like uvicorn's, for

- ``stack``: ``GET /fhir/r4/Unicorn/x`` with an API key, the read lane's 404 without a store call (the
  ``stack`` row of rest_bench.py);
- ``read``: ``GET /fhir/r4/Patient/<id>``, 32 at a time (the coalescer batches them), random stored ids.

Variants: ``off`` — request metrics off, audit off; ``on`` — metrics on (what ships), audit off; ``audit`` —
metrics off, audit on; ``all`` — metrics, audit and the access log on; ``nolimit`` — ``on`` without the rate limit
(its middleware left out). Rounds alternate the variants.

``--layers``: the ``stack`` row entered at each layer in turn, from uvicorn's ``ProxyHeadersMiddleware`` (as
``serve`` wraps the app) down to the read lane (below authentication the scope gets its principal beforehand):
the difference between two entries is what the layer between them costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "stack-bench-key"
PATIENTS = 2000
VARIANTS = {"off": dict(metrics=False, audit=False, access_log=False),
            "on": dict(metrics=True, audit=False, access_log=False),
            "audit": dict(metrics=False, audit=True, access_log=False),
            "all": dict(metrics=True, audit=True, access_log=True),
            "nolimit": dict(metrics=True, audit=False, access_log=False, rate_limit=False)}


def scope_of(path: str) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET",
            "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"x-api-key", KEY.encode()), (b"user-agent", b"wrk"),
                        (b"accept", b"*/*")], "state": {}}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class Sink:
    def __init__(self) -> None:
        self.status = 0

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


def chain_of(app: Any) -> list[Any]:
    """The app's layers, outermost first (uvicorn's proxy-headers middleware, as ``serve`` runs it, in front),
    down to the read lane."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from fhir_rest.read_lane import ReadLane

    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    chain: list[Any] = [ProxyHeadersMiddleware(app.middleware_stack)]
    layer = app.middleware_stack
    while True:
        chain.append(layer)
        if isinstance(layer, ReadLane):
            return chain
        layer = layer.app


async def measure_layers(app: Any, requests: int, rounds: int, out: dict[str, list[float]]) -> None:
    chain = chain_of(app)
    names = [type(layer).__name__ for layer in chain]
    auth_at = names.index("AuthMiddleware")
    sink = Sink()
    first = scope_of("/fhir/r4/Unicorn/x")
    await app(first, _receive, sink)
    principal = first["auth"]  # the API key's, as authentication sets it
    for _ in range(rounds):
        for i, layer in enumerate(chain):
            def scope(i: int = i) -> dict[str, Any]:
                s = scope_of("/fhir/r4/Unicorn/x")
                s["app"] = app
                if i > auth_at:
                    s["auth"] = principal
                return s
            for _ in range(requests // 10):
                await layer(scope(), _receive, sink)
            t = time.thread_time()
            for _ in range(requests):
                await layer(scope(), _receive, sink)
            spent = time.thread_time() - t
            assert sink.status == 404, (names[i], sink.status)
            out.setdefault(f"{i:02d} {names[i]}", []).append(1e6 * spent / requests)


async def run_variant(name: str, requests: int, rounds: int, out: dict[tuple[str, str], list[float]],
                      layers: dict[str, list[float]] | None = None) -> None:
    from app.main import create_app
    from app.settings import Settings
    from auth.principal import Principal

    flags = VARIANTS[name]
    settings = Settings(api_keys=f"{KEY}=bench", allow_anonymous=False, metrics=flags["metrics"],
                        audit=flags["audit"], db_name=f"stack_{name}",
                        rate_limit_per_minute=1_000_000_000 if flags.get("rate_limit", True) else 0)
    app = create_app(settings, access_log=bool(flags["access_log"]))
    async with app.router.lifespan_context(app):
        repo = app.state.services.repo
        principal = Principal("bench", "bench")
        if await repo.count(principal, "Patient") < PATIENTS:
            await repo.bulk_load(principal, [{"resourceType": "Patient", "id": f"p{i}", "active": True,
                                              "name": [{"family": f"F{i}", "given": ["G"]}]}
                                             for i in range(PATIENTS)])
        sink = Sink()

        async def stack(n: int) -> None:
            for _ in range(n):
                await app(scope_of("/fhir/r4/Unicorn/x"), _receive, sink)
            assert sink.status == 404, sink.status

        async def reads(n: int) -> None:
            async def one() -> None:
                await app(scope_of(f"/fhir/r4/Patient/p{random.randrange(PATIENTS)}"), _receive, sink)
            for _ in range(n // 32):
                await asyncio.gather(*(one() for _ in range(32)))
            assert sink.status == 200, sink.status

        if layers is not None:
            await measure_layers(app, requests, rounds, layers)
            return
        for label, work in (("stack", stack), ("read", reads)):
            await work(requests // 10)  # warm-up
            for _ in range(rounds):
                t = time.thread_time()
                await work(requests)
                out.setdefault((label, name), []).append(1e6 * (time.thread_time() - t) / requests)
        if flags["audit"]:
            await app.state.services.audit.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5, help="measured rounds per variant and row")
    ap.add_argument("--variants", default="off,on,audit,all")
    ap.add_argument("--layers", action="store_true", help="the stack row entered at each layer (module docstring)")
    args = ap.parse_args()
    os.environ.pop("MONGODB_URI", None)  # the embedded devdb, in a thread of its own
    from app.logs import configure

    configure("INFO", "json")  # as serve logs in production (JSON lines at INFO): send standard error to a file
    out: dict[tuple[str, str], list[float]] = {}
    names = args.variants.split(",")
    if args.layers:
        for name in names:
            layers: dict[str, list[float]] = {}
            asyncio.run(run_variant(name, args.requests, args.rounds, out, layers))
            print(f"{name}: CPU µs per request of the stack row entered at each layer (median of {args.rounds} "
                  f"rounds of {args.requests}; the layer's own cost: its entry minus the next)")
            rows = sorted(layers.items())
            for j, (label, values) in enumerate(rows):
                here = statistics.median(values)
                below = statistics.median(rows[j + 1][1]) if j + 1 < len(rows) else 0.0
                print(f"  {label:<28} {here:7.1f}   own {here - below:5.1f}   ({min(values):.1f}–{max(values):.1f})")
        return 0
    for _ in range(2):  # two passes over the variants, alternating, each with rounds // 2 (at least 1)
        for name in names:
            asyncio.run(run_variant(name, args.requests, max(1, args.rounds // 2), out))
    print(f"CPU µs per request of the app's thread (median of {len(next(iter(out.values())))} rounds of "
          f"{args.requests} requests; min–max)")
    for (label, name), values in sorted(out.items()):
        print(f"  {label:<6} {name:<6} {statistics.median(values):7.1f}   ({min(values):.1f}–{max(values):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
