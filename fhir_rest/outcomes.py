"""FHIR responses and the one place errors become OperationOutcomes (seed 000's error table)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from store.errors import StoreError

FHIR_JSON = "application/fhir+json; charset=utf-8"


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        return content if isinstance(content, bytes) else orjson.dumps(content)


def outcome(status: int, code: str, message: str, expression: list[str] | None = None) -> FhirResponse:
    issue: dict[str, Any] = {"severity": "error" if status >= 400 else "information", "code": code,
                             "diagnostics": message}
    if expression:
        issue["expression"] = expression
    return FhirResponse({"resourceType": "OperationOutcome", "issue": [issue]}, status_code=status)


def error_response(exc: StoreError) -> FhirResponse:
    return FhirResponse(exc.outcome(), status_code=exc.status)


async def store_error_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StoreError):
        return error_response(exc)
    return outcome(500, "exception", "Internal server error")
