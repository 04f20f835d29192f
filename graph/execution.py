"""The executor of every operation: strawberry's (with the subscription renders of graph/fanout.py), plus a short
path for the commonest field of a large response — a plain attribute holding a scalar or an enum.

graphql-core executes such a field as it does any other: a resolve info (a 16-field tuple), the resolver call,
two awaitable checks, then ``complete_value``'s walk over the type's wrappers down to ``coerce_output_value``.
For a value read straight off the record none of that can change the answer, so the short path reads the
attribute and coerces it; whatever it cannot answer alike (a null for a non-null field, a value the type refuses,
a missing attribute, an operation with field middleware such as tracing's) takes graphql-core's own path, which
raises the same field errors as before.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, Undefined

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

    def execute_field(self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Any,
                      position_context: Any) -> Any:
        if self._short:
            node = field_details_list[0].node
            field = parent_type.fields.get(node.name.value)  # (__typename is not among them: the usual path)
            leaf: Leaf | None = getattr(field.resolve, "leaf", None) if field is not None else None
            if leaf is not None and not node.arguments:
                value = getattr(source, leaf.attribute, _MISSING)
                if value is None:
                    if leaf.nullable:
                        return None
                elif value is not _MISSING and not isinstance(value, Exception):
                    try:
                        coerced = leaf.type.coerce_output_value(value)
                    except Exception:  # noqa: BLE001 - the usual path raises it again as the field's error
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
