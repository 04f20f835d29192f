"""qapi webhooks (seed 002): ``POST/GET/PUT/DELETE /qapi/v1/webhooks[/{webhookId}]``.

A qapi webhook is stored as a FHIR Subscription (channel rest-hook, ``criteria`` = its qapi event names,
``meta.tag`` webhook-flavour|qapi) so both webhook flavours share one registry and one delivery engine. The
``encryptionKey`` is the Subscription's sealed webhook secret: shown on create and, as the seed shows, by
``GET /webhooks/{id}`` (never in the list); ``DELETE`` answers no body (204).

Beyond the seed, for operators of either flavour (the id is the Subscription id):
``GET .../webhooks/{id}/deliveries`` (delivery log), ``GET .../webhooks/{id}/dead-letters`` and
``POST .../webhooks/{id}/dead-letters/replay`` (body ``{"eventIds": [...]}`` optional).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from auth.policy import authorize
from auth.principal import Principal
from fhir_rest.qapi.table import Op, Param
from fhir_rest.services import services
from store.errors import Gone, Invalid, NotFound, Unauthorized
from store.naming import EXT
from store.queries import ACTIVE_SUBSCRIPTION
from subscriptions import signing
from subscriptions.delivery import FLAVOUR_SYSTEM, flavour_of
from subscriptions.taxonomy import QAPI_EVENTS, parse_criteria

SECRET_URL = EXT["webhook-secret"]
QAPI_TAG = f"{FLAVOUR_SYSTEM}|qapi"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _principal(request: Request, interaction: str) -> Principal:
    """The caller, when its scopes let it do ``interaction`` on webhooks — they are FHIR Subscriptions, so
    ``system/Subscription.rs`` (or ``.read``) to look, ``.c``/``.u``/``.d`` (or ``.write``) to change them."""
    # The auth middleware has read the caller's key (``Api-Key`` as the seed sends it, or X-API-Key/Bearer).
    principal: Principal | None = request.scope.get("auth")
    if principal is None:
        raise Unauthorized("Missing or invalid Api-Key")
    authorize(principal, interaction, "Subscription")
    return principal


def _view(resource: dict[str, Any], encryption_key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": resource["id"], "endpoint": (resource.get("channel") or {}).get("endpoint"),
                           "events": sorted(parse_criteria(resource.get("criteria")), key=_event_order)}
    if encryption_key is not None:
        out["encryptionKey"] = encryption_key
    return out


def _event_order(name: str) -> int:
    return QAPI_EVENTS.index(name) if name in QAPI_EVENTS else len(QAPI_EVENTS)


async def _body(request: Request) -> tuple[str, list[str]]:
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise Invalid("The body must be JSON") from None
    if not isinstance(data, dict):
        raise Invalid("The body must be a JSON object")
    endpoint, events = data.get("endpoint"), data.get("events")
    if not isinstance(endpoint, str) or not endpoint:
        raise Invalid("endpoint is required", field="endpoint")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise Invalid("events must be a non-empty list of event names", field="events")
    unknown = [e for e in events if e not in QAPI_EVENTS]
    if unknown:
        raise Invalid(f"Unknown events: {', '.join(unknown[:5])}; allowed: {', '.join(QAPI_EVENTS)}",
                      field="events")
    return endpoint, list(dict.fromkeys(events))


def _subscription(endpoint: str, events: list[str], rid: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"tag": [{"system": FLAVOUR_SYSTEM, "code": "qapi"}]},
        "status": "active",
        "reason": "qapi webhook",
        "criteria": ",".join(events),
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "text/plain"},
    }
    if rid:
        res["id"] = rid
    return res


async def _owned(request: Request, principal: Principal, *, qapi_only: bool = True) -> dict[str, Any]:
    repo = services(request).repo
    try:
        resource: dict[str, Any] = await repo.read(principal, "Subscription", request.path_params["webhook_id"])
    except (NotFound, Gone):
        raise NotFound("Webhook not found") from None
    if qapi_only and flavour_of(resource) != "qapi":
        raise NotFound("Webhook not found")
    return resource


async def create_webhook(request: Request) -> Response:
    principal = _principal(request, "create")
    endpoint, events = await _body(request)
    key = signing.new_encryption_key()
    resource = _subscription(endpoint, events)
    resource["extension"] = [{"url": SECRET_URL, "valueString": key}]
    result = await services(request).repo.create(principal, resource)
    return _json(_view(result.resource, key), 201)


async def list_webhooks(request: Request) -> Response:
    principal = _principal(request, "search")
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = await services(request).repo.search(principal, "Subscription", [("_tag", QAPI_TAG)],
                                                         count=100, after=after)
        out.extend(_view(r) for r in page.resources if r.get("status") in ACTIVE_SUBSCRIPTION)
        if not page.next_cursor:
            return _json(out)
        after = page.next_cursor


async def get_webhook(request: Request) -> Response:
    principal = _principal(request, "read")
    found = await _owned(request, principal)
    key = (await services(request).repo.sealed(principal, "Subscription", found["id"])).get(SECRET_URL)
    return _json(_view(found, key))


async def update_webhook(request: Request) -> Response:
    principal = _principal(request, "update")
    found = await _owned(request, principal)
    endpoint, events = await _body(request)
    resource = {**_subscription(endpoint, events, found["id"]), "meta": found.get("meta") or {}}
    result = await services(request).repo.update(principal, "Subscription", found["id"], resource,
                                                       if_match=found["meta"]["versionId"])
    return _json(_view(result.resource))


async def delete_webhook(request: Request) -> Response:
    principal = _principal(request, "delete")
    found = await _owned(request, principal)
    await services(request).repo.delete(principal, "Subscription", found["id"])
    return Response(status_code=204)


async def deliveries(request: Request) -> Response:
    principal = _principal(request, "read")
    found = await _owned(request, principal, qapi_only=False)
    try:
        limit = max(1, min(1000, int(request.query_params.get("limit", "100"))))
    except ValueError:
        raise Invalid("limit must be an integer", field="limit") from None
    return _json(await services(request).repo.deliveries.log(principal.tenant, found["id"], limit))


async def dead_letters(request: Request) -> Response:
    principal = _principal(request, "read")
    found = await _owned(request, principal, qapi_only=False)
    return _json(await services(request).repo.deliveries.dead_letters(principal.tenant, found["id"]))


async def replay(request: Request) -> Response:
    principal = _principal(request, "update")
    found = await _owned(request, principal, qapi_only=False)
    raw = await request.body()
    ids = None
    if raw.strip():
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Invalid("The body must be JSON") from None
        ids = data.get("eventIds") if isinstance(data, dict) else None
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise Invalid("eventIds must be a list of event ids", field="eventIds")
    queued = await services(request).repo.deliveries.request_replay(principal.tenant, found["id"], ids)
    webhooks = services(request).webhooks
    if webhooks is not None:
        webhooks.on_event(principal.tenant, {})
    return _json({"queued": queued}, 202)


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    base = "/webhooks"
    one = base + "/{webhook_id}"
    tag = "Webhooks"
    return [
        Op("POST", base, create_webhook, "Add Webhook", tag, ok=201, body=s.WEBHOOK_INPUT, reply=s.WEBHOOK_KEYED,
           errors=(400, 415), description="Answers the encryptionKey that decrypts the payloads sent to the "
           "endpoint (AES-256-CBC, key SHA-256(encryptionKey + salt)). A decrypted payload is "
           '`{"event": "patient:created", "data": {"patientId": 201}, "id": "<event id, as the webhook-id header>", '
           '"occurredAt": "<ISO 8601>"}` (`data` names `patientId`, `appointmentId` or `episodeId`).'),
        Op("GET", base, list_webhooks, "Webhooks Collection", tag, reply=s.array(s.WEBHOOK), errors=()),
        Op("GET", one, get_webhook, "Get Webhook", tag, reply=s.WEBHOOK_KEYED, errors=(404,)),
        Op("PUT", one, update_webhook, "Update Webhook", tag, body=s.WEBHOOK_INPUT, reply=s.WEBHOOK,
           errors=(400, 404, 415)),
        Op("DELETE", one, delete_webhook, "Delete Webhook", tag, ok=204, errors=(404,),
           description="Deactivates the webhook."),
        Op("GET", f"{one}/deliveries", deliveries, "Webhook delivery log", tag, reply=s.array(s.ANY_OBJECT),
           params=(Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),), errors=(400, 404),
           extra=True),
        Op("GET", f"{one}/dead-letters", dead_letters, "Webhook dead letters", tag, reply=s.array(s.ANY_OBJECT),
           errors=(404,), extra=True),
        Op("POST", f"{one}/dead-letters/replay", replay, "Replay dead letters", tag, ok=202,
           body=s.obj({"eventIds": s.array(s.STR)}), body_required=False,
           reply=s.obj({"queued": s.INT}, required=("queued",)), errors=(400, 404), extra=True),
    ]
