"""The vendor API's error shapes (seed 002): ``{"error": {"message": ...}}`` with the status of the error, and
the bare ``{"message": ...}`` seed 002 shows for the assistance routes (``Op.bare_errors``) — the one place
domain errors become qapi responses, for every qapi route (404 and 405 included)."""

from __future__ import annotations

import functools

import orjson

from fhir_rest.statuses import headers_of, status_of
from store.errors import DomainError

JSON = "application/json"
PREFIX = "/qapi/v1"


def error_body(message: str, *, bare: bool = False) -> bytes:
    return orjson.dumps({"message": message} if bare else {"error": {"message": message}})


@functools.cache
def _bare_paths() -> frozenset[str]:
    from fhir_rest.qapi.routes import operations  # the table, read once (routes imports every concept module)

    return frozenset(PREFIX + op.path for op in operations() if op.bare_errors)


def bare(path: str) -> bool:
    """Whether seed 002 answers errors of ``path`` as a bare ``{"message"}``."""
    return path.rstrip("/") in _bare_paths()


def error_reply(error: DomainError, path: str = "") -> tuple[int, dict[str, str], bytes]:
    return status_of(error), {**headers_of(error), "Content-Type": JSON}, \
        error_body(error.message, bare=bare(path))
