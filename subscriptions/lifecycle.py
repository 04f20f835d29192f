"""Start-up of the live-events machinery: one relay and one webhook service per process (app/main.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette

from subscriptions.relay import Relay
from subscriptions.webhooks import WebhookService


async def startup(app: Starlette) -> Callable[[], Awaitable[None]]:
    store, settings = app.state.store, app.state.settings
    relay = Relay(store.repo, poll_interval=settings.relay_poll_interval_s, gap_grace=settings.relay_gap_grace_s,
                  change_stream=store.replica_set)
    webhooks = WebhookService(store.repo, settings)
    relay.listeners.append(webhooks.on_event)
    relay.start()
    webhooks.start()
    app.state.relay = relay
    app.state.webhooks = webhooks

    async def cleanup() -> None:
        await webhooks.stop()
        await relay.stop()

    return cleanup
