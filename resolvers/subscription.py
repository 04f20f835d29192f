"""GraphQL subscriptions — owned by the live-events work (issue 4); replaced there. Placeholder so the
schema assembles while both are built."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def events(self) -> AsyncGenerator[str, None]:
        raise NotImplementedError("live events are being built")
        yield ""  # pragma: no cover
