"""What the GraphQL door uses of the running app, typed: its settings (``GraphSettings``) and, per request,
the composition root's services object (app/services.py satisfies ``GraphServices``)."""

from __future__ import annotations

from typing import Any, Protocol, cast

from auth.authenticator import Authenticator
from store.repository import Repository
from subscriptions.relay import Relay


class GraphSettings(Protocol):
    @property
    def graphiql(self) -> bool: ...

    @property
    def introspection(self) -> bool: ...

    @property
    def allow_anonymous(self) -> bool: ...

    @property
    def default_page_size(self) -> int: ...

    @property
    def max_page_size(self) -> int: ...

    @property
    def graphql_max_depth(self) -> int: ...

    @property
    def graphql_max_tokens(self) -> int: ...

    @property
    def graphql_max_aliases(self) -> int: ...

    @property
    def graphql_max_cost(self) -> int: ...

    @property
    def graphql_legacy_ws(self) -> bool: ...

    @property
    def connection_init_timeout_s(self) -> float: ...

    @property
    def subscriptions_per_connection(self) -> int: ...

    @property
    def metrics(self) -> bool: ...

    @property
    def tracing(self) -> bool: ...


class GraphServices(Protocol):
    @property
    def repo(self) -> Repository: ...

    @property
    def relay(self) -> Relay | None: ...

    @property
    def authenticator(self) -> Authenticator: ...

    async def admit(self, tenant: str) -> None:
        """Count one request of ``tenant`` against its rate limit (a websocket that authenticated only in
        ``connection_init``, which the HTTP layer could not count); ``TooManyRequests`` over it."""


def services(app: Any) -> GraphServices:
    """The services of the Starlette app serving the request (``request.app``)."""
    return cast(GraphServices, app.state.services)
