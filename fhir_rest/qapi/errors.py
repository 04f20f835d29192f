"""The vendor API's error shape (seed 002): ``{"error": {"message": ...}}`` with the status of the error —
the one place domain errors become qapi responses, for every qapi route (404 and 405 included)."""

from __future__ import annotations

import orjson

from fhir_rest.statuses import headers_of, status_of
from store.errors import DomainError

JSON = "application/json"


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": {"message": message}})


def error_reply(error: DomainError) -> tuple[int, dict[str, str], bytes]:
    return status_of(error), {**headers_of(error), "Content-Type": JSON}, error_body(error.message)


INTERNAL_ERROR = error_body("Internal server error")
