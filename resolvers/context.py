"""What a resolver sees of one GraphQL operation: who is calling, the store (guarded by the policy), the event
relay, page sizes and the operation's DataLoaders. The GraphQL door's context (graph/context.py) is this, plus
the transport's request and connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from strawberry.types import Info as _Info

from resolvers.access import Guarded
from resolvers.loaders import Loaders
from store.errors import Unauthorized
from store.types import PrincipalLike
from subscriptions.relay import Relay


class PageSettings(Protocol):
    """The settings resolvers read."""

    @property
    def default_page_size(self) -> int: ...

    @property
    def max_page_size(self) -> int: ...


@dataclass
class Scope:
    principal: PrincipalLike | None
    # The store as the caller may use it: every call asks the policy first (resolvers/access.py).
    repo: Guarded
    settings: PageSettings
    relay: Relay | None = None
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        # Built on first use and kept for the operation (one per HTTP request; a subscription resets them for
        # each event: its context lives as long as the connection).
        if self._loaders is None:
            self._loaders = Loaders(self.repo, self.who)
        return self._loaders

    def reset_loaders(self) -> None:
        """Forget what the loaders hold: a subscription resolves each event afresh on a long-lived context."""
        self._loaders = None

    @property
    def who(self) -> PrincipalLike:
        if self.principal is None:
            raise Unauthorized("Authentication required")
        return self.principal


Info = _Info[Scope, None]
