"""GraphQL spans (OpenTelemetry, on with app/tracing.py): Strawberry's own extension, recording no values — the
operation span gets the operation's name instead of the query text (literals in it may be patient data), and
resolver arguments are dropped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strawberry.extensions.base_extension import LifecycleStep
from strawberry.extensions.tracing.opentelemetry import OpenTelemetryExtension


def _no_arguments(args: dict[str, Any], info: Any) -> dict[str, Any]:
    return {}


class OperationSpans(OpenTelemetryExtension):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(arg_filter=_no_arguments, **kwargs)

    def on_operation(self) -> Iterator[None]:  # type: ignore[override]
        steps = super().on_operation()
        next(steps)
        self._span_holder[LifecycleStep.OPERATION].set_attribute(
            "query", self.execution_context.operation_name or "anonymous")
        yield
        next(steps, None)
