"""``fhirgraph`` command line: serve, devdb, demo-data."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from app.settings import Settings, get_settings


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app

    settings = get_settings()
    _logging(settings.log_level)
    if not settings.mongodb_uri:
        logging.getLogger("fhirgraph").warning(
            "Starting on the EMBEDDED devdb store (MONGODB_URI unset): for trying the product and for tests "
            "only — in memory, single process, lost at exit. Set MONGODB_URI for a real MongoDB.")
    app = create_app(settings, demo_patients=args.demo)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port, loop="uvloop",
                http="httptools", ws="websockets-sansio", ws_per_message_deflate=settings.ws_compression,
                log_level=settings.log_level.lower(),
                proxy_headers=True, server_header=False, access_log=args.access_log)
    return 0


def cmd_devdb(args: argparse.Namespace) -> int:
    import gc

    from store.devdb import main_devdb

    settings = get_settings()
    _logging(settings.log_level)
    # devdb holds every document as Python objects: with the default thresholds, full collections over them
    # become pauses of hundreds of milliseconds once it holds tens of thousands of resources.
    gc.set_threshold(*settings.gc_thresholds)
    main_devdb(args.host, args.port)
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    settings = get_settings()
    _logging(settings.log_level)
    if not settings.mongodb_uri:
        print("demo-data loads into the MongoDB at MONGODB_URI (or a running `fhirgraph devdb`); "
              "set MONGODB_URI. For a quick trial use `fhirgraph serve --demo N` instead.", file=sys.stderr)
        return 2
    return asyncio.run(_demo_data(args, settings))


async def _demo_data(args: argparse.Namespace, s: Settings) -> int:
    from app.demo import load_demo
    from auth.principal import Principal
    from store.client import open_store

    handle = await open_store(s.mongodb_uri, s.db_name)
    started = time.perf_counter()
    try:
        principal = Principal(args.tenant or s.default_tenant, "demo-loader")

        def progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            print(f"\r  {done}/{total} patients  ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)

        counts = await load_demo(handle.repo, principal, args.patients, seed=args.seed, progress=progress)
    finally:
        await handle.close()
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    for rt, n in sorted(counts.items()):
        print(f"{rt:24} {n:>9,}")
    print(f"{'total':24} {sum(counts.values()):>9,}  in {elapsed:.1f}s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhirgraph", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server (embedded devdb unless MONGODB_URI is set)")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--demo", type=int, default=0, metavar="N",
                       help="load a demo clinic of N patients at start when the store is empty")
    serve.add_argument("--access-log", action="store_true", help="log every request line")
    serve.set_defaults(func=cmd_serve)

    devdb = sub.add_parser("devdb", help="run the embedded MongoDB-wire-protocol test server (not for production)")
    devdb.add_argument("--host", default="127.0.0.1")
    devdb.add_argument("--port", type=int, default=27017)
    devdb.set_defaults(func=cmd_devdb)

    demo = sub.add_parser("demo-data", help="load a demo clinic into the MongoDB at MONGODB_URI")
    demo.add_argument("--patients", type=int, default=100)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--tenant", default=None)
    demo.set_defaults(func=cmd_demo_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
