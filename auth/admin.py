"""The admin API of the authorization server, under ``/auth/admin``: clients, users and grants of the caller's
own clinic, for a principal holding ``fhirgraph/admin`` (an API key or token granted it explicitly — never
through a wildcard). JSON in and out. Refusals are the domain errors: the app's one error net renders them as
``{"error": {"message": ...}}`` with their status and challenge, as the vendor API answers (app/errors.py)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from auth.oauth import OAuth
from auth.principal import Principal
from auth.registry import ADMIN_SCOPE, add_client, add_user, disable_client, revoke_grant
from store.errors import Forbidden, Invalid, NotFound, Unauthorized, Unavailable

PAGE = 50


def _admin(request: Request) -> tuple[OAuth, Principal]:
    principal: Principal | None = request.scope.get("auth")
    if principal is None or principal.via == "default":  # the trial's anonymous caller is nobody's admin
        raise Unauthorized("Missing or invalid credentials")
    if ADMIN_SCOPE not in principal.scopes:
        raise Forbidden(f"insufficient_scope: requires {ADMIN_SCOPE}")
    oauth: OAuth | None = getattr(request.app.state.services, "oauth", None)
    if oauth is None:
        raise Unavailable("The authorization server is starting; retry shortly")
    return oauth, principal


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise Invalid("The body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Invalid("The body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise Invalid(f"'{name}' must be a non-empty string")
    return value


def _guarded(handler: Any) -> Any:
    """The handler, for an admin of the caller's clinic only."""

    async def endpoint(request: Request) -> Response:
        response: Response = await handler(request, *_admin(request))
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


async def list_clients(request: Request, oauth: OAuth, principal: Principal) -> Response:
    after = request.query_params.get("after") or None
    found = await oauth.identity.clients(principal.tenant, after=after, limit=PAGE + 1)
    shown = [{"client_id": d["_id"], "name": d.get("name"), "public": d.get("public", False),
              "redirect_uris": d.get("redirect_uris", []), "grant_types": d.get("grant_types", []),
              "scope": " ".join(d.get("scope", [])), "disabled": d.get("disabled", False)} for d in found[:PAGE]]
    return JSONResponse({"clients": shown, "next": shown[-1]["client_id"] if len(found) > PAGE else None})


async def create_client(request: Request, oauth: OAuth, principal: Principal) -> Response:
    body = await _json(request)
    uris = body.get("redirect_uris", [])
    scope = body.get("scope")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise Invalid("'redirect_uris' must be an array of strings")
    if scope is not None and not isinstance(scope, str):
        raise Invalid("'scope' must be a space-separated string")
    if scope is not None and ADMIN_SCOPE in scope.split():
        raise Forbidden("The admin scope is granted from the command line only")
    jwks = body.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise Invalid("'jwks' must be a JSON Web Key Set")
    shown = await add_client(oauth.identity, name=_text(body, "name"), tenant=principal.tenant,
                             redirect_uris=uris, public=body.get("public") is True,
                             grant=_text(body, "grant", required=False) or "authorization_code",
                             scopes=scope.split() if scope else None, jwks=jwks,
                             jwks_url=_text(body, "jwks_url", required=False))
    return JSONResponse(shown, status_code=201, headers={"Cache-Control": "no-store"})


async def disable(request: Request, oauth: OAuth, principal: Principal) -> Response:
    client_id = request.path_params["client_id"]
    if not await disable_client(oauth.identity, client_id=client_id, tenant=principal.tenant):
        raise NotFound("No such client in this clinic")
    oauth.tokens.revoked("client", client_id, time.time())
    return JSONResponse({"client_id": client_id, "disabled": True})


async def create_user(request: Request, oauth: OAuth, principal: Principal) -> Response:
    body = await _json(request)
    shown = await add_user(oauth.identity, username=_text(body, "username"), password=_text(body, "password"),
                           fhir_user=_text(body, "fhirUser"), tenant=principal.tenant)
    return JSONResponse(shown, status_code=201)


async def revoke(request: Request, oauth: OAuth, principal: Principal) -> Response:
    body = await _json(request)
    client_id, username = _text(body, "client_id"), _text(body, "username")
    await revoke_grant(oauth.identity, client_id=client_id, tenant=principal.tenant, username=username)
    oauth.tokens.revoked("grant", f"{client_id} {principal.tenant}/{username}", time.time())
    return JSONResponse({"client_id": client_id, "username": username, "revoked": True})


def routes() -> list[BaseRoute]:
    return [
        Route("/auth/admin/clients", _guarded(list_clients), methods=["GET"]),
        Route("/auth/admin/clients", _guarded(create_client), methods=["POST"]),
        Route("/auth/admin/clients/{client_id:str}/disable", _guarded(disable), methods=["POST"]),
        Route("/auth/admin/users", _guarded(create_user), methods=["POST"]),
        Route("/auth/admin/grants/revoke", _guarded(revoke), methods=["POST"]),
    ]
