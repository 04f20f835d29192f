"""The typed context of one GraphQL operation: who is calling, the store, fresh DataLoaders, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as _Info

from resolvers.loaders import Loaders
from store.repository import Repository
from store.types import PrincipalLike


@dataclass
class Context:
    principal: PrincipalLike | None
    repo: Repository
    settings: Any
    request: Any = None
    response: Any = None
    # The graphql-transport-ws connection_init payload; strawberry fills it when the field exists.
    connection_params: dict[str, Any] | None = None
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        # Built on first use and kept for the operation (one per HTTP request; per websocket operation the
        # subscription code may build its own).
        if self._loaders is None:
            self._loaders = Loaders(self.repo, self.who)
        return self._loaders

    def reset_loaders(self) -> None:
        """Forget what the loaders hold: a subscription resolves each event afresh on a long-lived context."""
        self._loaders = None

    @property
    def who(self) -> PrincipalLike:
        from store.errors import Unauthorized

        if self.principal is None:
            raise Unauthorized("Authentication required")
        return self.principal


Info = _Info[Context, None]
