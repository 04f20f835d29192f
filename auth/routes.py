"""The authorization server's HTTP endpoints, under ``/auth``, and SMART / OpenID discovery.

Every answer of the OAuth endpoints is RFC 6749-shaped (``error``, ``error_description``; a redirect to the
client once its redirect URI is known good), never HTML except the login and consent pages themselves, and
never a 500. Forms are parsed with the standard library from a body the app's limits already bound.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from authlib.oauth2 import OAuth2Error
from starlette.requests import Request as HttpRequest
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth import pages
from auth.oauth import OAuth
from auth.passwords import verify_password
from auth.server import ORIGIN, Request
from store import metrics
from store.errors import DomainError
from store.logs import described

log = logging.getLogger("fhirgraph.auth")

CSRF_COOKIE = "fhirgraph_csrf"
CSRF_VALUE = re.compile(r"[A-Za-z0-9_-]{32}")  # what secrets.token_urlsafe(24) makes
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PAGE_HEADERS = {**NO_STORE, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"}
MAX_FIELDS = 64
CLIENT_FAILURES = 20  # a client's sign-in attempts per lockout window, in multiples of a user's
PICKER_SIZE = 50


def _oauth(request: HttpRequest) -> OAuth:
    oauth: OAuth | None = getattr(request.app.state.services, "oauth", None)
    if oauth is None:
        raise _Failure("temporarily_unavailable", "The authorization server is starting", 503)
    return oauth


class _Failure(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _error(error: str, description: str, status: int = 400) -> Response:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="fhirgraph"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def _reply(result: tuple[int, Any, Any]) -> Response:
    status, body, headers = result
    headers = dict(headers or [])
    if status in (301, 302, 303, 307):
        return RedirectResponse(headers["Location"], status_code=302, headers=NO_STORE)
    content = orjson.dumps(body) if isinstance(body, dict) else (body or b"")
    headers.setdefault("Content-Type", "application/json")
    headers.update(NO_STORE)
    return Response(content, status_code=status, headers=headers)


async def _fields(request: HttpRequest) -> list[tuple[str, str]]:
    if request.method != "POST":
        return []
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise _Failure("invalid_request", "The body must be application/x-www-form-urlencoded")
    try:
        return parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True,
                         max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise _Failure("invalid_request", "The form could not be read") from None


def _query(request: HttpRequest) -> list[tuple[str, str]]:
    try:
        return parse_qsl(request.url.query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise _Failure("invalid_request", "The query could not be read") from None


# RFC 6749 Appendix A: protocol parameters are visible ASCII (VSCHAR, %x20-7E); only what a person types on the
# sign-in form may be any text.
FREE_TEXT = frozenset({"username", "password"})


def _oauth_request(request: HttpRequest, query: list[tuple[str, str]], form: list[tuple[str, str]],
                   method: str | None = None) -> Request:
    for name, value in (*query, *form):
        if name not in FREE_TEXT and not (value.isascii() and value.isprintable() and name.isascii()):
            raise _Failure("invalid_request", "Parameters must be printable ASCII (RFC 6749 Appendix A)")
    return Request(method or request.method, str(request.url), request.headers, query, form)


def _guarded(handler: Any) -> Any:
    async def endpoint(request: HttpRequest) -> Response:
        try:
            oauth = _oauth(request)
            ORIGIN.set(oauth.origin(request))
            response: Response = await handler(request, oauth)
            return response
        except _Failure as failure:
            return _error(failure.error, failure.description, failure.status)
        except OAuth2Error as error:  # raised outside authlib's own handling (consent validation)
            return _reply(error())
        except DomainError as exc:
            log.warning("authorization server: %s", described(exc))
            return _error("temporarily_unavailable", "Try again shortly", 503)
        except TimeoutError:
            return _error("temporarily_unavailable", "Try again shortly", 503)
        except ValueError:  # authlib refuses to echo what it cannot put in an error description
            return _error("invalid_request", "The request could not be understood")

    endpoint.__name__ = handler.__name__
    return endpoint


# --- authorization code: authorize → login → consent ------------------------------------------------------

async def authorize(request: HttpRequest, oauth: OAuth) -> Response:
    params = _query(request) if request.method == "GET" else await _fields(request)
    checked = await oauth.check_authorization(_oauth_request(request, params, [], "GET"), oauth.origin(request))
    if isinstance(checked, Response):
        return checked
    csrf = _csrf_of(request)
    response = HTMLResponse(pages.login(client_name=checked.client.doc["name"], request=urlencode(params),
                                        csrf=csrf), headers=PAGE_HEADERS)
    _set_csrf(request, response, csrf)
    return response


async def login(request: HttpRequest, oauth: OAuth) -> Response:
    form = dict(await _fields(request))
    _check_csrf(request, form)
    params = _params(form)
    checked = await oauth.check_authorization(_oauth_request(request, params, [], "GET"), oauth.origin(request))
    if isinstance(checked, Response):
        return checked
    client = checked.client
    username, password = form.get("username", "")[:128], form.get("password", "")[:1024]
    # Every attempt is counted before the password is checked (atomically: concurrent guesses are counted too),
    # per user; against spraying one password over many names, a client's wrong passwords are counted too. A
    # success clears the user's count.
    throttle = f"{client.tenant}/{username}"
    per_user = await oauth.identity.failed(throttle, oauth.lockout_s)
    spray = f"client:{client.client_id}"
    per_client = await oauth.identity.failures(spray)
    if per_user > oauth.max_failures or per_client > oauth.max_failures * CLIENT_FAILURES:
        return HTMLResponse(pages.problem("Too many attempts", "Too many failed sign-ins: try again later."),
                            status_code=429, headers={**PAGE_HEADERS, "Retry-After": str(oauth.lockout_s)})
    user = await oauth.identity.user(client.tenant, username) if username else None
    if not await verify_password(user["password"] if user else None, password) or user is None \
            or user.get("disabled"):
        await oauth.identity.failed(spray, oauth.lockout_s)
        csrf = form["csrf"]
        return HTMLResponse(pages.login(client_name=client.doc["name"], request=form.get("request", ""),
                                        csrf=csrf, error="Wrong user name or password.", username=username),
                            status_code=401, headers=PAGE_HEADERS)
    await oauth.identity.succeeded(throttle)
    ticket = oauth.ticket(user["_id"], client.client_id, form.get("request", ""))
    return await _consent_page(oauth, checked, user, form, ticket)


async def consent(request: HttpRequest, oauth: OAuth) -> Response:
    fields = await _fields(request)
    form = dict(fields)
    _check_csrf(request, form)
    params = _params(form)
    req = _oauth_request(request, params, [], "GET")
    checked = await oauth.check_authorization(req, oauth.origin(request))
    if isinstance(checked, Response):
        return checked
    user_id = oauth.read_ticket(form.get("ticket", ""), checked.client.client_id, form.get("request", ""))
    user = await oauth.identity.user(*user_id.split("/", 1)) if user_id else None
    if user is None or user.get("disabled"):
        raise _Failure("access_denied", "The sign-in has expired: start again", 400)
    if form.get("decision") == "find":  # the picker's search: the same page, the patients whose name matches
        return await _consent_page(oauth, checked, user, form, form.get("ticket", ""))
    if form.get("decision") != "allow":
        return _reply(await oauth.server.run(oauth.server.create_authorization_response, req, None,
                                             checked.grant))
    offered = oauth.offered(checked, user)
    approved = [s for s in dict.fromkeys(v for k, v in fields if k == "scope") if s in offered]
    if not approved:
        return _reply(await oauth.server.run(oauth.server.create_authorization_response, req, None,
                                             checked.grant))
    grant_user = await oauth.context(checked, user, approved, form.get("patient"))
    if grant_user is None:
        return await _consent_page(oauth, checked, user, form, form.get("ticket", ""),
                                   error="Choose a patient.")
    # The approved scopes replace the requested ones before authlib issues the code (it re-validates them).
    narrowed = [(k, v) for k, v in params if k != "scope"] + [("scope", " ".join(approved))]
    req = _oauth_request(request, narrowed, [], "GET")
    grant = await oauth.server.run(oauth.server.get_consent_grant, req, grant_user)
    return _reply(await oauth.server.run(oauth.server.create_authorization_response, req, grant_user, grant))


async def _consent_page(oauth: OAuth, checked: Any, user: dict[str, Any], form: dict[str, str], ticket: str,
                        error: str = "") -> Response:
    patients = None
    find = form.get("find", "")
    if oauth.needs_picker(checked, user):
        patients = await oauth.patients(checked.client.tenant, PICKER_SIZE, find)
        if find and not patients and not error:
            error = "No patient's name starts with that."
    return HTMLResponse(pages.consent(client_name=checked.client.doc["name"], user=user["username"],
                                      scopes=oauth.offered(checked, user), request=form.get("request", ""),
                                      csrf=form["csrf"], ticket=ticket, patients=patients, find=find,
                                      error=error), headers=PAGE_HEADERS)


def _params(form: dict[str, str]) -> list[tuple[str, str]]:
    try:
        return parse_qsl(form.get("request", ""), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise _Failure("invalid_request", "The authorization request could not be read") from None


def _csrf_of(request: HttpRequest) -> str:
    """The browser's CSRF secret (double-submit: the cookie and the form carry it): kept while the cookie lives,
    so sign-ins in several tabs of one browser each keep a valid form; a new one for a new browser."""
    kept = request.cookies.get(CSRF_COOKIE, "")
    return kept if CSRF_VALUE.fullmatch(kept) else secrets.token_urlsafe(24)


def _set_csrf(request: HttpRequest, response: Response, value: str) -> None:
    response.set_cookie(CSRF_COOKIE, value, max_age=1800, path="/auth", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def _check_csrf(request: HttpRequest, form: dict[str, str]) -> None:
    cookie, sent = request.cookies.get(CSRF_COOKIE, ""), form.get("csrf", "")
    if not cookie or not sent or not secrets.compare_digest(cookie.encode(), sent.encode()):
        raise _Failure("invalid_request", "The form has expired or did not come from this server: start again")


# --- token, introspection, revocation ---------------------------------------------------------------------

async def token(request: HttpRequest, oauth: OAuth) -> Response:
    fields = await _fields(request)
    req = _oauth_request(request, [], fields)
    result = await oauth.server.run(oauth.server.create_token_response, req)
    grant = dict(fields).get("grant_type", "")[:40]
    _audit_issuance(request, oauth, result, grant)
    metrics.token(grant, "issued" if result[0] == 200 else "refused")
    response = _reply(result)
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="fhirgraph"'
    return response


def _audit_issuance(request: HttpRequest, oauth: OAuth, result: tuple[int, Any, Any], grant: str) -> None:
    """Token issuance and refusal in the audit trail: who got what (never the token itself)."""
    trail = getattr(request.app.state.services, "audit", None)
    if trail is None:
        return
    status, body, _ = result
    principal = None
    if status == 200 and isinstance(body, dict) and isinstance(body.get("access_token"), str):
        principal = oauth.authenticator.principal_of(body["access_token"])
    trail.record_token_issued(principal, status=status, description=f"grant_type={grant}" if grant else None)


async def introspect(request: HttpRequest, oauth: OAuth) -> Response:
    req = _oauth_request(request, [], await _fields(request))
    return _reply(await oauth.server.run(oauth.server.create_endpoint_response, "introspection", req))


async def revoke(request: HttpRequest, oauth: OAuth) -> Response:
    req = _oauth_request(request, [], await _fields(request))
    return _reply(await oauth.server.run(oauth.server.create_endpoint_response, "revocation", req))


async def jwks(request: HttpRequest, oauth: OAuth) -> Response:
    return JSONResponse(oauth.signer.jwks(), headers={"Access-Control-Allow-Origin": "*",
                                                       "Cache-Control": "public, max-age=300"})


async def smart_configuration(request: HttpRequest, oauth: OAuth) -> Response:
    return JSONResponse(oauth.smart_configuration(oauth.origin(request)),
                        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})


async def openid_configuration(request: HttpRequest, oauth: OAuth) -> Response:
    return JSONResponse(oauth.openid_configuration(oauth.origin(request)),
                        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})


def routes() -> list[BaseRoute]:
    from auth import admin

    found: list[BaseRoute] = [
        *admin.routes(),
        Route("/auth/authorize", _guarded(authorize), methods=["GET", "POST"]),
        Route("/auth/login", _guarded(login), methods=["POST"]),
        Route("/auth/consent", _guarded(consent), methods=["POST"]),
        Route("/auth/token", _guarded(token), methods=["POST"]),
        Route("/auth/introspect", _guarded(introspect), methods=["POST"]),
        Route("/auth/revoke", _guarded(revoke), methods=["POST"]),
        Route("/auth/jwks", _guarded(jwks), methods=["GET"]),
        Route("/auth/.well-known/openid-configuration", _guarded(openid_configuration), methods=["GET"]),
        Route("/.well-known/openid-configuration", _guarded(openid_configuration), methods=["GET"]),
    ]
    for prefix in ("/fhir/r4", "/r4"):
        found.append(Route(f"{prefix}/.well-known/smart-configuration", _guarded(smart_configuration),
                           methods=["GET"]))
    return found

