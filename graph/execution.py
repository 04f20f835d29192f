"""The executor of every operation: strawberry's (with the subscription renders of graph/fanout.py), plus a short
path for the commonest field of a large response — a plain attribute holding a scalar or an enum.

graphql-core executes such a field as it does any other: a response path, a resolve info (a 16-field tuple),
the resolver call, two awaitable checks, then ``complete_value``'s walk over the type's wrappers down to
``coerce_output_value``. For a value read straight off the record none of that can change the answer, so the
loop over an object's fields reads the attribute and coerces it in place; whatever the short path cannot answer
alike (a null for a non-null field, a value the type refuses, a missing attribute, an operation with field
middleware such as tracing's) takes graphql-core's own path, which raises the same field errors as before.
The marks (``Leaf``) are set when the schema is built (graph/schema.py ``_plain_fields_direct``)."""

from __future__ import annotations

from typing import Any, NamedTuple

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)
from graphql.pyutils import Path, gather_with_cancel

from graph.fanout import SharedEventExecutor

_MISSING = object()


class Leaf(NamedTuple):
    """A plain field whose value is a scalar or enum: the record's attribute, whether null is allowed, the type."""

    attribute: str
    nullable: bool
    type: GraphQLScalarType | GraphQLEnumType


def leaf_of(field_type: Any, attribute: str) -> Leaf | None:
    """The short path's plan for a plain field of ``field_type`` (None: a list or an object, executed as usual)."""
    nullable = not isinstance(field_type, GraphQLNonNull)
    named = field_type if nullable else field_type.of_type
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return Leaf(attribute, nullable, named)
    return None


class Executor(SharedEventExecutor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._short = not (manager is not None and manager.middlewares)

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any, path: Path | None,
                       grouped_field_set: Any, position_context: Any) -> Any:
        """graphql-core's loop (executor.py ``execute_fields``), the short-path leaves answered in it: no path,
        no ``execute_field`` call, no awaitable check for them."""
        if not self._short:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        fields = parent_type.fields
        try:
            for response_name, field_details_list in grouped_field_set.items():
                value = _short(fields, field_details_list[0].node, source_value)
                if value is not _MISSING:
                    results[response_name] = value
                    continue
                result = super().execute_field(parent_type, source_value, field_details_list,
                                               Path(path, response_name, parent_type.name), position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # as graphql-core: settle what other fields started, they may fail too
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def execute_field(self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Any,
                      position_context: Any) -> Any:
        if self._short:
            value = _short(parent_type.fields, field_details_list[0].node, source)
            if value is not _MISSING:
                return value
        return super().execute_field(parent_type, source, field_details_list, path, position_context)


def _short(fields: dict[str, GraphQLField], node: FieldNode, source: Any) -> Any:
    """The field's value by the short path, or ``_MISSING`` for graphql-core's."""
    field = fields.get(node.name.value)  # (__typename is not among them: the usual path)
    leaf: Leaf | None = getattr(field.resolve, "leaf", None) if field is not None else None
    if leaf is None or node.arguments:
        return _MISSING
    value = getattr(source, leaf.attribute, _MISSING)
    if value is None:
        return None if leaf.nullable else _MISSING
    if value is _MISSING or isinstance(value, Exception):
        return _MISSING
    try:
        coerced = leaf.type.coerce_output_value(value)
    except Exception:  # noqa: BLE001 - the usual path raises it again as the field's error
        return _MISSING
    return _MISSING if coerced is None or coerced is Undefined else coerced
