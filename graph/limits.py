"""Query protection, driven by settings: depth, tokens, aliases, a cost limit, introspection on/off.

The cost of an operation: every field selected costs 1 per time it can be resolved; below a field taking
``first``/``last`` everything is multiplied by the page size asked for (default when absent, the cap when it
comes from a variable, since validation runs before variables are known).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
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
    Visitor,
    visit,
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


class LongIntegers(SchemaExtension):
    """An operation with an integer literal too long for Python's ``int()`` (4,300 digits) is refused as it is
    parsed: graphql-core's own check of the literal and strawberry's depth limiter would each crash on it (the
    first reported as an unexpected error, the second as none at all). Cheap for every other operation: one
    scan of the text for such a run of digits."""

    def on_parse(self) -> Iterator[None]:
        yield
        query = self.execution_context.query
        document = self.execution_context.graphql_document
        if query is None or document is None or _LONG_DIGITS is None or not _LONG_DIGITS.search(query):
            return
        found: list[IntValueNode] = []

        class Finder(Visitor):
            def enter_int_value(self, node: IntValueNode, *_: Any) -> None:
                if len(node.value.lstrip("-")) > _MAX_DIGITS:
                    found.append(node)

        visit(document, Finder())
        if found:
            raise GraphQLError("An integer in the operation is too long to read.", found[0],
                               extensions={"code": "GRAPHQL_VALIDATION_FAILED"})


# Python's limit on the digits int() reads (0: none, and then nothing to refuse).
_MAX_DIGITS = sys.get_int_max_str_digits()
_LONG_DIGITS = re.compile(f"[0-9]{{{_MAX_DIGITS + 1}}}") if _MAX_DIGITS else None


def _not_introspection(ignore: Any) -> bool:
    return str(ignore.field_name).startswith("__")


def extensions(settings: GraphSettings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories (one instance per operation, as strawberry wants). The validation rules are built
    once, here, so that the validation cache recognizes them from one operation to the next."""
    rules = (
        depth_rule(settings.graphql_max_depth, _not_introspection),
        alias_rule(settings.graphql_max_aliases),
        cost_rule(settings.graphql_max_cost, settings.default_page_size, settings.max_page_size),
    )
    exts: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        LongIntegers,
        partial(AddValidationRules, list(rules)),
    ]
    if not settings.introspection:
        exts.append(DisableIntrospection)
    return exts
