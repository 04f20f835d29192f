"""GraphQL errors: every failure leaves the API with ``extensions.code``, converted in this one place.

Store errors (store/errors.py) carry their own ``graphql_code``; the door's own errors below carry theirs;
anything else is unexpected and masked — no message, stack trace or patient data leaves the process.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from store.errors import StoreError

log = logging.getLogger("fhirgraph.graphql")

MASKED_MESSAGE = "Unexpected error."


class ApiError(Exception):
    """An error the API reports as is, with ``extensions.code``."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any):
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class ValidationError(ApiError):
    code = "VALIDATION"


class NotFoundError(ApiError):
    code = "NOT_FOUND"


class InvalidTransition(ApiError):
    code = "INVALID_TRANSITION"


class ForbiddenError(ApiError):
    code = "FORBIDDEN"


class VersionConflict(ApiError):
    code = "VERSION_CONFLICT"


def convert(error: GraphQLError) -> GraphQLError:
    """The error a client sees for ``error``."""
    original = error.original_error
    if original is None:
        # Syntax, validation and limit errors: written by graphql-core or our rules, safe to show.
        if error.extensions and "code" in error.extensions:
            return error
        return _copy(error, error.message, {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"})
    if isinstance(original, ApiError):
        return _copy(error, original.message, {**original.extensions, "code": original.code})
    if isinstance(original, StoreError):
        return _copy(error, original.message, {"code": original.graphql_code})
    if isinstance(original, GraphQLError):  # raised by a resolver on purpose (e.g. strawberry permission)
        return convert(original) if original.original_error else _copy(error, original.message,
                                                                       {"code": "BAD_REQUEST"})
    log.error("unexpected error in a resolver at %s: %s", error.path, type(original).__name__,
              exc_info=(type(original), original, original.__traceback__))
    return _copy(error, MASKED_MESSAGE, {"code": "INTERNAL"})


def _copy(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=None, extensions=extensions)


class ErrorCodes(MaskErrors):
    """Strawberry's MaskErrors, mapping instead of blanket masking: see ``convert``."""

    def __init__(self) -> None:
        super().__init__(error_message=MASKED_MESSAGE)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [convert(e) for e in errors]
