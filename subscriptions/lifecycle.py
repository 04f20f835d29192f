"""Start-up of the live-events machinery: one relay and one webhook service per process (app/main.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from store.repository import Repository
from subscriptions.relay import Relay
from subscriptions.settings import EventSettings
from subscriptions.webhooks import WebhookService, endpoint_guard


@dataclass
class LiveEvents:
    relay: Relay
    webhooks: WebhookService
    stop: Callable[[], Awaitable[None]]


async def startup(repo: Repository, settings: EventSettings, *, change_stream: bool) -> LiveEvents:
    """Start the relay (a change stream on the outbox where the deployment has one) and the webhook workers."""
    relay = Relay(repo, poll_interval=settings.relay_poll_interval_s, gap_grace=settings.relay_gap_grace_s,
                  change_stream=change_stream)
    # Webhook endpoints are checked on every Subscription write, from any door (and again at each delivery).
    guard = endpoint_guard(allow_private=settings.webhook_allow_private)
    repo.guards.setdefault("Subscription", []).append(guard)
    webhooks = WebhookService(repo, settings)
    relay.listeners.append(webhooks.on_event)
    relay.start()
    webhooks.start()

    async def stop() -> None:
        await webhooks.stop()
        await relay.stop()

    return LiveEvents(relay=relay, webhooks=webhooks, stop=stop)
