"""Webhook workers: every instance scans the registered webhooks (FHIR Subscriptions with a rest-hook
channel, both flavours), leases the ones nobody holds (the store's ``webhook_leases``, store/leases.py) and
delivers their events in outbox order (the store's ``OrderedEvents``, the same reader as the relay's), with
retries, a dead-letter list, and a delivery log (the store's ``deliveries``, store/deliveries.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from store.errors import DomainError, Invalid
from store.logs import described
from store.metrics import EVENTS_DELIVERED, WEBHOOK_DEAD_LETTERS, WEBHOOK_DELIVERIES, WEBHOOK_RETRYING
from store.queries import ACTIVE_SUBSCRIPTION
from store.repository import Repository
from store.types import SystemPrincipal
from subscriptions.delivery import SECRET_URL, Webhook, backoff, build_body, post, signed_headers, webhook_of
from subscriptions.relay import LiveEvent
from subscriptions.settings import EventSettings
from subscriptions.ssrf import EndpointRefused, Unresolvable, resolve_endpoint
from subscriptions.tasks import cancel_and_wait

log = logging.getLogger("fhirgraph.webhooks")

BATCH = 200


class _Stopped(Exception):
    """The worker no longer owns its webhook (lease lost, webhook disabled or removed)."""


class WebhookService:
    def __init__(self, repo: Repository, settings: EventSettings):
        self.repo, self.settings = repo, settings
        self.leases, self.deliveries = repo.webhook_leases, repo.deliveries
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.webhooks: dict[str, Webhook] = {}
        self.workers: dict[str, asyncio.Task[None]] = {}
        self.wakes: dict[str, asyncio.Event] = {}
        self._rescan = asyncio.Event()
        self._checked: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._newest: dict[str, int] = {}  # per tenant with workers here: its newest sequence at the last probe
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._scan_loop(), name="webhooks")
        self._probe = asyncio.create_task(self._probe_loop(), name="webhooks-probe")

    async def stop(self) -> None:
        await cancel_and_wait([t for t in (self._task, self._probe, *self.workers.values()) if t is not None])
        for key in list(self.workers):
            with contextlib.suppress(Exception):
                await self.leases.release(key, self.owner)
        await self.client.aclose()

    def on_event(self, tenant: str, event: dict[str, Any]) -> None:
        """Relay listener: wake this tenant's workers; a Subscription write may add or change a webhook."""
        if event.get("resourceType") == "Subscription":
            self._rescan.set()
        self._wake_tenant(tenant)

    def _wake_tenant(self, tenant: str) -> None:
        for key, wake in self.wakes.items():
            if key.startswith(f"{tenant}/"):
                wake.set()

    async def _probe_loop(self) -> None:
        """What wakes idle workers for the events no local write announced (another instance's) and for replays
        queued (perhaps through another instance): per poll interval, one look at each tenant's newest sequence
        and at its queued replays, for all of the tenant's workers here — not a pull and a replay query by each
        worker. A worker also looks by itself every third of its lease (when it renews it), so a probe that
        fails delays deliveries but loses none."""
        while True:
            await asyncio.sleep(self.settings.relay_poll_interval_s)
            try:
                await self._probe_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next tick probes again
                log.warning("webhooks: probe failed: %s", described(exc))

    async def _probe_once(self) -> None:
        tenants = {w.tenant for key, w in self.webhooks.items() if key in self.wakes}
        for gone in set(self._newest) - tenants:
            del self._newest[gone]
        for tenant in tenants:
            newest = await self.repo.outbox.last_seq(tenant)
            if newest != self._newest.get(tenant):
                self._newest[tenant] = newest
                self._wake_tenant(tenant)
            if queued := await self.deliveries.replays_queued(tenant):  # only the workers they are for
                for key, webhook in self.webhooks.items():
                    if webhook.tenant == tenant and webhook.id in queued and (wake := self.wakes.get(key)) is not None:
                        wake.set()

    # ------------------------------------------------------------------ registry and leases

    async def scan(self) -> dict[str, Webhook]:
        """Every active rest-hook Subscription of every tenant."""
        found: dict[str, Webhook] = {}
        for hook in await self.repo.active_rest_hooks():
            webhook = webhook_of(hook.tenant, hook.resource)
            if webhook is None:
                continue
            webhook.secret = hook.sealed.get(SECRET_URL, "")
            found[webhook.key] = webhook
        return found

    async def _scan_loop(self) -> None:
        while True:
            try:
                await self._scan_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop goes on; the next scan retries
                log.error("webhooks: scan failed: %s", described(exc))
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
                # Every door's writes pass the store's write guard for Subscription endpoints (endpoint_guard);
                # checked again here for what the guard let through: a host that did not resolve at write time,
                # and Subscriptions stored without it (bulk_load, older data) or under another allow-private setting.
                refused = await check_endpoint(webhook.endpoint, allow_private=self.settings.webhook_allow_private)
                if refused:
                    await self._disable(webhook, f"endpoint refused: {refused}", status="error")
                    continue
                self._checked.add((key, webhook.version))
            await self._ensure_state(webhook)
            state = await self.leases.acquire(key, self.owner, self.settings.webhook_lease_s)
            if state is None:
                continue
            self.wakes[key] = asyncio.Event()
            self.workers[key] = asyncio.create_task(self._work(key, int(state["cursor"])), name=f"webhook {key}")

    async def _ensure_state(self, webhook: Webhook) -> None:
        """A new webhook's cursor starts at the event that created it (else at its tenant's newest event)."""
        if await self.leases.get(webhook.key) is not None:
            return
        start = await self.repo.outbox.first_seq(webhook.tenant, "Subscription", webhook.id)
        if start is None:
            start = await self.repo.outbox.last_seq(webhook.tenant)
        await self.leases.ensure(webhook.key, start, tenant=webhook.tenant, webhook=webhook.id)

    # ------------------------------------------------------------------ one webhook

    async def _work(self, key: str, cursor: int) -> None:
        lease_s = self.settings.webhook_lease_s
        renewed = time.monotonic()
        try:
            ordered = self.repo.outbox.ordered(self._current(key).tenant, cursor,
                                               gap_grace=self.settings.relay_gap_grace_s)
            while True:
                webhook = self._current(key)
                if time.monotonic() - renewed > lease_s / 3:
                    await self._renew(key, None)
                    renewed = time.monotonic()
                await self._replays(webhook)
                shown = await ordered.pull(BATCH)
                # In sequence order; a concurrent writer's sequence not yet visible is waited for, briefly.
                docs = ordered.take()
                moved = cursor
                events = [LiveEvent(doc, self.repo) for doc in docs]
                wanted = [e for e in events if webhook.event_name(e) is not None]
                for doc, event in zip(docs, events, strict=True):
                    seq = event.seq
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
                if shown == BATCH and not ordered.waiting:
                    continue
                wake = self.wakes.get(key)
                if wake is None:
                    return
                # Woken by a local write (on_event), by the probe (another instance's events, replays), or to renew.
                timeout = 0.02 if ordered.waiting else lease_s / 3
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)
                wake.clear()
        except _Stopped:
            pass
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.leases.release(key, self.owner))
            raise
        except Exception as exc:  # noqa: BLE001 - the lease is released and retaken by a later scan
            log.error("webhooks: worker failed, the lease will be retaken: %s", described(exc))
        finally:
            self.wakes.pop(key, None)
            self.workers.pop(key, None)

    def _current(self, key: str) -> Webhook:
        webhook = self.webhooks.get(key)
        if webhook is None or webhook.status not in ACTIVE_SUBSCRIPTION:
            raise _Stopped
        return webhook

    async def _renew(self, key: str, cursor: int | None) -> None:
        if not await self.leases.renew(key, self.owner, self.settings.webhook_lease_s, cursor):
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
            record = self.deliveries.record(tenant=webhook.tenant, webhook=webhook.id, event=doc, name=name,
                                   attempt=attempt, status=outcome.status, error=outcome.error, ms=outcome.ms,
                                   owner=self.owner, replay=replay)
            if outcome.verdict == "ok" and cursor is not None:
                # The log entry and the cursor move are independent writes: one round trip, not two.
                await asyncio.gather(record, self._renew(key, cursor))
                _count("ok")
                return "ok", attempt, outcome.status, None
            await record
            if outcome.verdict in ("ok", "gone", "fail"):
                _count(outcome.verdict)
                return outcome.verdict, attempt, outcome.status, outcome.error
            if attempt >= s.webhook_max_attempts:
                _count("fail")
                return "fail", attempt, outcome.status, outcome.error
            _count("retry")
            WEBHOOK_RETRYING.inc()
            try:
                await self._sleep(key, backoff(attempt, s.webhook_retry_base_s, s.webhook_retry_max_s,
                                               outcome.retry_after))
            finally:
                WEBHOOK_RETRYING.dec()

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
            WEBHOOK_DEAD_LETTERS.inc()
            await self.deliveries.bury(tenant=webhook.tenant, webhook=webhook.id, event=doc, name=name,
                              attempts=attempts, status=status, error=error)
        await self._renew(key, seq)

    async def _replays(self, webhook: Webhook) -> None:
        for dead in await self.deliveries.queued_replays(webhook.tenant, webhook.id):
            event = LiveEvent(dead["event"], self.repo)
            verdict, attempts, status, error = await self._attempts(webhook.key, event, dead["event"], dead["type"],
                                                                    replay=True)
            if verdict == "gone":
                await self._disable(webhook, error or "410 Gone")
                raise _Stopped
            await self.deliveries.resolve(dead["_id"], delivered=verdict == "ok", attempts=attempts,
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


def _count(verdict: str) -> None:
    """One attempt's outcome (store/metrics.py); a delivered one is also an event delivered."""
    WEBHOOK_DELIVERIES.labels(verdict).inc()
    if verdict == "ok":
        EVENTS_DELIVERED.labels("webhook").inc()


def _prefetch(wanted: list[LiveEvent], current: LiveEvent, ahead: int = 4) -> None:
    """Start reading the resources of the next few deliveries while this one is posted."""
    i = wanted.index(current)
    for event in wanted[i + 1:i + 1 + ahead]:
        event.prefetch()


def endpoint_guard(*, allow_private: bool) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """The store's write guard for Subscriptions (``Repository.guards``): a rest-hook endpoint must be an
    absolute http(s) URL of a public address — whichever door the Subscription is written through."""

    async def guard(resource: dict[str, Any]) -> None:
        channel = resource.get("channel") or {}
        if channel.get("type") != "rest-hook" or resource.get("status") not in ACTIVE_SUBSCRIPTION:
            return
        refused = await check_endpoint(str(channel.get("endpoint") or ""), allow_private=allow_private)
        if refused:
            raise Invalid(f"endpoint refused: {refused}", paths=["Subscription.channel.endpoint"], field="endpoint")

    return guard


async def check_endpoint(url: str, *, allow_private: bool) -> str | None:
    """Registration-time check: None when acceptable, else why not. A host that does not resolve now is
    accepted (its DNS may not be live yet): every delivery resolves and checks the address again."""
    try:
        await resolve_endpoint(url, allow_private=allow_private)
    except Unresolvable:
        return None
    except EndpointRefused as exc:
        return str(exc)
    return None
