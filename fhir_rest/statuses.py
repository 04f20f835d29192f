"""The HTTP status of each domain error (store/errors.py), shared by the REST doors (FHIR and qapi) and by the
composition root for errors raised before a door is reached (authentication, body limits)."""

from __future__ import annotations

import math

from store import errors
from store.errors import DomainError, mapped

STATUS: dict[type[DomainError], int] = {
    errors.NotFound: 404,
    errors.Gone: 410,
    errors.Invalid: 400,
    errors.NotAcceptable: 406,
    errors.UnsupportedMediaType: 415,
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
    ``Retry-After`` of a 429 or 503 that knows it (and a rate limit's quota, RateLimit-Policy and RateLimit)."""
    if isinstance(error, errors.Unauthorized):
        problem = error.details.get("challenge")
        return {"WWW-Authenticate": f'{CHALLENGE}, error="{problem}"' if problem else CHALLENGE}
    if isinstance(error, errors.Forbidden):
        return {"WWW-Authenticate": INSUFFICIENT_SCOPE}
    if isinstance(error, errors.NotAllowed):
        return {"Allow": ", ".join(error.allow)} if error.allow else {}
    if isinstance(error, (errors.TooManyRequests, errors.Unavailable)) and error.retry_after is not None:
        retry = max(1, math.ceil(error.retry_after))
        if isinstance(error, errors.TooManyRequests) and error.limit is not None:
            return {"Retry-After": str(retry), **rate_limit_headers(error.limit, error.window_s, 0, retry)}
        return {"Retry-After": str(retry)}
    return {}


# The quota's name in the RateLimit fields: one policy, per clinic (tenant).
RATE_LIMIT_POLICY = "clinic"


def rate_limit_headers(limit: int, window_s: int, remaining: int, reset_s: int) -> dict[str, str]:
    """The quota and what is left of it, as draft-ietf-httpapi-ratelimit-headers-09 (§3, §4) writes them:
    Structured Field Lists (RFC 8941) whose member is the policy's name with parameters — ``q`` the quota and
    ``w`` its window in seconds (RateLimit-Policy); ``r`` the quota units remaining and ``t`` the seconds until
    they are restored (RateLimit)."""
    return {"RateLimit-Policy": f'"{RATE_LIMIT_POLICY}";q={limit};w={window_s}',
            "RateLimit": f'"{RATE_LIMIT_POLICY}";r={max(0, remaining)};t={max(0, reset_s)}'}
