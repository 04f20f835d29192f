"""FHIR responses, and the one place domain errors become OperationOutcomes (seed 000's error table)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from fhir_rest.statuses import headers_of, status_of
from store import errors
from store.errors import DomainError, mapped

FHIR_JSON = "application/fhir+json; charset=utf-8"

# OperationOutcome.issue.code (http://hl7.org/fhir/issue-type) of each error.
ISSUE_TYPE: dict[type[DomainError], str] = {
    errors.NotFound: "not-found",
    errors.Gone: "deleted",
    errors.Invalid: "invalid",
    errors.NotAcceptable: "not-supported",
    errors.UnsupportedMediaType: "not-supported",
    errors.Conflict: "conflict",
    errors.PreconditionFailed: "conflict",
    errors.InvalidTransition: "business-rule",
    errors.NotAllowed: "not-supported",
    errors.Unauthorized: "login",
    errors.Forbidden: "forbidden",
    errors.TooManyRequests: "throttled",
    errors.TooLarge: "too-costly",
    errors.TimedOut: "timeout",
    errors.Unavailable: "transient",
}


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        return content if isinstance(content, bytes) else orjson.dumps(content)


def operation_outcome(error: DomainError) -> dict[str, Any]:
    """The OperationOutcome of ``error``: the main issue, then one issue per offending element."""
    main: dict[str, Any] = {"severity": "error", "code": _issue_type(error), "diagnostics": error.message}
    if error.paths:
        main["expression"] = error.paths
    issues = [main]
    if error.issues:
        issues.extend({"severity": "error", "code": issue.kind, "diagnostics": f"{issue.path}: {issue.message}",
                       "expression": [issue.path]} for issue in error.issues)
    return {"resourceType": "OperationOutcome", "issue": issues}


def _issue_type(error: DomainError) -> str:
    if isinstance(error, errors.Invalid) and error.unprocessable:
        return "processing"
    found = mapped(ISSUE_TYPE, error)
    return "exception" if found is None else found


def error_reply(error: DomainError) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with Content-Type, body) of ``error``."""
    extra = headers_of(error)
    headers = {**extra, "Content-Type": FHIR_JSON} if extra else {"Content-Type": FHIR_JSON}
    return status_of(error), headers, orjson.dumps(operation_outcome(error))


INTERNAL_ERROR = orjson.dumps({"resourceType": "OperationOutcome", "issue": [
    {"severity": "error", "code": "exception", "diagnostics": "Internal server error"}]})
