"""The services of one running app, typed: built by ``create_app``, the store and the live events filled in by
its lifespan. The doors and background work read it through Protocols of their own (fhir_rest/services.py,
graph/services.py), so none of them imports the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from app.ratelimit import Limiter
from app.settings import Settings
from auth.audit import AuditTrail
from auth.authenticator import Authenticator
from auth.oauth import OAuth
from fhir_rest.bulk.worker import ExportWorker
from store.client import StoreHandle
from store.errors import Unavailable
from store.repository import Repository
from subscriptions.lifecycle import LiveEvents
from subscriptions.relay import Relay
from subscriptions.webhooks import WebhookService


@dataclass
class Services:
    settings: Settings
    authenticator: Authenticator
    store: StoreHandle | None = None
    events: LiveEvents | None = None
    oauth: OAuth | None = None
    audit: AuditTrail | None = None
    limiter: Limiter | None = None  # the per-clinic rate limit, when one is set
    exports: ExportWorker | None = None  # this instance's Bulk Data export worker

    async def admit(self, tenant: str) -> None:
        if self.limiter is not None and self.limiter.take(tenant) is None:
            await self.limiter.first(tenant)

    @property
    def repo(self) -> Repository:
        if self.store is None:
            raise Unavailable("The server is starting; retry shortly")
        return self.store.repo

    @property
    def relay(self) -> Relay | None:
        return self.events.relay if self.events else None

    @property
    def webhooks(self) -> WebhookService | None:
        return self.events.webhooks if self.events else None
