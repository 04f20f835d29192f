"""The HTTP status of each domain error (store/errors.py), shared by the REST doors (FHIR and qapi) and by the
composition root for errors raised before a door is reached (authentication, body limits)."""

from __future__ import annotations

from store.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    Invalid,
    InvalidTransition,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    TimedOut,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    mapped,
)

STATUS: dict[type[DomainError], int] = {
    NotFound: 404, Gone: 410, Invalid: 400, Conflict: 409, PreconditionFailed: 412, InvalidTransition: 422,
    NotAllowed: 405, Unauthorized: 401, Forbidden: 403, TooManyRequests: 429, TooLarge: 413, TimedOut: 408,
    Unavailable: 503,
}
# What a client is asked to do with its credentials after a 401 (RFC 6750 §3).
CHALLENGE = 'Bearer realm="fhirgraph"'


def status_of(error: DomainError) -> int:
    if isinstance(error, Invalid) and error.unprocessable:
        return 422
    found = mapped(STATUS, error)
    return 500 if found is None else found


def headers_of(error: DomainError) -> dict[str, str]:
    """Headers the status needs: the challenge of a 401, ``Retry-After`` of a 429 or 503 that knows it."""
    if isinstance(error, Unauthorized):
        return {"WWW-Authenticate": CHALLENGE}
    retry_after = getattr(error, "retry_after", None)
    if isinstance(error, TooManyRequests | Unavailable) and retry_after is not None:
        return {"Retry-After": str(max(1, round(retry_after)))}
    return {}
