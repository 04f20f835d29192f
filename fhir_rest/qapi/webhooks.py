"""qapi webhooks (seed 002): ``POST/GET/PUT/DELETE /qapi/v1/webhooks[/{webhookId}]``.

A qapi webhook is stored as a FHIR Subscription (channel rest-hook, ``criteria`` = its qapi event names,
``meta.tag`` webhook-flavour|qapi) so both webhook flavours share one registry and one delivery engine. The
``encryptionKey`` is the Subscription's sealed webhook secret: shown on create (and, as the seed shows, in
the delete response), never by reads.

Beyond the seed, for operators of either flavour (the id is the Subscription id):
``GET .../webhooks/{id}/deliveries`` (delivery log), ``GET .../webhooks/{id}/dead-letters`` and
``POST .../webhooks/{id}/dead-letters/replay`` (body ``{"eventIds": [...]}`` optional).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from auth.principal import Principal
from store.errors import Gone, NotFound
from store.naming import EXT
from subscriptions import ledger, signing
from subscriptions.delivery import FLAVOUR_SYSTEM, flavour_of
from subscriptions.taxonomy import QAPI_EVENTS, parse_criteria
from subscriptions.webhooks import check_endpoint

SECRET_URL = EXT["webhook-secret"]
QAPI_TAG = f"{FLAVOUR_SYSTEM}|qapi"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": {"code": status, "message": message}}, status)


def _principal(request: Request) -> Principal | None:
    # The auth middleware has read the caller's key (``Api-Key`` as the seed sends it, or X-API-Key/Bearer).
    principal: Principal | None = request.scope.get("auth")
    return principal


def _view(resource: dict[str, Any], encryption_key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": resource["id"], "endpoint": (resource.get("channel") or {}).get("endpoint"),
                           "events": sorted(parse_criteria(resource.get("criteria")), key=_event_order)}
    if encryption_key is not None:
        out["encryptionKey"] = encryption_key
    return out


def _event_order(name: str) -> int:
    return QAPI_EVENTS.index(name) if name in QAPI_EVENTS else len(QAPI_EVENTS)


async def _body(request: Request) -> tuple[str, list[str]] | Response:
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _error(400, "The body must be JSON")
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object")
    endpoint, events = data.get("endpoint"), data.get("events")
    if not isinstance(endpoint, str) or not endpoint:
        return _error(400, "endpoint is required")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        return _error(400, "events must be a non-empty list of event names")
    unknown = [e for e in events if e not in QAPI_EVENTS]
    if unknown:
        return _error(400, f"Unknown events: {', '.join(unknown[:5])}; allowed: {', '.join(QAPI_EVENTS)}")
    refused = await check_endpoint(endpoint, allow_private=request.app.state.settings.webhook_allow_private)
    if refused:
        return _error(400, f"endpoint refused: {refused}")
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


async def _owned(request: Request, principal: Principal, *, qapi_only: bool = True) -> dict[str, Any] | Response:
    repo = request.app.state.store.repo
    try:
        resource: dict[str, Any] = await repo.read(principal, "Subscription", request.path_params["webhook_id"])
    except (NotFound, Gone):
        return _error(404, "Webhook not found")
    if qapi_only and flavour_of(resource) != "qapi":
        return _error(404, "Webhook not found")
    return resource


async def create_webhook(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _error(401, "Missing or invalid Api-Key")
    parsed = await _body(request)
    if isinstance(parsed, Response):
        return parsed
    endpoint, events = parsed
    key = signing.new_encryption_key()
    resource = _subscription(endpoint, events)
    resource["extension"] = [{"url": SECRET_URL, "valueString": key}]
    result = await request.app.state.store.repo.create(principal, resource)
    return _json(_view(result.resource, key), 201)


async def list_webhooks(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _error(401, "Missing or invalid Api-Key")
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = await request.app.state.store.repo.search(principal, "Subscription", [("_tag", QAPI_TAG)],
                                                         count=100, after=after)
        out.extend(_view(r) for r in page.resources if r.get("status") in ("requested", "active"))
        if not page.next_cursor:
            return _json(out)
        after = page.next_cursor


async def get_webhook(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _error(401, "Missing or invalid Api-Key")
    found = await _owned(request, principal)
    return found if isinstance(found, Response) else _json(_view(found))


async def update_webhook(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _error(401, "Missing or invalid Api-Key")
    found = await _owned(request, principal)
    if isinstance(found, Response):
        return found
    parsed = await _body(request)
    if isinstance(parsed, Response):
        return parsed
    endpoint, events = parsed
    resource = {**_subscription(endpoint, events, found["id"]), "meta": found.get("meta") or {}}
    result = await request.app.state.store.repo.update(principal, "Subscription", found["id"], resource,
                                                       if_match=found["meta"]["versionId"])
    return _json(_view(result.resource))


async def delete_webhook(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _error(401, "Missing or invalid Api-Key")
    found = await _owned(request, principal)
    if isinstance(found, Response):
        return found
    repo = request.app.state.store.repo
    key = (await repo.sealed(principal, "Subscription", found["id"])).get(SECRET_URL)
    await repo.delete(principal, "Subscription", found["id"])
    return _json(_view(found, key))


async def deliveries(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _error(401, "Missing or invalid Api-Key")
    found = await _owned(request, principal, qapi_only=False)
    if isinstance(found, Response):
        return found
    try:
        limit = max(1, min(1000, int(request.query_params.get("limit", "100"))))
    except ValueError:
        return _error(400, "limit must be an integer")
    db = request.app.state.store.repo.db
    return _json(await ledger.deliveries(db, principal.tenant, found["id"], limit))


async def dead_letters(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _error(401, "Missing or invalid Api-Key")
    found = await _owned(request, principal, qapi_only=False)
    if isinstance(found, Response):
        return found
    return _json(await ledger.dead_letters(request.app.state.store.repo.db, principal.tenant, found["id"]))


async def replay(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _error(401, "Missing or invalid Api-Key")
    found = await _owned(request, principal, qapi_only=False)
    if isinstance(found, Response):
        return found
    raw = await request.body()
    ids = None
    if raw.strip():
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _error(400, "The body must be JSON")
        ids = data.get("eventIds") if isinstance(data, dict) else None
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            return _error(400, "eventIds must be a list of event ids")
    queued = await ledger.request_replay(request.app.state.store.repo.db, principal.tenant, found["id"], ids)
    webhooks = getattr(request.app.state, "webhooks", None)
    if webhooks is not None:
        webhooks.on_event(principal.tenant, {})
    return _json({"queued": queued}, 202)


def routes(prefix: str = "") -> list[BaseRoute]:
    base = f"{prefix}/webhooks"
    one = base + "/{webhook_id}"
    return [
        Route(base, create_webhook, methods=["POST"]),
        Route(base, list_webhooks, methods=["GET"]),
        Route(one, get_webhook, methods=["GET"]),
        Route(one, update_webhook, methods=["PUT"]),
        Route(one, delete_webhook, methods=["DELETE"]),
        Route(f"{one}/deliveries", deliveries, methods=["GET"]),
        Route(f"{one}/dead-letters", dead_letters, methods=["GET"]),
        Route(f"{one}/dead-letters/replay", replay, methods=["POST"]),
    ]
