"""The composition root: ``create_app()`` wires settings, the store, the doors and the event relay."""

from __future__ import annotations

import contextlib
import gc
import logging
import shlex
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from app.audit_writer import WriterProcess
from app.cors import parse_origins
from app.errors import error_reply
from app.front import FrontMiddleware
from app.logs import flush as flush_logs
from app.middleware import BodyLimitMiddleware, BodyTimeoutMiddleware, StoreDeadlineMiddleware
from app.ratelimit import Limiter, RateLimitMiddleware, parse_limits
from app.services import Services
from app.settings import Settings, get_settings
from app.tracing import wanted as otel_wanted
from auth.api_keys import ApiKeys
from auth.audit import AuditSink, AuditTrail, StoreSink
from auth.audit_doors import AuditMiddleware
from auth.authenticator import Authenticator
from auth.middleware import OPEN_PATHS, AuthMiddleware
from auth.policy import authorize
from auth.principal import Principal
from auth.routes import routes as oauth_routes
from auth.startup import start_oauth
from fhir_rest.bulk.worker import ExportWorker
from fhir_rest.qapi.reports import ReportWorker
from fhir_rest.qapi.routes import linking as qapi_linking
from fhir_rest.qapi.routes import mount as qapi_mount
from fhir_rest.read_lane import ReadLane
from fhir_rest.routes import mounts as fhir_mounts
from fhir_rest.services import RestServices
from fhir_rest.statuses import status_of
from graph.errors import code_of as graph_code_of
from graph.schema import routes as graph_routes
from graph.services import GraphServices
from resolvers.patient_import import ImportWorker
from store.client import StoreHandle, build_indexes_now, deadline, open_store
from store.errors import DomainError, NotAllowed, NotFound
from store.params import SUPPORTED_TYPES
from store.validation import warm_models
from subscriptions.lifecycle import startup as events_startup

log = logging.getLogger("fhirgraph")

async def live(request: Request) -> Response:
    """Liveness: the process answers (restart it if not). Never asks the database: a database outage must not
    make an orchestrator restart every app instance."""
    return JSONResponse({"status": "ok"})


async def health(request: Request) -> Response:
    """Readiness (``/health/ready``, and ``/health``): started, and the database answers within
    FHIRGRAPH_HEALTH_TIMEOUT_S — send traffic here only while this is 200."""
    services: Services = request.app.state.services
    store = services.store
    if store is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    if not await _database_answers(store, services.settings.health_timeout_s):
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "devdb" if store.devdb else "mongodb",
                         "replicaSet": store.replica_set})


async def _database_answers(store: StoreHandle, timeout_s: float) -> bool:
    # A server the driver's monitor already found silent is not waited for: server selection waits in
    # half-second steps, past a short deadline.
    if not store.client.topology_description.has_writable_server():
        return False
    try:
        with deadline(timeout_s):  # inside the request's own, longer deadline
            await store.client.admin.command("ping")
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
    return True


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def routing_error(request: Request, exc: Exception) -> Response:
    """Starlette's routing answers (no such route, method not allowed) as domain errors in the door's shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    error: DomainError
    if status == 405:
        allowed = exc.headers.get("Allow", "") if isinstance(exc, HTTPException) and exc.headers else ""
        error = NotAllowed(f"Method {request.method} is not allowed here"
                           + (f" (allowed: {allowed})" if allowed else ""),
                           allow=tuple(m.strip() for m in allowed.split(",") if m.strip()))
    else:
        error = NotFound("No such endpoint")
    code, headers, body = error_reply(request.scope, error)
    return Response(body, status_code=code, headers=headers)


async def _audit_sink(settings: Settings, handle: StoreHandle, observer: str) -> AuditSink:
    """Where the audit trail's batches go (``settings.audit_writer``): a writer process, or this process."""
    if not settings.audit or settings.audit_writer == "inline":
        return StoreSink(handle.repo.audit_log)
    writer = WriterProcess({"uri": handle.devdb.uri if handle.devdb is not None else settings.mongodb_uri,
                            "password": settings.mongo_password, "db": settings.db_name,
                            "timeout_s": settings.db_timeout_s, "observer": observer,
                            "log_level": settings.log_level, "log_format": settings.log_format},
                           answer_s=settings.db_timeout_s * 2 + 5)
    await writer.start()
    return writer


class App(Starlette):
    """Starlette, without its own 500 net in front of ours when the front layer is outermost: the front's nets catch
    every exception of an HTTP request (app/front.py), so Starlette's ``ServerErrorMiddleware`` only cost a frame and
    a coroutine per message sent. With another layer in front (traces) it stays."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if isinstance(stack, ServerErrorMiddleware) and not self.debug and isinstance(stack.app, FrontMiddleware):
            return stack.app
        return stack


def create_app(settings: Settings | None = None, *, demo_patients: int = 0, access_log: bool = False) -> Starlette:
    settings = settings or get_settings()
    default = (Principal(settings.default_tenant, settings.default_subject, scopes=frozenset({"system/*.*"}))
               if settings.allow_anonymous else None)
    services = Services(settings=settings, authenticator=Authenticator(ApiKeys(settings.api_keys), default,
                                                                       base_url=settings.base_url))
    trail = AuditTrail(enabled=settings.audit, batch_size=settings.audit_batch_size,
                       interval_s=settings.audit_interval_s, max_pending=settings.audit_max_pending,
                       default_tenant=settings.default_tenant, shutdown_s=settings.db_timeout_s * 2)
    services.audit = trail
    _rest: RestServices = services  # the doors' views of it (checked by mypy)
    _graph: GraphServices = services
    limiter = Limiter(settings.rate_limit_per_minute, parse_limits(settings.rate_limits),
                      interval_s=settings.rate_limit_sync_interval_s)
    services.limiter = limiter if limiter.enabled else None
    reports = ReportWorker()  # the qapi encounter reports of every tenant sharing the store (store/jobs.py)
    # GraphQL bulk patient imports whose worker is gone (a crash, a restart): resumed here, as their caller
    imports = ImportWorker(authorize=authorize, code_of=graph_code_of, settings=settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        handle = await open_store(settings.mongodb_uri, settings.db_name, timeout_s=settings.db_timeout_s,
                                  password=settings.mongo_password, data_dir=settings.data_dir)
        services.store = handle
        if handle.devdb is not None:
            print(devdb_hint(handle.devdb.uri, settings), flush=True)
        try:
            if limiter.enabled:
                limiter.counters = handle.repo.rate_counters
                await limiter.start()
            if demo_patients:
                await _load_demo_if_empty(handle, settings, demo_patients)
            await trail.start(await _audit_sink(settings, handle, trail.observer))
            services.oauth = await start_oauth(handle.repo, services.authenticator, settings)
            services.events = await events_startup(handle.repo, settings, change_stream=handle.replica_set)
            services.exports = ExportWorker(handle.repo, lease_s=settings.export_lease_s,
                                            scan_interval_s=settings.export_scan_interval_s,
                                            file_max_bytes=settings.export_file_max_bytes, audit=trail)
            await services.exports.start()
            reports.repo = handle.repo
            reports.start()
            imports.start(handle.repo)
            warm_models(SUPPORTED_TYPES)  # imported now, not on each type's first request
            # Everything built at start-up (schemas, FHIR models, settings) lives forever: keep it out of
            # the collector's generations so full collections stay short under load.
            gc.collect()
            gc.freeze()
            # Fewer, larger young collections: with many open websockets the default (700 allocations) makes
            # the collector run between every few subscriber frames, and its pauses become event latency.
            gc.set_threshold(*settings.gc_thresholds)
            yield
        finally:
            await imports.stop()
            await reports.stop()
            with contextlib.suppress(Exception):
                await limiter.stop()  # flushes what only this instance counted
            if services.exports is not None:
                await services.exports.stop()  # its job's lease given up: another instance resumes it at once
            if services.events is not None:
                with contextlib.suppress(Exception):
                    await services.events.stop()
            if services.oauth is not None:
                await services.oauth.watcher.stop()
            await trail.stop()  # before the store closes: a clean shutdown stores every record still held
            await handle.close()
            flush_logs()  # the process ends by its stop signal, before any exit hook could write them
            if settings.tracing:  # likewise for spans
                from app.tracing import shutdown as flush_spans

                flush_spans()

    cors_origins = parse_origins(settings.cors_origins)
    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/health/ready", health, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *oauth_routes(),
        qapi_mount(),
        qapi_linking(),
        *graph_routes(settings, allows_origin=cors_origins.allows),
        *fhir_mounts(),
    ]
    open_paths = (*OPEN_PATHS, "/metrics") if settings.metrics_public else OPEN_PATHS
    tracing = settings.tracing
    if tracing:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        from app import tracing as otel

        otel.setup()
    elif otel_wanted():
        log.warning("OTEL_* variables ask for traces, but the otel extra is not installed "
                    '(pip install "fhirgraph[otel]"): no traces')
    app = App(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            # The request's span (app/tracing.py), around everything else.
            *([Middleware(OpenTelemetryMiddleware, **otel.middleware_options())] if tracing else []),
            # One layer for what used to be five (app/front.py), from the outside in: request ids, metrics, the
            # access log (RequestTelemetry: outermost, so every answer is seen, the 500s too); the error net
            # (SafeErrorsMiddleware: domain errors raised below, by middleware or routes, leave in the door's
            # shape); the allowed hosts; CORS — browser apps (SMART apps, GraphQL front ends) on other origins:
            # preflights answered before authentication, websocket handshakes from pages of other origins
            # refused (app/cors.py); and the same net again, inside CORS: a refusal raised below (401, 403, the
            # rate limit's 429) leaves with the CORS headers, so a browser app can read its status, Retry-After
            # and RateLimit fields.
            Middleware(FrontMiddleware,
                       telemetry=(dict(metrics=settings.metrics, access_log=access_log, tracing=tracing)
                                  if settings.metrics or access_log or tracing else None),
                       allowed_hosts=settings.allowed_hosts, base_url=settings.base_url, origins=cors_origins,
                       credentials=settings.cors_credentials, max_age=settings.cors_max_age_s),
            # The PHI audit trail: outside authentication, so that refusals are recorded too (off: nothing to note,
            # and the doors' ``tell`` finds no notes in the scope).
            *([Middleware(AuditMiddleware, trail=trail, status_of=status_of)] if trail.enabled else []),
            Middleware(AuthMiddleware, authenticator=services.authenticator, open_paths=open_paths),
            # Per-clinic rate limit: before anything answers (the read lane too); discovery and probes are free.
            *([Middleware(RateLimitMiddleware, limiter=limiter, exempt=(*OPEN_PATHS, "/metrics"))]
              if limiter.enabled else []),
            # Reads have no body to limit or wait for: the lane answers them under the store deadline itself.
            Middleware(ReadLane, deadline_s=settings.db_timeout_s),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
            Middleware(BodyTimeoutMiddleware, seconds=settings.http_body_timeout_s),
            # It reads a body whole first (bounded by the two above), then sets the store deadline.
            Middleware(StoreDeadlineMiddleware, seconds=settings.db_timeout_s),
        ],
        exception_handlers={HTTPException: routing_error},
    )
    app.state.services = services
    return app


async def _load_demo_if_empty(handle: StoreHandle, settings: Settings, patients: int) -> None:
    principal = Principal(settings.default_tenant, "demo-loader")
    if await handle.repo.count(principal, "Patient") > 0:
        log.info("demo data not loaded: the store already has patients")
        return
    from app.demo import load_demo

    counts: dict[str, Any] = await load_demo(handle.repo, principal, patients,
                                             progress=lambda phase, done, total: log.info(
                                                 "demo data: %s %s/%s", phase, done, total))
    log.info("demo clinic loaded: %s resources", sum(counts.values()))
    await build_indexes_now(handle)  # the embedded store's, before the first request needs them
    await _demo_logins(handle, principal)


def devdb_hint(uri: str, settings: Settings) -> str:
    """How to reach the embedded store from another shell while ``serve`` runs (the identity commands need it):
    one line, on the console. The URI is a loopback address without credentials."""
    env = f"MONGODB_URI={shlex.quote(uri)}"
    if settings.db_name != Settings.model_fields["db_name"].default:
        env += f" FHIRGRAPH_DB_NAME={shlex.quote(settings.db_name)}"
    return (f"embedded store: register clients and users from another shell while this runs, e.g. "
            f"{env} fhirgraph clients add --name \"My app\" --redirect-uri https://app.example/callback --public")


async def _demo_logins(handle: StoreHandle, principal: Principal) -> None:
    """The demo's SMART client and logins, printed once on the console (never through logging: passwords)."""
    from auth.registry import add_demo

    # An active patient for the patient login: an archived one is in no patient list (GraphQL ``patients``).
    first = {rt: (await handle.repo.search(principal, rt, [("active", "true")], count=1)).resources
             or (await handle.repo.search(principal, rt, [], count=1)).resources for rt in ("Practitioner", "Patient")}
    shown = await add_demo(handle.repo.identity, tenant=principal.tenant,
                           practitioner=first["Practitioner"][0]["id"] if first["Practitioner"] else None,
                           patient=first["Patient"][0]["id"] if first["Patient"] else None)
    if shown is None:
        return
    client = shown["client"]
    lines = [f"demo SMART client: client_id={client['client_id']} (public, PKCE) redirect_uri="
             + " or ".join(client["redirect_uris"])]
    lines += [f"demo login: {u['username']} / {u['password']}  ({u['fhirUser']})" for u in shown["users"]]
    print("\n".join(lines), flush=True)
