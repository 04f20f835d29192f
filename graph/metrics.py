"""GraphQL operations in Prometheus (store/metrics.py): latency by operation name and type, errors by
``extensions.code``. Names are the client's, so they are bounded: a name that is not a GraphQL name is
``invalid``, an operation without one ``anonymous``, and past ``MAX_NAMES`` distinct names the rest are ``other``.
Subscriptions are counted while they run (graph/subscription.py), not timed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from store.metrics import GRAPHQL_ERRORS, GRAPHQL_OPERATIONS

MAX_NAMES = 200
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_seen: set[str] = set()


def bounded_name(name: str | None) -> str:
    if not name:
        return "anonymous"
    if not NAME.fullmatch(name):
        return "invalid"
    if name not in _seen:
        if len(_seen) >= MAX_NAMES:
            return "other"
        _seen.add(name)
    return name


class OperationMetrics(SchemaExtension):
    """First in the schema's extension list: it exits last, so it sees the errors as converted (graph/errors.py)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type
        except Exception:  # noqa: BLE001 - no document (a syntax error) or no such operation in it
            kind = None
        if kind is OperationType.SUBSCRIPTION:
            return
        name = bounded_name(context.operation_name)
        GRAPHQL_OPERATIONS.labels(name, kind.value if kind is not None else "invalid").observe(
            time.perf_counter() - started)
        result = context.result
        errors: list[GraphQLError] = list(context.pre_execution_errors or ())
        if result is not None and result.errors and not errors:
            errors = list(result.errors)
        for code in {str((e.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")) for e in errors}:
            GRAPHQL_ERRORS.labels(name, code).inc()
