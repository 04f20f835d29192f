"""The GraphQL face of the Relay records (resolvers/pagination.py): ``PageInfo``, ``<Type>Edge`` and
``<Type>Connection`` (with ``nodes``, a shortcut for ``edges { node }``); and ``<Type>Page``, a numbered page."""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

from graph.record import object_type
from resolvers import pagination
from resolvers.pagination import Edge, PageInfo

T = TypeVar("T")

object_type(PageInfo, description="Where a page sits in its list, and the cursors to the pages around it.")
object_type(Edge, description="One item of a page, with its cursor.")
# The item keeps a plain annotation on the record (strawberry resolves its type variable only there), so its
# description is given here.
Edge.__strawberry_definition__.get_field("node").description = "The item."  # type: ignore[attr-defined]


@strawberry.type(description="One page of a list (Relay connection): ask for first/after to page forward, "
                             "last/before to page back.")
class Connection(pagination.Connection[T], Generic[T]):
    # strawberry.field(...) as a decorator is untyped to mypy; the method keeps its own signature
    @strawberry.field(description="The page's items, without cursors (the same as edges { node }).")  # type: ignore[untyped-decorator]
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


@strawberry.type(description="One numbered page of a list (classic paging: page, pageSize and the total), beside "
                             "its Relay connection.")
class Page(pagination.NumberedPage[T], Generic[T]):
    pass


__all__ = ["Connection", "Edge", "Page", "PageInfo"]
