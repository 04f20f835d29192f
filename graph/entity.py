"""What a federated GraphQL type (an Apollo Federation v2 entity, ``@key(fields: "id")``) over a record needs:
how graphql-core recognises its objects — records of the type's base class, in the ``_Entity`` union too — and
how the gateway's ``_entities`` query finds one by id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import strawberry

from resolvers.context import Info
from resolvers.loaders import settle


class Entity:
    record: ClassVar[type]
    find: ClassVar[Callable[..., Any]]  # (scope, id) -> the record, or an awaitable of it

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, cls.record)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Any:
        return await settle(cls.find(info.context, id))
