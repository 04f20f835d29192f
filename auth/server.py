"""The OAuth 2.0 / SMART on FHIR authorization server: authlib's grants and endpoints over the store.

authlib's grant classes are synchronous, so every protocol step runs in a worker thread (``run``) and the
store calls they make hop back onto the event loop (``_wait``): the loop never blocks on the store, and the
protocol itself — PKCE, client authentication, RFC 6749 errors, RFC 7523 assertions, RFC 7662 introspection,
RFC 7009 revocation — is authlib's, not ours. What is SMART's is added around it: ``aud``, launch context,
refresh tokens only with ``offline_access``/``online_access``, rotation with replay detection by family,
registered scopes only, RS384/ES384 client assertions of at most five minutes, used once.
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
import time
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Payload, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from auth.models import JWT_AUTH, PUBLIC_AUTH, SECRET_AUTHS, Client, Code, GrantUser, Token, key_set
from auth.registry import ADMIN_SCOPE, REVOCATION_TTL_S
from auth.tokens import AccessTokens
from store.identity import IdentityStore

T = TypeVar("T")
ALL_AUTHS = [*SECRET_AUTHS, PUBLIC_AUTH, JWT_AUTH]
ASSERTION_ALGORITHMS = ["RS384", "ES384", "RS256", "ES256"]
ASSERTION_MAX_S = 300
REFRESH_SCOPES = ("offline_access", "online_access")
PROTOCOL_THREADS = 8

# The public origin of the request being served (issuer and audience), set before the protocol thread starts
# (asyncio.to_thread copies the context).
ORIGIN: contextvars.ContextVar[str] = contextvars.ContextVar("oauth_origin", default="")


@dataclass(frozen=True)
class Lifetimes:
    access_s: int = 900
    refresh_s: int = 90 * 24 * 3600
    code_s: int = 60


class Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: list[tuple[str, str]]):
        self._data: dict[str, str] = {}
        self._list: dict[str, list[str]] = {}
        for name, value in values:
            self._data.setdefault(name, value)
            self._list.setdefault(name, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._list


class Request(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as authlib sees it, built from what the async handler has already read."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], query: list[tuple[str, str]],
                 form: list[tuple[str, str]]):
        super().__init__(method, uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = Payload(query + form if method == "GET" else form + query)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class SmartServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, identity: IdentityStore, tokens: AccessTokens, lifetimes: Lifetimes,
                 loop: asyncio.AbstractEventLoop, *, store_timeout_s: float = 10.0,
                 jwks_allow_private: bool = False):
        super().__init__(scopes_supported=None)
        self.identity = identity
        self.tokens = tokens
        self.lifetimes = lifetimes
        self.loop = loop
        self._timeout = store_timeout_s
        self._jwks: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._jwks_allow_private = jwks_allow_private
        self._jwks_refreshed: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(max_workers=PROTOCOL_THREADS, thread_name_prefix="oauth")
        self.register_token_generator("default", self._generate)
        self.register_grant(CodeGrant, [S256Only(required=True)])
        self.register_grant(RefreshGrant)
        self.register_grant(BackendGrant)
        self.register_client_auth_method(JWT_AUTH, Assertion(self))
        self.register_endpoint(Introspection)
        self.register_endpoint(Revocation)

    # --- the thread bridge ---------------------------------------------------------------------------------

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run a protocol step of authlib's in a thread of the server's own pool (with the caller's context). Its
        store calls need the event loop — and the loop's default executor, for DNS and TLS: protocol steps never
        occupy that one, so they cannot starve what they wait for."""
        context = contextvars.copy_context()
        return await self.loop.run_in_executor(self._pool, context.run, fn, *args)

    def wait(self, coro: Coroutine[Any, Any, T]) -> T:
        """From the protocol thread: run a store call on the event loop and wait for it."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self._timeout)
        except TimeoutError:
            future.cancel()
            raise

    # --- what authlib asks of a framework ------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 128:
            return None
        doc = self.wait(self.identity.client(client_id))
        return Client(doc) if doc is not None and not doc.get("disabled") else None

    def save_token(self, token: dict[str, Any], request: Request) -> None:
        refresh = token.pop("_refresh_doc", None)
        if refresh is not None and token.get("refresh_token"):
            self.wait(self.identity.add_refresh(token["refresh_token"], refresh, self.lifetimes.refresh_s))
            # A replay that revoked the family while this rotation ran: the rotated token goes too (its access
            # tokens are refused anyway, family revocations being timeless).
            if self.wait(self.identity.family_revoked(refresh["family"])):
                self.wait(self.identity.drop_refresh(family=refresh["family"]))

    def create_oauth2_request(self, request: Request) -> Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON requests")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple[int, Any, Any]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def public_key_set(self, client: Client, *, refresh: bool = False) -> KeySet:
        """The client's registered JWKS, or its JWKS URL's: fetched again after five minutes, or sooner when
        ``refresh`` asks (an assertion signed by a key the cached set lacks: the client rotated its keys) — that at
        most once per half minute, so unknown keys cannot make us fetch on every request."""
        if client.doc.get("jwks"):
            return key_set(client.doc["jwks"])
        url = str(client.doc.get("jwks_url") or "")
        cached = self._jwks.get(url)
        now = time.time()
        refetch = refresh and self._jwks_refreshed.get(url, 0.0) < now - 30
        if cached is None or cached[0] < now or refetch:
            if refetch:
                self._jwks_refreshed[url] = now
            try:
                fetched: dict[str, Any] | None = self.wait(_fetch_jwks(url, allow_private=self._jwks_allow_private))
            except Exception:  # noqa: BLE001 - any failure to fetch is the client's; remembered a little while
                fetched = None
            cached = (time.time() + (300 if fetched is not None else 30), fetched)
            if len(self._jwks) > 1000:
                self._jwks.clear()
                self._jwks_refreshed.clear()
            self._jwks[url] = cached
        if cached[1] is None:
            raise InvalidClientError(description="The client's JWKS URL could not be read")
        return key_set(cached[1])

    # --- tokens --------------------------------------------------------------------------------------------

    def _generate(self, grant_type: str, client: Client, user: GrantUser | None = None, scope: str | None = None,
                  expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        origin = ORIGIN.get()
        scope = scope or ""
        scopes = scope.split()
        refresh = include_refresh_token and user is not None and any(s in scopes for s in REFRESH_SCOPES)
        family = (user.family if user is not None else None) or (secrets.token_urlsafe(12) if refresh else None)
        subject = user.subject if user is not None else client.client_id
        issued = self.tokens.issue(
            issuer=origin + "/auth", audience=origin + "/fhir/r4", tenant=client.tenant, subject=subject,
            client_id=client.client_id, scope=scope, lifetime_s=self.lifetimes.access_s,
            user=user.fhir_user if user is not None else None,
            patient=user.patient if user is not None else None,
            family=family)
        token: dict[str, Any] = {"access_token": issued.token, "token_type": "Bearer",
                                 "expires_in": issued.expires_in, "scope": scope}
        if user is not None and user.patient:  # the consent step decided the context (auth/routes.py)
            token["patient"] = user.patient
        if user is not None and user.encounter and "launch" in scopes:
            token["encounter"] = user.encounter
            token["fhirContext"] = [{"reference": f"Encounter/{user.encounter}"}]  # SMART 2.0
        if user is not None and user.fhir_user and "openid" in scopes:
            token["id_token"] = self._id_token(origin, client, user, scopes)
        if refresh and user is not None:
            token["refresh_token"] = secrets.token_urlsafe(32)
            token["_refresh_doc"] = {"client_id": client.client_id, "tenant": client.tenant, "scope": scope,
                                     **user.context(), "family": family, "user": user.subject}
        return token

    def _id_token(self, origin: str, client: Client, user: GrantUser, scopes: list[str]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": origin + "/auth", "sub": user.subject, "aud": client.client_id,
                                  "iat": now, "exp": now + self.lifetimes.access_s,
                                  "auth_time": user.auth_time or now}  # when the user signed in, not now
        if "fhirUser" in scopes and user.fhir_user:
            claims["fhirUser"] = f"{origin}/fhir/r4/{user.fhir_user}"
        if user.nonce:
            claims["nonce"] = user.nonce
        return self.tokens.signer.sign(claims)

    def token_of(self, value: str, hint: str | None) -> Token | None:
        """An access or refresh token presented to introspection or revocation, or None."""
        if not isinstance(value, str) or not value or len(value) > 8192:
            return None
        if hint != "refresh_token" and value.count(".") == 2:
            claims = self.tokens.claims(value)
            if claims is not None:
                return Token("access_token", claims["client_id"], claims["tenant"], claims["scope"],
                             float(claims["exp"]), data=claims)
        if hint == "access_token" and value.count(".") == 2:
            return None
        doc = self.wait(self.identity.refresh_doc(value))
        if doc is None:
            return None
        return Token("refresh_token", doc["client_id"], doc["tenant"], doc["scope"],
                     doc["expireAt"].timestamp(), data=doc, revoked=bool(doc.get("used")))

    def revoke_family(self, family: str) -> None:
        self.wait(self.identity.mark_family_revoked(family, self.lifetimes.refresh_s))
        self.wait(self.identity.drop_refresh(family=family))
        self.wait(self.identity.revoke("family", family, REVOCATION_TTL_S))
        self.loop.call_soon_threadsafe(self.tokens.revoked, "family", family, time.time())


JWKS_MAX_BYTES = 64 * 1024


async def _fetch_jwks(url: str, *, allow_private: bool) -> dict[str, Any]:
    """A JWKS URL's keys: https only, to a public address unless allowed (the webhook door's SSRF check), at most
    64 KB."""
    from subscriptions.ssrf import resolve_endpoint

    await resolve_endpoint(url, allow_private=allow_private)
    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http, http.stream("GET", url) as response:
        response.raise_for_status()
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > JWKS_MAX_BYTES:
                raise ValueError("JWKS too large")
    found: dict[str, Any] = orjson.loads(body)
    return found


def _server(grant: Any) -> SmartServer:
    server: SmartServer = grant.server
    return server


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE required of every client, S256 only (seed 001): a missing method means plain, which is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTHS

    def save_authorization_code(self, code: str, request: Request) -> None:
        user: GrantUser = request.user
        server = _server(self)
        # The code's grant is one token family from the start (refresh or not), so that a replayed code can end
        # everything it yielded (``query_authorization_code``).
        context = {**user.context(), "family": user.family or secrets.token_urlsafe(12),
                   "auth_time": user.auth_time or int(time.time())}
        doc = {"client_id": request.client.client_id, "redirect_uri": request.payload.redirect_uri,
               "scope": request.scope, "user": context, "nonce": request.payload.data.get("nonce"),
               "code_challenge": request.payload.data.get("code_challenge"),
               "code_challenge_method": request.payload.data.get("code_challenge_method", "S256"),
               "auth_time": int(time.time())}
        server.wait(server.identity.add_code(code, doc, server.lifetimes.code_s))

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        if not isinstance(code, str) or not code or len(code) > 256:
            return None
        server = _server(self)
        state, doc = server.wait(server.identity.spend_code(code))  # spent now: used once, even on failure
        if state == "reused" and doc is not None:
            # RFC 6749 §4.1.2: a code used twice was intercepted or replayed: what it yielded is revoked.
            server.revoke_family(str(doc["user"]["family"]))
            return None
        if doc is None or doc["client_id"] != client.client_id:
            return None
        return Code(doc)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        return None  # taken when queried

    def authenticate_user(self, authorization_code: Code) -> GrantUser:
        context = dict(authorization_code.doc["user"])
        return GrantUser(**context, nonce=authorization_code.get_nonce())


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTHS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotated on every use

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        """Looked up only: it is spent once the whole request has been found valid (``create_token_response``),
        so a refresh refused for its scope or its client does not cost the family."""
        if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > 256:
            return None
        server = _server(self)
        doc = server.wait(server.identity.refresh_doc(refresh_token))
        if doc is None or doc["expireAt"].timestamp() <= time.time():
            return None
        if doc.get("used"):
            server.revoke_family(doc["family"])  # a replayed refresh token ends its whole family
            return None
        return Token("refresh_token", doc["client_id"], doc["tenant"], doc["scope"],
                     doc["expireAt"].timestamp(), data={**doc, "_presented": refresh_token})

    def create_token_response(self) -> tuple[int, Any, Any]:
        # Spent here, atomically: of two requests presenting it at once one wins; the other is a replay.
        token: Token = self.request.refresh_token
        server = _server(self)
        status, doc = server.wait(server.identity.use_refresh(token.data["_presented"]))
        if status != "ok" or doc is None:
            if status == "replayed" and doc is not None:
                server.revoke_family(doc["family"])
            raise InvalidGrantError()
        if server.wait(server.identity.family_revoked(doc["family"])):
            raise InvalidGrantError()
        result: tuple[int, Any, Any] = super().create_token_response()
        return result

    def authenticate_user(self, refresh_token: Token) -> GrantUser:
        d = refresh_token.data
        return GrantUser(tenant=d["tenant"], subject=d["subject"], fhir_user=d.get("fhir_user"),
                         patient=d.get("patient"), encounter=d.get("encounter"), family=d.get("family"),
                         auth_time=d.get("auth_time"))

    def revoke_old_credential(self, refresh_token: Token) -> None:
        return None  # marked used when it was authenticated


class BackendGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [JWT_AUTH, *SECRET_AUTHS]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = self.request.payload.scope or ""
        if any(not s.startswith("system/") and s != ADMIN_SCOPE for s in requested.split()):
            raise InvalidScopeError("Backend services may only ask for system/ scopes")
        if not self.request.client.get_allowed_scope(requested):
            raise InvalidScopeError("None of the scopes asked for is registered for this client")

    def create_token_response(self) -> tuple[int, Any, Any]:
        # authlib grants the scope asked for as it is; a client gets only what it registered for (seed 004),
        # its whole registration when it asks for nothing.
        asked = self.request.payload.scope or " ".join(
            s for s in self.request.client.scopes if s.startswith("system/") or s == ADMIN_SCOPE)
        scope = self.request.client.get_allowed_scope(asked)
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


# The client whose assertion is being verified (set in the protocol thread, per request).
_asserting: contextvars.ContextVar[Client | None] = contextvars.ContextVar("asserting_client", default=None)


class Assertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """private_key_jwt (SMART Backend Services): RS384 or ES384, ``iss`` = ``sub`` = client id, ``aud`` our token
    endpoint, ``exp`` at most five minutes ahead, each ``jti`` once."""

    CLIENT_AUTH_METHOD = JWT_AUTH

    def __init__(self, server: SmartServer):
        super().__init__(validate_jti=True, leeway=30)
        self._server = server

    def get_audiences(self) -> list[str]:
        origin = ORIGIN.get()
        return [origin + "/auth/token"]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        _asserting.set(client)
        return self._server.public_key_set(client)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError, TypeError) as exc:
            client = _asserting.get()
            if client is None or not client.doc.get("jwks_url"):
                raise InvalidClientError(description="The client assertion's signature does not verify") from exc
            try:  # a key the cached set lacks: the client may have rotated its keys since we fetched them
                token = jwt.decode(assertion, self._server.public_key_set(client, refresh=True),
                                   algorithms=ASSERTION_ALGORITHMS)
            except (JoseError, ValueError, TypeError) as again:
                raise InvalidClientError(description="The client assertion's signature does not verify") from again
        self.verify_claims(token.claims)
        exp = token.claims.get("exp")
        if not isinstance(exp, int) or exp - time.time() > ASSERTION_MAX_S + self.leeway:
            raise InvalidClientError(description="The client assertion must expire within five minutes")
        return token.claims

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        return self._server.wait(self._server.identity.first_use(str(claims["sub"]), jti, ASSERTION_MAX_S * 2))


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    # RFC 7662 §2.1: the caller (a protected resource, a confidential client) authenticates; a public client id
    # alone would let anyone who knows it read the claims of every token of the clinic.
    CLIENT_AUTH_METHODS = [*SECRET_AUTHS, JWT_AUTH]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _server(self).token_of(token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request: Request) -> bool:
        """A client may introspect the tokens issued to it; one registered with ``introspect`` (a protected
        resource of the clinic) every token of its tenant. Anything else is answered ``{"active": false}``, as
        for a token that does not exist (RFC 7662 §2.2: nothing says it does)."""
        if token.client_id == client.client_id:
            return True
        return client.introspects_tenant and token.tenant == client.tenant

    def introspect_token(self, token: Token) -> dict[str, Any]:
        body: dict[str, Any] = {"active": True, "scope": token.scope, "client_id": token.client_id,
                                "exp": int(token.expires_at), "token_type": "Bearer"}
        if token.kind == "access_token":
            claims = token.data
            body.update({k: claims[k] for k in ("iat", "sub", "aud", "iss", "jti", "patient", "fhirUser")
                         if k in claims})
        return body


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ALL_AUTHS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _server(self).token_of(token_string, token_type_hint)

    def revoke_token(self, token: Token, request: Request) -> None:
        server = _server(self)
        if token.kind == "refresh_token":
            server.revoke_family(str(token.data["family"]))
            return
        jti = str(token.data["jti"])
        server.wait(server.identity.revoke("jti", jti, REVOCATION_TTL_S))
        server.loop.call_soon_threadsafe(server.tokens.revoked, "jti", jti, time.time())
