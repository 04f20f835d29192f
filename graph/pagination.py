"""The GraphQL face of the Relay records (resolvers/pagination.py): ``PageInfo``, ``<Type>Edge`` and
``<Type>Connection`` (with ``nodes``, a shortcut for ``edges { node }``)."""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

from graph.record import object_type
from resolvers import pagination
from resolvers.pagination import Edge, PageInfo

T = TypeVar("T")

object_type(PageInfo)
object_type(Edge)


@strawberry.type
class Connection(pagination.Connection[T], Generic[T]):
    @strawberry.field
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


__all__ = ["Connection", "Edge", "PageInfo"]
