"""One webhook delivery: the body of each flavour, its headers, one HTTP POST and what to do next.

Deliveries are at-least-once; the event id travels as ``webhook-id`` (and in the body) so receivers can
drop duplicates. Redirects are never followed. The connection goes to the address the SSRF guard checked.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from store.fhirjson import ident
from store.naming import EXT, SID
from subscriptions import signing
from subscriptions.relay import LiveEvent
from subscriptions.ssrf import EndpointRefused, resolve_endpoint
from subscriptions.taxonomy import QAPI_DATA_KEY, parse_criteria, qapi_name, teleclinic_name

FLAVOUR_SYSTEM = "https://fhirgraph.dev/fhir/CodeSystem/webhook-flavour"
SECRET_URL = EXT["webhook-secret"]
USER_AGENT = "fhirgraph-webhooks/1"
RETRY_AFTER_CEILING_S = 3600.0

Flavour = Literal["teleclinic", "qapi"]


@dataclass
class Webhook:
    """A webhook as registered: a FHIR Subscription (channel rest-hook) of either flavour."""

    tenant: str
    id: str
    endpoint: str
    flavour: Flavour
    criteria: frozenset[str]
    status: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    secret: str = ""

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.id}"

    def event_name(self, event: LiveEvent) -> str | None:
        """The name this webhook receives ``event`` under, or None when it did not subscribe to it."""
        if self.flavour == "qapi":
            return qapi_name(event.type, self.criteria)
        return teleclinic_name(event.type, event.resource_type, self.criteria)


def flavour_of(resource: dict[str, Any]) -> Flavour:
    tags = (resource.get("meta") or {}).get("tag") or []
    qapi = any(t.get("system") == FLAVOUR_SYSTEM and t.get("code") == "qapi" for t in tags)
    return "qapi" if qapi else "teleclinic"


def webhook_of(tenant: str, resource: dict[str, Any]) -> Webhook | None:
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook" or not channel.get("endpoint"):
        return None
    headers = []
    for line in channel.get("header") or []:
        name, sep, value = str(line).partition(":")
        if sep and name.strip() and name.strip().lower() not in _RESERVED:
            headers.append((name.strip(), value.strip()))
    return Webhook(tenant=tenant, id=resource["id"], endpoint=channel["endpoint"], flavour=flavour_of(resource),
                   criteria=parse_criteria(resource.get("criteria")), status=resource.get("status", ""),
                   version=str((resource.get("meta") or {}).get("versionId", "")), headers=headers)


_RESERVED = {"host", "content-type", "content-length", "x-teleclinic-signature", "webhook-id",
             "webhook-timestamp", "webhook-signature", "transfer-encoding", "connection"}


# ---------------------------------------------------------------------- bodies


def _identifier_value(resource: dict[str, Any] | None, system: str) -> Any:
    value = ident(resource or {}, system)
    if value is None:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else value


def qapi_data(event: LiveEvent, resource: dict[str, Any] | None) -> dict[str, Any]:
    """``{"patientId"|"appointmentId"|"episodeId": id}``: the qapi integer id (SPID/SAID) when the resource
    has one, else the FHIR id."""
    key = QAPI_DATA_KEY.get(event.resource_type, "resourceId")
    system = {"Patient": SID["spid"], "Appointment": SID["said"]}.get(event.resource_type)
    value = _identifier_value(resource, system) if system else None
    return {key: value if value is not None else event.resource_id}


async def build_body(webhook: Webhook, event: LiveEvent, name: str) -> tuple[bytes, str]:
    """(body bytes, content type) of a delivery."""
    resource = await event.resource()
    if webhook.flavour == "qapi":
        # Seed 002's payload schema: ``"event": {"type": "string"}`` (the event's name) and ``"data"``; the event id
        # (also the ``webhook-id`` header, stable across retries) and its time ride beside them.
        plain = orjson.dumps({"event": name, "data": qapi_data(event, resource), "id": event.id,
                              "occurredAt": event.occurred_at})
        return signing.qapi_encrypt(webhook.secret, plain).encode(), "text/plain; charset=utf-8"
    body = orjson.dumps({
        "id": event.id,
        "type": name,
        "occurredAt": event.occurred_at,
        "event": {"id": event.id, "type": event.type, "sequence": event.seq, "resourceType": event.resource_type,
                  "resourceId": event.resource_id, "versionId": event.version_id, "patient": event.patient},
        "resource": resource,
    })
    return body, "application/json"


def signed_headers(webhook: Webhook, event_id: str, body: bytes, content_type: str) -> dict[str, str]:
    ts = int(time.time())
    headers = {name: value for name, value in webhook.headers}
    headers.update({
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signing.standard_signature(webhook.secret, event_id, ts, body),
    })
    if webhook.flavour == "teleclinic":
        headers["X-TeleClinic-Signature"] = signing.teleclinic_signature(webhook.secret, body)
    return headers


# ---------------------------------------------------------------------- sending

Verdict = Literal["ok", "retry", "gone", "fail"]


@dataclass
class Outcome:
    verdict: Verdict
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    ms: float = 0.0


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], *,
               allow_private: bool, timeout_s: float) -> Outcome:
    started = time.perf_counter()
    try:
        address = await resolve_endpoint(url, allow_private=allow_private)
    except EndpointRefused as exc:
        return Outcome("fail", error=str(exc))
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    headers = {**headers, "Host": parts.netloc.rpartition("@")[2]}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    try:
        response = await client.post(pinned, content=body, headers=headers, timeout=timeout_s,
                                     follow_redirects=False, extensions=extensions)
    except httpx.TimeoutException:
        return Outcome("retry", error="timeout", ms=_ms(started))
    except httpx.HTTPError as exc:
        return Outcome("retry", error=f"{type(exc).__name__}", ms=_ms(started))
    status = response.status_code
    ms = _ms(started)
    if 200 <= status < 300:
        return Outcome("ok", status, ms=ms)
    if status == 410:
        return Outcome("gone", status, error="endpoint answered 410 Gone", ms=ms)
    if status in (408, 425, 429) or status >= 500:
        return Outcome("retry", status, error=f"HTTP {status}", retry_after=_retry_after(response), ms=ms)
    if 300 <= status < 400:
        return Outcome("fail", status, error=f"HTTP {status} redirect (not followed)", ms=ms)
    return Outcome("fail", status, error=f"HTTP {status}", ms=ms)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isascii() and value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential backoff with jitter (attempt 1 → ~base, capped); a ``Retry-After`` wins (up to an hour)."""
    if retry_after is not None:
        return min(RETRY_AFTER_CEILING_S, retry_after)
    ceiling: float = min(cap, base * 2.0 ** (attempt - 1))
    jitter: float = random.uniform(0, ceiling / 2)
    return ceiling / 2 + jitter
