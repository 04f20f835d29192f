"""The one tree of domain errors. It knows nothing of HTTP or GraphQL: each door maps it in one place —
FHIR REST ``fhir_rest/outcomes.py`` (OperationOutcome + status), the vendor API ``fhir_rest/qapi/errors.py``
(``{"error": {"message": ...}}``), GraphQL ``graph/errors.py`` (``extensions.code``). Driver errors are
translated in the store (``Unavailable``); nothing below a door raises an HTTP exception.

DomainError
├── NotFound            absent — also another tenant's resource, an unknown type or route
├── Gone                deleted
├── Invalid             malformed input (``unprocessable``: well-formed but invalid content), with the element
│   │                   paths and one ``Issue`` per offending element
│   ├── NotAcceptable   no representation the client accepts (``Accept``, ``_format``)
│   └── UnsupportedMediaType  a request body of a media type not taken here (``Content-Type``)
├── Conflict            the current state refuses it (a duplicate, a duplicate request still in flight)
│   ├── SlotTaken       the slot is already booked
│   └── DuplicateIdentifier  another resource of the type already holds an identifier unique per tenant
├── PreconditionFailed  a stale version (If-Match, baseVersion)
├── InvalidTransition   a lifecycle refuses the move (status transitions)
├── NotAllowed          the interaction is never allowed on this target (append-only logs, a method)
├── Unauthorized        no credentials, or bad ones
├── Forbidden           the credentials do not permit it
├── TooManyRequests     a rate limit; ``retry_after`` seconds, the quota (``limit`` per ``window_s``)
├── TooLarge            a request body over the limit
├── TimedOut            the client did not send its request in time
└── Unavailable         the database (or another dependency) cannot answer now; retry

``message`` is shown to the caller who caused the error: it may quote that caller's own input (truncated: a
search value, a body's id), never stored data or another caller's, and it never reaches a log (store/logs.py
logs a domain error's type only).
``details`` are structured, door-neutral facts about the error (the GraphQL door shows them as extensions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Issue:
    """One offending element: its path (``Patient.name[0].family``), what is wrong, and the kind of problem —
    ``structure`` (unknown or misplaced element), ``value`` (wrong type or format), ``required`` (missing),
    ``code-invalid`` (outside its required value set)."""

    path: str
    message: str
    kind: str = "value"


class DomainError(Exception):
    def __init__(self, message: str, *, paths: list[str] | None = None, issues: list[Issue] | None = None,
                 **details: Any):
        super().__init__(message)
        self.message = message
        self.paths = paths or []
        self.issues = issues or []
        self.details = details


class NotFound(DomainError):
    pass


class Gone(DomainError):
    pass


class Invalid(DomainError):
    def __init__(self, message: str, *, unprocessable: bool = False, **kw: Any):
        super().__init__(message, **kw)
        self.unprocessable = unprocessable


class NotAcceptable(Invalid):
    pass


class UnsupportedMediaType(Invalid):
    pass


class Conflict(DomainError):
    pass


class SlotTaken(Conflict):
    pass


class DuplicateIdentifier(Conflict):
    pass


class PreconditionFailed(DomainError):
    """``current``: the stored version, when the failure is a stale If-Match (None: a concurrent change or another
    precondition). The message names the record the FHIR way; the GraphQL API says it in its own words."""

    def __init__(self, message: str, *, current: str | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.current = current


class InvalidTransition(DomainError):
    pass


class NotAllowed(DomainError):
    """``allow``: what may be asked of the target instead, as the request methods (RFC 9110 names) a 405's
    ``Allow`` header lists; reading an append-only resource, say."""

    def __init__(self, message: str, *, allow: tuple[str, ...] = (), **kw: Any):
        super().__init__(message, **kw)
        self.allow = allow


class Unauthorized(DomainError):
    pass


class Forbidden(DomainError):
    pass


class TooManyRequests(DomainError):
    """``retry_after``: seconds until a retry may be admitted; ``limit`` requests per ``window_s`` seconds: the
    quota that refused it (for the RateLimit-Policy and RateLimit headers), None when it is no such quota."""

    def __init__(self, message: str, *, retry_after: float | None = None, limit: int | None = None,
                 window_s: int = 60, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.limit = limit
        self.window_s = window_s


class TooLarge(DomainError):
    pass


class TimedOut(DomainError):
    pass


class Unavailable(DomainError):
    def __init__(self, message: str = "The database is unavailable; retry later", *,
                 retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


def mapped(table: Mapping[type[DomainError], T], error: DomainError) -> T | None:
    """What a door's ``table`` says for ``error``: the entry of its class or of its nearest base class."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return None
