"""The one error tree. Each error renders itself as a FHIR OperationOutcome; the doors map it to a status.

StoreError
├── NotFound            (404, also: another tenant's resource)
├── Gone                (410, deleted)
├── Invalid             (400 malformed / 422 with ``unprocessable=True``)
├── Forbidden           (403)
├── Conflict            (409, e.g. a slot already booked, a duplicate id)
├── PreconditionFailed  (412, stale If-Match / baseVersion)
├── TooManyRequests     (429)
└── Unavailable         (503, the database could not be reached)
"""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    status = 500
    code = "exception"  # OperationOutcome issue.code (http://hl7.org/fhir/issue-type)
    graphql_code = "INTERNAL"

    def __init__(self, message: str, *, expression: list[str] | None = None,
                 details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.expression = expression or []
        # Extra issues (one per offending element) beside the main one.
        self.details = details or []

    def outcome(self) -> dict[str, Any]:
        issues: list[dict[str, Any]] = []
        main: dict[str, Any] = {"severity": "error", "code": self.code, "diagnostics": self.message}
        if self.expression:
            main["expression"] = self.expression
        issues.append(main)
        issues.extend(self.details)
        return {"resourceType": "OperationOutcome", "issue": issues}


class NotFound(StoreError):
    status = 404
    code = "not-found"
    graphql_code = "NOT_FOUND"


class Gone(StoreError):
    status = 410
    code = "deleted"
    graphql_code = "NOT_FOUND"


class Invalid(StoreError):
    status = 400
    code = "invalid"
    graphql_code = "VALIDATION"

    def __init__(self, message: str, *, unprocessable: bool = False, **kw: Any):
        super().__init__(message, **kw)
        if unprocessable:
            self.status = 422
            self.code = "processing"


class Forbidden(StoreError):
    status = 403
    code = "forbidden"
    graphql_code = "FORBIDDEN"


class Conflict(StoreError):
    status = 409
    code = "conflict"
    graphql_code = "CONFLICT"


class PreconditionFailed(StoreError):
    status = 412
    code = "conflict"
    graphql_code = "VERSION_CONFLICT"


class TooManyRequests(StoreError):
    status = 429
    code = "throttled"
    graphql_code = "RATE_LIMITED"


class Unavailable(StoreError):
    status = 503
    code = "transient"
    graphql_code = "UNAVAILABLE"
