"""GraphQL errors: every failure leaves the API with ``extensions.code``, converted in this one place.

Domain errors (store/errors.py) map to a code below, their ``details`` becoming further extensions; syntax,
validation and limit errors keep the code our rules gave them; anything else is unexpected and masked — no
message, stack trace or patient data leaves the process, and only the exception's type reaches the log.

The convention for errors about an input (every resolver follows it):

- ``extensions.field`` is the GraphQL path of the offending input: the argument, then input fields and list
  indexes, in the schema's names — ``input.dateOfBirth``, ``filter.primaryProviderId``, ``rows.3.email``,
  ``idempotencyKey``. A resolver may name it with the Python (snake_case) names of the input's fields:
  ``field="input.date_of_birth"`` is written ``input.dateOfBirth`` here, so no error mixes ``last_name`` and
  ``firstName``.
- ``message`` speaks the schema's names too ("dateOfBirth must be a date written YYYY-MM-DD") and never the
  store's: no FHIR element paths, search-parameter names or internal values. A resolver checks an input's
  shape before the store sees it; what the store's FHIR gate still refuses (its ``issues``: element paths of
  FHIR JSON the client never wrote) is answered with a neutral message.
- The codes: ``VALIDATION`` (malformed or out-of-range input), ``NOT_FOUND`` (an id that names nothing the
  caller can see, including ids inside inputs and filters), ``CONFLICT`` (a unique value already used, an
  idempotency key reused), ``VERSION_CONFLICT`` (a stale ``baseVersion``), ``INVALID_TRANSITION``;
  ``BAD_REQUEST`` for an HTTP request that cannot be read as GraphQL (not JSON, no query, variables not an
  object), answered with its 4xx status by the view (graph/schema.py).
- A VERSION_CONFLICT's message names the record by the GraphQL type its mutation answers ("The alert changed
  since you read it: version 3 is current; reload and retry"), never the FHIR resource it is stored as.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, GraphQLSchema, get_named_type
from strawberry.extensions import MaskErrors

from auth.audit_doors import tell
from resolvers.model.common import graphql_path
from store import errors
from store.errors import DomainError, mapped
from store.logs import described

log = logging.getLogger("fhirgraph.graphql")

MASKED_MESSAGE = "Unexpected error."
CODES: dict[type[DomainError], str] = {
    errors.NotFound: "NOT_FOUND",
    errors.Gone: "NOT_FOUND",
    errors.Invalid: "VALIDATION",
    errors.Conflict: "CONFLICT",
    errors.SlotTaken: "SLOT_TAKEN",
    errors.PreconditionFailed: "VERSION_CONFLICT",
    errors.InvalidTransition: "INVALID_TRANSITION",
    errors.NotAllowed: "NOT_ALLOWED",
    errors.Unauthorized: "UNAUTHENTICATED",
    errors.Forbidden: "FORBIDDEN",
    errors.TooManyRequests: "TOO_MANY_REQUESTS",
    errors.TooLarge: "PAYLOAD_TOO_LARGE",
    errors.TimedOut: "TIMEOUT",
    errors.Unavailable: "UNAVAILABLE",
}


def code_of(error: DomainError) -> str:
    found = mapped(CODES, error)
    return "INTERNAL" if found is None else found


GATE_MESSAGE = "A value of the input is not valid."


def extensions_of(error: DomainError) -> dict[str, Any]:
    ext = {**error.details, "code": code_of(error)}
    if isinstance(ext.get("field"), str):
        ext["field"] = graphql_path(ext["field"])
    return ext


def message_of(error: DomainError) -> str:
    if isinstance(error, errors.Invalid) and error.issues and "field" not in error.details:
        return GATE_MESSAGE  # the store's FHIR gate: its message is about FHIR JSON the client never wrote
    return error.message


# What a mutation answering these types changes, when it is not the type itself (updateAlert: an alert).
RECORD_OF = {"BulkDismissResult": "alert", "CreatePatientPayload": "patient", "FieldValue": "patient",
             "UpdatePatientPayload": "patient"}


def record_of(schema: GraphQLSchema | None, error: GraphQLError) -> str:
    """The record the operation field that raised ``error`` answers, in words: the GraphQL type of updateAlert
    (Alert) is "alert", of updateVitalSigns "vital signs"."""
    node = error.nodes[0] if error.nodes else None
    roots = (schema.mutation_type, schema.query_type) if schema is not None else ()
    for root in roots:
        if isinstance(node, FieldNode) and root is not None and node.name.value in root.fields:
            name = get_named_type(root.fields[node.name.value].type).name
            return RECORD_OF.get(name) or re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
    return "record"


def version_message(error: errors.PreconditionFailed, record: str) -> str:
    """A stale baseVersion (or a write lost to a concurrent one) in the API's words, not the store's
    ("Flag/… is at version 3")."""
    if error.current is not None:
        return f"The {record} changed since you read it: version {error.current} is current; reload and retry"
    return f"The {record} was changed by someone else at the same time; reload and retry"


def convert(error: GraphQLError, schema: GraphQLSchema | None = None) -> GraphQLError:
    """The error a client sees for ``error`` (``schema``: the executing one, naming the record of a
    VERSION_CONFLICT)."""
    original = error.original_error
    if original is None:
        # Syntax, validation and limit errors: written by graphql-core or our rules, safe to show.
        if error.extensions and "code" in error.extensions:
            return error
        return _copy(error, error.message, {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"})
    if isinstance(original, errors.PreconditionFailed):
        return _copy(error, version_message(original, record_of(schema, error)), extensions_of(original))
    if isinstance(original, DomainError):
        return _copy(error, message_of(original), extensions_of(original))
    if isinstance(original, GraphQLError):  # raised by a resolver on purpose (e.g. strawberry permission)
        return convert(original, schema) if original.original_error else _copy(error, original.message,
                                                                       {"code": "BAD_REQUEST"})
    # The exception's message (and the values in its frames) may carry patient data: its type, the field path
    # and the stack's code locations only.
    log.error("unexpected error in a resolver at %s: %s", _path(error), described(original))
    return _copy(error, MASKED_MESSAGE, {"code": "INTERNAL"})


def _path(error: GraphQLError) -> str:
    # Field names and list indexes only: the schema's names, never values.
    return ".".join(str(p) for p in error.path or ())


def _copy(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, original_error=None, extensions=extensions)


# What an operation's errors amount to as an HTTP status, for the audit trail's outcome (the response is a 200
# either way): a refusal first, then the worst; a code not listed is the client's request (400).
AUDIT_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "CONFLICT": 409, "SLOT_TAKEN": 409,
                "VERSION_CONFLICT": 412, "PAYLOAD_TOO_LARGE": 413, "TOO_MANY_REQUESTS": 429, "INTERNAL": 500,
                "UNAVAILABLE": 503, "TIMEOUT": 504}


def audit_status(errors: list[GraphQLError]) -> int:
    statuses = [AUDIT_STATUS.get(str((e.extensions or {}).get("code")), 400) for e in errors]
    return next((s for s in (401, 403) if s in statuses), None) or max(statuses)


class ErrorCodes(MaskErrors):
    """Strawberry's MaskErrors, mapping instead of blanket masking: see ``convert``. Also tells the audit trail
    (auth/audit_doors.py) an HTTP operation's type and what its errors amount to."""

    def __init__(self) -> None:
        super().__init__(error_message=MASKED_MESSAGE)

    def on_operation(self) -> Iterator[None]:
        yield from super().on_operation()
        ec = self.execution_context
        scope = getattr(getattr(ec.context, "request", None), "scope", None)
        if scope is None or scope.get("type") != "http":  # a subscription's connection is recorded as a whole
            return
        try:
            operation = ec.operation_type.value
        except Exception:  # noqa: BLE001 - no operation (a document that did not parse): nothing to tell
            operation = None
        errors = getattr(ec.result, "errors", None)
        tell(scope, operation=operation, outcome=audit_status(errors) if errors else None)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        schema = self.execution_context.schema._schema
        return [convert(e, schema) for e in errors]


def request_error_body(error: DomainError) -> bytes:
    """A GraphQL-over-HTTP response for an error before execution (authentication, limits)."""
    return orjson.dumps({"errors": [{"message": error.message, "extensions": extensions_of(error)}]})


INTERNAL_ERROR = orjson.dumps({"errors": [{"message": "Internal server error", "extensions": {"code": "INTERNAL"}}]})
