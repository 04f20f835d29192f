"""OpenTelemetry tracing (the ``otel`` extra): off by default, on with the standard ``OTEL_*`` variables —
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``);
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` keep it off. ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and the exporter's own variables are the SDK's.

Spans: one per request (ASGI), named by route template; one per MongoDB command (PyMongo, command name only —
never the command's documents); the GraphQL operation and its root fields (Strawberry's extension). Nothing of a
request's values is recorded: the path is replaced by its route template, the query string by nothing, the
GraphQL query text by its operation name, resolver arguments are dropped. Log lines carry the trace and span ids
(app/logs.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from starlette.types import Scope

_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.query", "url.full")
_state: dict[str, Any] = {}


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the OTEL_* variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in (
        "opentelemetry.sdk", "opentelemetry.instrumentation.asgi", "opentelemetry.instrumentation.pymongo"))


def setup() -> None:
    """The process's tracer provider, exporter and PyMongo instrumentation (once per process)."""
    if _state:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                                       "fhirgraph")}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    PymongoInstrumentor().instrument(tracer_provider=provider, capture_statement=False)
    _state["provider"] = provider


def middleware_options() -> dict[str, Any]:
    """Keyword arguments of ``OpenTelemetryMiddleware``: no spans per ASGI message, no raw path or query."""
    return {"exclude_spans": ["receive", "send"], "server_request_hook": _redact,
            "default_span_details": _span_details}


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    from app.telemetry import route_of

    method = scope.get("method", "WEBSOCKET") if scope["type"] == "http" else "WEBSOCKET"
    return f"{method} {route_of(scope)}", {}


def _redact(span: Any, scope: Scope) -> None:
    from app.telemetry import route_of

    if span is None or not span.is_recording():
        return
    for name in _URL_ATTRIBUTES:
        span.set_attribute(name, route_of(scope) if name in ("http.target", "url.path") else "")


def route_span(scope: Scope, route: str) -> None:
    """Name the request's span by the route routing found (app/telemetry.py calls it at the end)."""
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        method = scope.get("method", "WEBSOCKET") if scope["type"] == "http" else "WEBSOCKET"
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        for name in ("http.target", "url.path"):
            span.set_attribute(name, route)


def shutdown() -> None:
    provider = _state.get("provider")
    if provider is not None:
        provider.force_flush()
