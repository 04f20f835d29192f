"""Start-up of the live-events machinery: one relay and one webhook service per process (app/main.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette

from subscriptions.relay import Relay
from subscriptions.webhooks import WebhookService, endpoint_guard


async def startup(app: Starlette) -> Callable[[], Awaitable[None]]:
    store, settings = app.state.store, app.state.settings
    relay = Relay(store.repo, poll_interval=settings.relay_poll_interval_s, gap_grace=settings.relay_gap_grace_s,
                  change_stream=store.replica_set)
    # Webhook endpoints are checked on every Subscription write, from any door (and again at each delivery).
    guard = endpoint_guard(allow_private=settings.webhook_allow_private)
    store.repo.guards.setdefault("Subscription", []).append(guard)
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
