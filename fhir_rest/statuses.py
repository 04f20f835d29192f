"""The HTTP status of each domain error (store/errors.py), shared by the REST doors (FHIR and qapi) and by the
composition root for errors raised before a door is reached (authentication, body limits)."""

from __future__ import annotations

from store import errors
from store.errors import DomainError, mapped

STATUS: dict[type[DomainError], int] = {
    errors.NotFound: 404,
    errors.Gone: 410,
    errors.Invalid: 400,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.InvalidTransition: 422,
    errors.NotAllowed: 405,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.TooManyRequests: 429,
    errors.TooLarge: 413,
    errors.TimedOut: 408,
    errors.Unavailable: 503,
}
# What a client is asked to do with its credentials after a 401 (RFC 6750 §3), and after a 403: its credentials
# are good but their scopes do not cover the request (RFC 6750 §3.1 insufficient_scope).
CHALLENGE = 'Bearer realm="fhirgraph"'
INSUFFICIENT_SCOPE = CHALLENGE + ', error="insufficient_scope"'


def status_of(error: DomainError) -> int:
    if isinstance(error, errors.Invalid) and error.unprocessable:
        return 422
    found = mapped(STATUS, error)
    return 500 if found is None else found


def headers_of(error: DomainError) -> dict[str, str]:
    """Headers the status needs: the challenge of a 401 or a 403, the ``Allow`` of a 405 (RFC 9110 §15.5.6),
    ``Retry-After`` of a 429 or 503 that knows it."""
    if isinstance(error, errors.Unauthorized):
        problem = error.details.get("challenge")
        return {"WWW-Authenticate": f'{CHALLENGE}, error="{problem}"' if problem else CHALLENGE}
    if isinstance(error, errors.Forbidden):
        return {"WWW-Authenticate": INSUFFICIENT_SCOPE}
    if isinstance(error, errors.NotAllowed):
        return {"Allow": ", ".join(error.allow)} if error.allow else {}
    if isinstance(error, (errors.TooManyRequests, errors.Unavailable)) and error.retry_after is not None:
        return {"Retry-After": str(max(1, round(error.retry_after)))}
    return {}
