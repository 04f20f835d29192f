"""``fhirgraph`` command line: serve, devdb, demo-data, clients, users, launch."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from app.settings import Settings, get_settings


def _logging(settings: Settings) -> str:
    """Configure logging (app/logs.py); returns the log level for uvicorn."""
    from app.logs import configure

    return configure(settings.log_level, settings.log_format)


DATA_DIR_HELP = ("the embedded store keeps its data in directory D across restarts (a write-ahead log synced "
                 "before each reply, and snapshots; one process per directory); still a trial/test engine "
                 "(default: FHIRGRAPH_DATA_DIR, else in memory, lost at exit)")
DEVDB_EXTRA = 'the devdb extra: pip install "fhirgraph[devdb]" (from a checkout: pip install -e ".[devdb]")'


def _devdb_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("mongomock") is not None


def cmd_serve(args: argparse.Namespace) -> int:
    from app import server
    from app.main import create_app

    settings = get_settings()
    if not settings.mongodb_uri and not _devdb_installed():
        print(f"fhirgraph serve: the embedded store (MONGODB_URI unset) needs {DEVDB_EXTRA}; or set MONGODB_URI",
              file=sys.stderr)
        return 2
    if args.data_dir is not None:
        if settings.mongodb_uri:
            print("fhirgraph serve: --data-dir is for the embedded store; MONGODB_URI is set", file=sys.stderr)
            return 2
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    if not settings.mongodb_uri and settings.data_dir and (problem := _data_dir_problem(settings.data_dir)):
        print(f"fhirgraph serve: {problem}", file=sys.stderr)
        return 2
    log_level = _logging(settings)
    if not settings.mongodb_uri:
        kept = (f"data kept in {settings.data_dir} (write-ahead log and snapshots)" if settings.data_dir
                else "in memory, lost at exit (--data-dir D keeps it)")
        logging.getLogger("fhirgraph").warning(
            "Starting on the EMBEDDED devdb store (MONGODB_URI unset): for trying the product and for tests "
            "only — %s, single process. Set MONGODB_URI for a real MongoDB.", kept)
    app = create_app(settings, demo_patients=args.demo, access_log=args.access_log)
    host = args.host or settings.host
    metrics_port = args.metrics_port or settings.metrics_port
    side = server.metrics_config(settings, host=host, port=metrics_port, log_level=log_level) if metrics_port else None
    server.run(server.server_config(app, settings, host=host, port=args.port or settings.port, log_level=log_level),
               side)
    return 0


def cmd_devdb(args: argparse.Namespace) -> int:
    import gc

    from store.devdb import main_devdb

    settings = get_settings()
    if not _devdb_installed():
        print(f"fhirgraph devdb: needs {DEVDB_EXTRA}", file=sys.stderr)
        return 2
    _logging(settings)
    # devdb holds every document as Python objects: with the default thresholds, full collections over them
    # become pauses of hundreds of milliseconds once it holds tens of thousands of resources.
    gc.set_threshold(*settings.gc_thresholds)
    from store.devdb.wal import DataDirError

    try:
        main_devdb(args.host, args.port, args.data_dir or settings.data_dir)
    except DataDirError as exc:
        print(f"fhirgraph devdb: {exc}", file=sys.stderr)
        return 2
    return 0


def _data_dir_problem(data_dir: str) -> str | None:
    """Why the embedded store cannot take ``data_dir`` (another process owns it), said before the app starts."""
    from store.devdb.journal import probe
    from store.devdb.wal import DataDirError

    try:
        probe(data_dir)
    except DataDirError as exc:
        return str(exc)
    return None


def cmd_demo_data(args: argparse.Namespace) -> int:
    from pymongo.errors import PyMongoError

    from store.errors import DomainError

    settings = get_settings()
    _logging(settings)
    if not settings.mongodb_uri:
        print("demo-data loads into the MongoDB at MONGODB_URI (or a running `fhirgraph devdb`); "
              "set MONGODB_URI. For a quick trial use `fhirgraph serve --demo N` instead.", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_demo_data(args, settings))
    except (DomainError, PyMongoError) as exc:
        print(f"demo-data: {_error_line(exc, args.tenant or settings.default_tenant)}", file=sys.stderr)
        return 1


def _error_line(exc: Exception, tenant: str) -> str:
    """One line for a failed load. Driver messages are not shown: they can carry document values (a duplicate
    key) or the URI's credentials; the store's own messages never carry patient data."""
    from pymongo.errors import ConfigurationError

    from store.errors import Conflict, DomainError

    if isinstance(exc, DomainError):
        line = " ".join(str(exc).split())
        if isinstance(exc, Conflict):  # e.g. the practice of an interrupted earlier load
            line += f" (--replace erases tenant {tenant!r} first)"
        return line
    if isinstance(exc, ConfigurationError):
        return f"MONGODB_URI is not usable ({type(exc).__name__})"
    return f"database error ({type(exc).__name__})"


async def _demo_data(args: argparse.Namespace, s: Settings) -> int:
    from pymongo.errors import InvalidURI

    from app.demo import load_demo
    from app.progress import Progress
    from auth.principal import Principal
    from store.client import build_indexes_now, open_store

    tenant = args.tenant or s.default_tenant
    principal = Principal(tenant, "demo-loader")
    try:
        handle = await open_store(s.mongodb_uri, s.db_name, timeout_s=s.db_timeout_s, password=s.mongo_password)
    except ValueError as exc:  # the driver's URI parser raises some malformed URIs as a plain ValueError
        raise InvalidURI("malformed MONGODB_URI") from exc
    try:
        if args.replace:
            erasing = time.perf_counter()
            bar = Progress()
            try:
                removed = await handle.repo.erase_tenant(principal, lambda done, total: bar("erasing", done, total))
            finally:
                bar.end()
            print(f"erased {removed:,} resources of tenant {tenant!r} in {time.perf_counter() - erasing:.1f}s",
                  file=sys.stderr)
        else:
            existing = await handle.repo.count(principal, "Patient")
            if existing:
                print(f"tenant {tenant!r} already has {existing:,} patients: nothing loaded "
                      "(--replace erases the tenant and loads again)")
                return 0
        started = time.perf_counter()
        progress = Progress()
        try:
            counts = await load_demo(handle.repo, principal, args.patients, seed=args.seed, progress=progress)
        finally:
            progress.end()  # end the progress line, also before an error's line
        await build_indexes_now(handle)  # on devdb: before the first query (store/client.py)
    finally:
        await handle.close()
    elapsed = time.perf_counter() - started
    for rt, n in sorted(counts.items()):
        print(f"{rt:24} {n:>9,}")
    print(f"{'total':24} {sum(counts.values()):>9,}  in {elapsed:.1f}s")
    return 0


def _patients(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _tenant(text: str) -> str:
    from store.types import check_tenant

    try:
        return check_tenant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, False, argparse.SUPPRESS) or not action.option_strings
                or isinstance(action, argparse._VersionAction)):
            return text
        return f"{text} (default: %(default)s)"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fhirgraph")
    except PackageNotFoundError:  # run from a checkout without being installed
        return "unknown (not installed)"


def _formatted(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _Help
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _formatted(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhirgraph", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fhirgraph {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the API server (embedded devdb unless MONGODB_URI is set)")
    serve.add_argument("--host", default=None, help="bind address (default: FHIRGRAPH_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: FHIRGRAPH_PORT, else 8000)")
    serve.add_argument("--demo", type=int, default=0, metavar="N",
                       help="load a demo clinic of N patients at start when the store is empty (default: none)")
    serve.add_argument("--access-log", action="store_true",
                       help="log a line per request: request id, door, route template, status, duration, tenant, "
                            "client (never ids, query strings or headers); default: off")
    serve.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                       help="also serve /metrics, without credentials, on this port (default: FHIRGRAPH_METRICS_PORT, "
                            "else none; keep it off the public network)")
    serve.add_argument("--data-dir", default=None, metavar="D", help=DATA_DIR_HELP)
    serve.set_defaults(func=cmd_serve)

    devdb = sub.add_parser("devdb", help="run the embedded MongoDB-wire-protocol test server (not for production)")
    devdb.add_argument("--host", default="127.0.0.1", help="address to listen on")
    devdb.add_argument("--port", type=int, default=27017, help="port to listen on")
    devdb.add_argument("--data-dir", default=None, metavar="D", help=DATA_DIR_HELP)
    devdb.set_defaults(func=cmd_devdb)

    demo = sub.add_parser("demo-data", help="load a demo clinic into the MongoDB at MONGODB_URI",
                          description="Load a demo clinic into the MongoDB at MONGODB_URI (database "
                                      "FHIRGRAPH_DB_NAME). A tenant that already has patients is left as it is "
                                      "unless --replace is given.")
    demo.add_argument("--patients", type=_patients, default=100, metavar="N",
                      help="how many patients, in households")
    demo.add_argument("--seed", type=int, default=7,
                      help="random seed: the same seed gives the same clinic")
    demo.add_argument("--tenant", default=None, type=_tenant,
                      help="tenant to load into (default: FHIRGRAPH_DEFAULT_TENANT, else 'default')")
    demo.add_argument("--replace", action="store_true",
                      help="erase every resource of the tenant first, then load (default: a tenant that has "
                           "patients is left as it is)")
    demo.set_defaults(func=cmd_demo_data)

    from app.cli_identity import add_parsers

    add_parsers(sub, _tenant)
    _formatted(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from app.settings import problems

    args = build_parser().parse_args(argv)
    try:
        get_settings()
    except ValidationError as exc:
        for line in problems(exc):
            print(f"fhirgraph: invalid setting {line}", file=sys.stderr)
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        # Ctrl+C (SIGINT) is an expected stop: serve has shut down gracefully and uvicorn re-raised the signal,
        # or a command was cut short. The shell's usual 128 + SIGINT, without a traceback.
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
