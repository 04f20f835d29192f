"""The media type of a GraphQL-over-HTTP response, as the request's ``Accept`` negotiates it: the view's answers
(graph/schema.py) and the errors raised before the view (app/errors.py: authentication, the rate limit, body
limits) leave in the same one."""

from __future__ import annotations

from collections.abc import Iterable

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiate(accept: str) -> str:
    """``GRAPHQL_RESPONSE`` or ``JSON`` for an ``Accept`` value (RFC 9110 §12.5.1); JSON when none is acceptable,
    as GraphQL over HTTP allows for legacy clients."""
    best, best_q = JSON, -1.0
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        mt = fields[0].lower()
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if mt == GRAPHQL_RESPONSE and q > best_q:
            best, best_q = GRAPHQL_RESPONSE, q + 0.001  # preferred on ties, as the spec recommends
        elif mt in (JSON, "application/*", "*/*") and q > best_q:
            best, best_q = JSON, q
    return best


def negotiated(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """``negotiate`` of an ASGI scope's raw headers."""
    for name, value in headers:
        if name == b"accept":
            return negotiate(value.decode("latin-1"))
    return JSON


def content_type(media: str) -> str:
    return media + "; charset=utf-8"
