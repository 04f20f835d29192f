"""Query protection, driven by settings: depth, tokens, aliases, a cost limit, introspection on/off.

The cost of an operation estimates the work it can cause, in objects built (``operation_cost``):

- every object the response can hold costs 1: an object-valued field costs the number of times it can be
  resolved — its parents' count times its own rows: the page size for a paged field (``first``/``last``/
  ``limit``/``pageSize``; without one, the argument's own default — a numbered page's 50 — else the default page
  size for a connection; the cap when the size comes from a variable, since validation runs before variables are
  known), ``LIST_ROWS`` for an unpaged list, 1 otherwise;
- a connection's wrappers (``edges``, ``node``, ``nodes``, ``pageInfo``) and a numbered page's ``items`` cost
  nothing more: the row was counted at the connection or page;
- each object-valued field also costs ``ROUND`` once, wherever it sits, however many parents it has: relations
  resolve through per-request DataLoaders, one store round trip per (loader, depth) (DESIGN.md decision 10);
- scalar fields cost nothing: their number per object is bounded by the token limit, and a scalar is an
  attribute read.

So a page of 100 patients, each with its medical summary, family, appointments and episodes with their
appointments, all at the default page size (20), costs about 60,000 (of which 40,000 are the episodes'
appointments); 100 episodes each holding 100 appointments (a million appointments) about 1,000,000.
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
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
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

PAGE_ARGS = ("first", "last", "limit", "pageSize")
WRAPPERS = ("edges", "node", "nodes", "pageInfo")
# What holds the rows of a paged type (``<T>Connection``, ``<T>Edge``, a numbered ``<T>Page``).
HOLDERS = {"Connection": WRAPPERS, "Edge": WRAPPERS, "Page": ("items",)}
# A store round trip (a DataLoader batch, one per relation and depth) weighs as much as building this many objects.
ROUND = 50
# Rows assumed per parent for a list that takes no page size (a patient's allergies, a family's members).
LIST_ROWS = 10


class _Cost:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], default: int,
                 maximum: int):
        self.schema, self.fragments, self.default, self.maximum = schema, fragments, default, maximum

    def page_size(self, node: FieldNode, field: GraphQLField | None) -> int | None:
        for arg in node.arguments or ():
            if arg.name.value in PAGE_ARGS:
                if isinstance(arg.value, IntValueNode):
                    raw = arg.value.value  # any length: int() of 4,300+ digits raises
                    return self.maximum if len(raw) > 9 else min(max(int(raw), 0), self.maximum)
                if isinstance(arg.value, VariableNode):
                    return self.maximum
        for name in PAGE_ARGS:  # left out: the size the field itself defaults to (pageSize: 50)
            declared = field.args.get(name) if field is not None else None
            if declared is not None and type(declared.default_value) is int:
                return min(max(declared.default_value, 0), self.maximum)
        if node.selection_set is not None and any(
                isinstance(s, FieldNode) and s.name.value in WRAPPERS for s in node.selection_set.selections):
            return self.default  # a connection asked without a size: the default page
        return None

    def of(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None, multiplier: int,
           seen: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                if sel.selection_set is None or sel.name.value.startswith("__"):
                    continue  # scalars and introspection: free
                field = parent.fields.get(sel.name.value) if isinstance(
                    parent, GraphQLObjectType | GraphQLInterfaceType) else None
                child = get_named_type(field.type) if field is not None else None
                if parent is not None and sel.name.value in _holders(parent.name):
                    total += self.of(sel.selection_set, child, multiplier, seen)
                    continue
                size = self.page_size(sel, field)
                if size is None:
                    listed = field is not None and isinstance(get_nullable_type(field.type), GraphQLList)
                    size = LIST_ROWS if listed else 1
                rows = multiplier * size
                total += ROUND + rows + self.of(sel.selection_set, child, rows, seen)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition
                total += self.of(sel.selection_set, self.schema.get_type(cond.name.value) if cond else parent,
                                 multiplier, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = self.fragments.get(name)
                if frag is not None and name not in seen:
                    total += self.of(frag.selection_set, self.schema.get_type(frag.type_condition.name.value),
                                     multiplier, seen | {name})
        return total


def _holders(type_name: str) -> tuple[str, ...]:
    return next((fields for suffix, fields in HOLDERS.items() if type_name.endswith(suffix)), ())


def operation_cost(schema: GraphQLSchema, operation: OperationDefinitionNode,
                   fragments: dict[str, FragmentDefinitionNode], *, default: int, maximum: int) -> int:
    """The estimated work of ``operation`` (see the module's docstring)."""
    root = schema.get_root_type(operation.operation)
    return _Cost(schema, fragments, default, maximum).of(operation.selection_set, root, 1)


def cost_rule(max_cost: int, default: int, maximum: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext):
            super().__init__(context)
            doc = context.document
            frags = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
            for d in doc.definitions:
                if isinstance(d, OperationDefinitionNode):
                    cost = operation_cost(context.schema, d, frags, default=default, maximum=maximum)
                    if cost > max_cost:
                        context.report_error(GraphQLError(
                            f"Query cost {cost} exceeds the limit of {max_cost}; ask for smaller pages or fewer "
                            "nested lists.",
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
