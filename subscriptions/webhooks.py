"""Webhook workers: every instance scans the registered webhooks (FHIR Subscriptions with a rest-hook
channel, both flavours), leases the ones nobody holds (subscriptions/leases.py) and delivers their events in
outbox order, with retries, a dead-letter list, and a delivery log (subscriptions/ledger.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any

import httpx
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from store.errors import DomainError
from store.repository import Repository
from store.types import SystemPrincipal
from subscriptions import leases, ledger
from subscriptions.delivery import SECRET_URL, Webhook, backoff, build_body, post, signed_headers, webhook_of
from subscriptions.relay import LiveEvent
from subscriptions.ssrf import EndpointRefused, resolve_endpoint
from subscriptions.tasks import cancel_and_wait

log = logging.getLogger("fhirgraph.webhooks")

ACTIVE = ("requested", "active")
BATCH = 200


class _Stopped(Exception):
    """The worker no longer owns its webhook (lease lost, webhook disabled or removed)."""


class WebhookService:
    def __init__(self, db: AsyncDatabase[Any], repo: Repository, settings: Any):
        self.db, self.repo, self.settings = db, repo, settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.webhooks: dict[str, Webhook] = {}
        self.workers: dict[str, asyncio.Task[None]] = {}
        self.wakes: dict[str, asyncio.Event] = {}
        self._rescan = asyncio.Event()
        self._checked: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._scan_loop(), name="webhooks")

    async def stop(self) -> None:
        await cancel_and_wait([t for t in (self._task, *self.workers.values()) if t is not None])
        for key in list(self.workers):
            with contextlib.suppress(Exception):
                await leases.release(self.db, key, self.owner)
        await self.client.aclose()

    def on_event(self, tenant: str, event: dict[str, Any]) -> None:
        """Relay listener: wake this tenant's workers; a Subscription write may add or change a webhook."""
        if event.get("resourceType") == "Subscription":
            self._rescan.set()
        for key, wake in self.wakes.items():
            if key.startswith(f"{tenant}/"):
                wake.set()

    # ------------------------------------------------------------------ registry and leases

    async def scan(self) -> dict[str, Webhook]:
        """Every active rest-hook Subscription of every tenant."""
        found: dict[str, Webhook] = {}
        cursor = self.db.Subscription.find({"_sys.deleted": False, "status": {"$in": list(ACTIVE)},
                                            "channel.type": "rest-hook"})
        for doc in await cursor.to_list(None):
            tenant = doc["_sys"]["tenant"]
            resource = {k: v for k, v in doc.items() if k not in ("_id", "_sys")}
            webhook = webhook_of(tenant, resource)
            if webhook is None:
                continue
            webhook.secret = (doc["_sys"].get("sealed") or {}).get(SECRET_URL, "")
            found[webhook.key] = webhook
        return found

    async def _scan_loop(self) -> None:
        while True:
            try:
                await self._scan_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhooks: scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rescan.wait(), self.settings.webhook_scan_interval_s)
            self._rescan.clear()

    async def _scan_once(self) -> None:
        self.webhooks = await self.scan()
        for key, task in list(self.workers.items()):
            if task.done():
                self.workers.pop(key, None)
                self.wakes.pop(key, None)
            elif key not in self.webhooks:
                task.cancel()
        for key, webhook in self.webhooks.items():
            if key in self.workers:
                continue
            if (key, webhook.version) not in self._checked:
                # Subscriptions created through FHIR REST are checked here (qapi checks at registration).
                refused = await check_endpoint(webhook.endpoint, allow_private=self.settings.webhook_allow_private)
                if refused:
                    await self._disable(webhook, f"endpoint refused: {refused}", status="error")
                    continue
                self._checked.add((key, webhook.version))
            await leases.ensure_state(self.db, key, webhook.tenant, webhook.id)
            state = await leases.acquire(self.db, key, self.owner, self.settings.webhook_lease_s)
            if state is None:
                continue
            self.wakes[key] = asyncio.Event()
            self.workers[key] = asyncio.create_task(self._work(key, int(state["cursor"])), name=f"webhook {key}")

    # ------------------------------------------------------------------ one webhook

    async def _work(self, key: str, cursor: int) -> None:
        lease_s = self.settings.webhook_lease_s
        renewed = time.monotonic()
        gap: tuple[int, float] | None = None
        try:
            while True:
                webhook = self._current(key)
                if time.monotonic() - renewed > lease_s / 3:
                    await self._renew(key, None)
                    renewed = time.monotonic()
                await self._replays(webhook)
                docs = await self.db.events.find({"tenant": webhook.tenant, "seq": {"$gt": cursor}}).sort(
                    "seq", ASCENDING).limit(BATCH).to_list(None)
                moved = cursor
                waiting_gap = False
                events = [LiveEvent(doc, self.repo) for doc in docs]
                wanted = [e for e in events if webhook.event_name(e) is not None]
                for doc, event in zip(docs, events, strict=True):
                    seq = int(doc["seq"])
                    if seq != cursor + 1:
                        # A concurrent writer's sequence not yet visible: wait for it, briefly.
                        if gap is None or gap[0] != cursor + 1:
                            gap = (cursor + 1, time.monotonic())
                        if time.monotonic() - gap[1] < self.settings.relay_gap_grace_s:
                            waiting_gap = True
                            break
                    gap = None
                    name = webhook.event_name(event)
                    if name is not None:
                        _prefetch(wanted, event)
                        await self._deliver(key, event, doc, name, seq)
                        renewed = time.monotonic()
                        moved = seq
                    cursor = seq
                if cursor != moved:
                    await self._renew(key, cursor)
                    renewed = time.monotonic()
                if len(docs) == BATCH and not waiting_gap:
                    continue
                wake = self.wakes.get(key)
                if wake is None:
                    return
                timeout = 0.02 if waiting_gap else min(self.settings.relay_poll_interval_s, lease_s / 3)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)
                wake.clear()
        except _Stopped:
            pass
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(leases.release(self.db, key, self.owner))
            raise
        except Exception:
            log.exception("webhooks: worker failed; the lease will be retaken")
        finally:
            self.wakes.pop(key, None)
            self.workers.pop(key, None)

    def _current(self, key: str) -> Webhook:
        webhook = self.webhooks.get(key)
        if webhook is None or webhook.status not in ACTIVE:
            raise _Stopped
        return webhook

    async def _renew(self, key: str, cursor: int | None) -> None:
        if not await leases.renew(self.db, key, self.owner, self.settings.webhook_lease_s, cursor):
            log.warning("webhooks: lease on %s lost; another instance delivers it now", key)
            raise _Stopped

    async def _sleep(self, key: str, seconds: float) -> None:
        """Sleep through a backoff, keeping the lease."""
        deadline = time.monotonic() + seconds
        step = max(0.05, self.settings.webhook_lease_s / 3)
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(step, left))
            await self._renew(key, None)

    async def _attempts(self, key: str, event: LiveEvent, doc: dict[str, Any], name: str, *,
                        replay: bool = False, cursor: int | None = None) -> tuple[str, int, int | None, str | None]:
        """Deliver with retries. Returns (verdict, attempts, last status, last error). On success the
        webhook's cursor moves to ``cursor`` when given."""
        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            webhook = self._current(key)
            body, ctype = await build_body(webhook, event, name)
            outcome = await post(self.client, webhook.endpoint, body, signed_headers(webhook, event.id, body, ctype),
                                 allow_private=s.webhook_allow_private, timeout_s=s.webhook_timeout_s)
            record = ledger.record(self.db, tenant=webhook.tenant, webhook=webhook.id, event=doc, name=name,
                                   attempt=attempt, status=outcome.status, error=outcome.error, ms=outcome.ms,
                                   owner=self.owner, replay=replay)
            if outcome.verdict == "ok" and cursor is not None:
                # The log entry and the cursor move are independent writes: one round trip, not two.
                await asyncio.gather(record, self._renew(key, cursor))
                return "ok", attempt, outcome.status, None
            await record
            if outcome.verdict in ("ok", "gone", "fail"):
                return outcome.verdict, attempt, outcome.status, outcome.error
            if attempt >= s.webhook_max_attempts:
                return "fail", attempt, outcome.status, outcome.error
            await self._sleep(key, backoff(attempt, s.webhook_retry_base_s, s.webhook_retry_max_s,
                                           outcome.retry_after))

    async def _deliver(self, key: str, event: LiveEvent, doc: dict[str, Any], name: str, seq: int) -> None:
        """Deliver one event and move the cursor past it (a dead letter moves it too)."""
        verdict, attempts, status, error = await self._attempts(key, event, doc, name, cursor=seq)
        if verdict == "ok":
            return
        webhook = self._current(key)
        if verdict == "gone":
            await self._disable(webhook, error or "410 Gone")
            raise _Stopped
        if verdict == "fail":
            await ledger.bury(self.db, tenant=webhook.tenant, webhook=webhook.id, event=doc, name=name,
                              attempts=attempts, status=status, error=error)
        await self._renew(key, seq)

    async def _replays(self, webhook: Webhook) -> None:
        for dead in await ledger.queued_replays(self.db, webhook.tenant, webhook.id):
            event = LiveEvent(dead["event"], self.repo)
            verdict, attempts, status, error = await self._attempts(webhook.key, event, dead["event"], dead["type"],
                                                                    replay=True)
            if verdict == "gone":
                await self._disable(webhook, error or "410 Gone")
                raise _Stopped
            await ledger.resolve(self.db, dead["_id"], delivered=verdict == "ok", attempts=attempts,
                                 status=status, error=error)

    async def _disable(self, webhook: Webhook, reason: str, *, status: str = "off") -> None:
        """FHIR R4 Subscription.status ``off`` (or ``error``) with the reason in ``error``."""
        principal = SystemPrincipal(webhook.tenant, "webhooks")
        try:
            current = await self.repo.read(principal, "Subscription", webhook.id)
            await self.repo.update(principal, "Subscription", webhook.id,
                                   {**current, "status": status, "error": reason[:500]})
        except DomainError as exc:
            log.warning("webhooks: could not disable %s: %s", webhook.key, exc)
        webhook.status = status
        self._rescan.set()


def _prefetch(wanted: list[LiveEvent], current: LiveEvent, ahead: int = 4) -> None:
    """Start reading the resources of the next few deliveries while this one is posted."""
    i = wanted.index(current)
    for event in wanted[i + 1:i + 1 + ahead]:
        event.prefetch()


async def check_endpoint(url: str, *, allow_private: bool) -> str | None:
    """Registration-time check: None when acceptable, else why not."""
    try:
        await resolve_endpoint(url, allow_private=allow_private)
    except EndpointRefused as exc:
        return str(exc)
    return None
