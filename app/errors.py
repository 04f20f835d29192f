"""Errors raised before or outside a door's own handling (authentication, body limits, the rate limit, routing,
the last net for unexpected exceptions) leave in the shape of the door the request came through; each door's
one converter renders them (GraphQL's in the media type the request's Accept negotiated, as the view's own
answers)."""

from __future__ import annotations

from starlette.types import Scope

from fhir_rest import outcomes
from fhir_rest.qapi import errors as qapi_errors
from fhir_rest.routes import PREFIXES as FHIR_PREFIXES
from fhir_rest.statuses import headers_of, status_of
from graph import errors as graph_errors
from graph.media import content_type, negotiated
from store.errors import DomainError

GRAPHQL_PREFIX = "/graphql"


def error_reply(scope: Scope, error: DomainError) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of ``error`` for the request of ``scope``."""
    path = scope["path"]
    if path.startswith(FHIR_PREFIXES):
        return outcomes.error_reply(error)
    if path.startswith(GRAPHQL_PREFIX):
        media = content_type(negotiated(scope.get("headers", ())))
        return status_of(error), {**headers_of(error), "Content-Type": media}, graph_errors.request_error_body(error)
    # The vendor API and the operational endpoints (/health, /metrics) share the plain JSON shape.
    return qapi_errors.error_reply(error, path)


def internal_reply(scope: Scope) -> tuple[int, dict[str, str], bytes]:
    """The 500 of an unexpected exception: nothing about it but that it happened."""
    path = scope["path"]
    if path.startswith(FHIR_PREFIXES):
        return 500, {"Content-Type": outcomes.FHIR_JSON}, outcomes.INTERNAL_ERROR
    if path.startswith(GRAPHQL_PREFIX):
        return 500, {"Content-Type": content_type(negotiated(scope.get("headers", ())))}, \
            graph_errors.INTERNAL_ERROR
    return 500, {"Content-Type": qapi_errors.JSON}, \
        qapi_errors.error_body("Internal server error", bare=qapi_errors.bare(path))
