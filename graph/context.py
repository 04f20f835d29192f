"""The typed context of one GraphQL operation: the resolvers' scope (who is calling, the store, the relay,
settings, fresh DataLoaders — resolvers/context.py), plus the transport's request and connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.types import Info as _Info

from resolvers.context import Scope


@dataclass
class Context(Scope):
    request: Any = None
    response: Any = None
    # The graphql-transport-ws connection_init payload; strawberry fills it when the field exists.
    connection_params: dict[str, Any] | None = None


Info = _Info[Context, None]
