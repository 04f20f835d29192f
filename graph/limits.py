"""Query protection, driven by settings: depth, tokens, aliases, a cost limit, introspection on/off.

The cost of an operation: every field selected costs 1 per time it can be resolved; below a field taking
``first``/``last`` everything is multiplied by the page size asked for (default when absent, the cap when it
comes from a variable, since validation runs before variables are known).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

from graph.services import GraphSettings

PAGE_ARGS = ("first", "last", "limit")


def operation_cost(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], *,
                   default: int, maximum: int, multiplier: int = 1, seen: frozenset[str] = frozenset()) -> int:
    if selection_set is None:
        return 0
    total = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            total += multiplier
            size = None
            for arg in sel.arguments or ():
                if arg.name.value in PAGE_ARGS:
                    if isinstance(arg.value, IntValueNode):
                        raw = arg.value.value  # any length: int() of 4,300+ digits raises
                        size = maximum if len(raw) > 9 else min(max(int(raw), 0), maximum)
                    elif isinstance(arg.value, VariableNode):
                        size = maximum
            if size is None and sel.selection_set is not None and _is_connection(sel):
                size = default
            total += operation_cost(sel.selection_set, fragments, default=default, maximum=maximum,
                                    multiplier=multiplier * (size if size is not None else 1), seen=seen)
        elif isinstance(sel, InlineFragmentNode):
            total += operation_cost(sel.selection_set, fragments, default=default, maximum=maximum,
                                    multiplier=multiplier, seen=seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            frag = fragments.get(name)
            if frag is not None and name not in seen:
                total += operation_cost(frag.selection_set, fragments, default=default, maximum=maximum,
                                        multiplier=multiplier, seen=seen | {name})
    return total


def _is_connection(node: FieldNode) -> bool:
    return any(isinstance(s, FieldNode) and s.name.value in ("edges", "nodes", "pageInfo")
               for s in node.selection_set.selections) if node.selection_set else False


def cost_rule(max_cost: int, default: int, maximum: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext):
            super().__init__(context)
            doc = context.document
            frags = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
            for d in doc.definitions:
                if isinstance(d, OperationDefinitionNode):
                    cost = operation_cost(d.selection_set, frags, default=default, maximum=maximum)
                    if cost > max_cost:
                        context.report_error(GraphQLError(
                            f"Query cost {cost} exceeds the limit of {max_cost}; ask for smaller pages.",
                            d, extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": max_cost}))

    return CostLimit


def guarded(rule: type[ValidationRule]) -> type[ValidationRule]:
    """``rule``, reporting a literal it cannot read (strawberry's depth limiter converts every argument literal
    with ``int()``/``float()``, and Python refuses an int of 4,300 digits) as a validation error."""

    class Guarded(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext):
            try:
                super().__init__(context)
            except ValueError:
                ValidationRule.__init__(self, context)
                context.report_error(GraphQLError("A number in the operation is too long to read.",
                                                  extensions={"code": "GRAPHQL_VALIDATION_FAILED"}))

    return Guarded


def _not_introspection(ignore: Any) -> bool:
    return str(ignore.field_name).startswith("__")


def extensions(settings: GraphSettings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories (one instance per operation, as strawberry wants). The validation rules are built
    once, here, so that the validation cache recognizes them from one operation to the next."""
    rules = (
        guarded(depth_rule(settings.graphql_max_depth, _not_introspection)),
        alias_rule(settings.graphql_max_aliases),
        cost_rule(settings.graphql_max_cost, settings.default_page_size, settings.max_page_size),
    )
    exts: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(AddValidationRules, list(rules)),
    ]
    if not settings.introspection:
        exts.append(DisableIntrospection)
    return exts
