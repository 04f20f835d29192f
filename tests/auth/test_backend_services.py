"""SMART Backend Services: client_credentials with a private_key_jwt assertion the client signs itself."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from app.settings import Settings
from auth.registry import add_client
from tests.auth.oauth_helpers import backend_client, identity_store

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def _backend(settings: Settings, key: Any, scope: str = "system/*.rs") -> str:
    public = {**key.as_dict(private=False), "kid": key.thumbprint()}
    async with identity_store(settings) as identity:
        shown = await add_client(identity, name="Nightly export", tenant="tenant-a", redirect_uris=[],
                                 grant="client_credentials", scopes=scope.split(), jwks={"keys": [public]})
    assert "client_secret" not in shown
    client_id: str = shown["client_id"]
    return client_id


def _assertion(key: Any, client_id: str, aud: str, *, alg: str = "ES384", lifetime: int = 240,
               jti: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + lifetime, "iat": now,
              "jti": jti or secrets.token_urlsafe(16)}
    return jwt.encode({"alg": alg, "kid": key.thumbprint(), "typ": "JWT"}, claims, key, algorithms=[alg])


async def test_authlib_client_gets_a_system_token_and_reads(base_url: str, settings: Settings,
                                                           fhir: httpx.AsyncClient) -> None:
    key = RSAKey.generate_key(2048, private=True)
    client_id = await _backend(settings, key)
    token_url = f"{base_url}/auth/token"
    made = await fhir.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Backend"}]})
    async with AsyncOAuth2Client(client_id, key.as_dict(private=True), scope="system/*.rs",
                                 # authlib's assertions live an hour unless told: SMART allows five minutes
                                 token_endpoint_auth_method=PrivateKeyJWT(
                                     token_url, alg="RS384", claims={"exp": int(time.time()) + 240})) as client:
        token = await client.fetch_token(token_url, grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["scope"] == "system/*.rs"
        assert "refresh_token" not in token
        read = await client.get(f"{base_url}/fhir/r4/Patient/{made.json()['id']}")
        assert read.status_code == 200, read.text


async def test_assertions_are_checked(base_url: str, settings: Settings) -> None:
    key = ECKey.generate_key("P-384", private=True)
    client_id = await _backend(settings, key)
    aud = f"{base_url}/auth/token"
    form = {"grant_type": "client_credentials", "scope": "system/*.rs", "client_assertion_type": ASSERTION_TYPE}
    async with httpx.AsyncClient(base_url=base_url) as http:
        once = _assertion(key, client_id, aud)
        ok = await http.post("/auth/token", data={**form, "client_assertion": once})
        assert ok.status_code == 200, ok.text
        assert ok.headers["cache-control"] == "no-store"
        replay = await http.post("/auth/token", data={**form, "client_assertion": once})
        # RFC 6749 §5.2: invalid_client is 401 when the client authenticated in the Authorization header, else 400
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_client"
        for bad in (_assertion(key, client_id, aud, lifetime=3600),  # exp more than five minutes ahead
                    _assertion(key, client_id, "https://elsewhere.example/token"),  # another audience
                    _assertion(key, client_id, aud, lifetime=-120),  # expired
                    _assertion(ECKey.generate_key("P-384", private=True), client_id, aud)):  # another key
            answer = await http.post("/auth/token", data={**form, "client_assertion": bad})
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] == "invalid_client"
        wider = await http.post("/auth/token", data={**form, "scope": "system/*.cruds",
                                                    "client_assertion": _assertion(key, client_id, aud)})
        assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("scope", ["patient/*.rs", "launch"])
async def test_backend_services_ask_for_system_scopes_only(base_url: str, settings: Settings, scope: str) -> None:
    key = ECKey.generate_key("P-384", private=True)
    client_id = await _backend(settings, key, scope=f"system/*.rs {scope}")
    async with httpx.AsyncClient(base_url=base_url) as http:
        answer = await http.post("/auth/token", data={
            "grant_type": "client_credentials", "scope": scope, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(key, client_id, f"{base_url}/auth/token")})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"


async def test_confidential_client_with_a_secret(base_url: str, settings: Settings) -> None:
    shown = await backend_client(settings, name="Reporting")
    secret = shown["client_secret"]
    async with httpx.AsyncClient(base_url=base_url) as http:
        ok = await http.post("/auth/token", data={"grant_type": "client_credentials"},
                             auth=(shown["client_id"], secret))
        assert ok.status_code == 200, ok.text
        post = await http.post("/auth/token", data={"grant_type": "client_credentials",
                                                    "client_id": shown["client_id"], "client_secret": secret})
        assert post.status_code == 200, post.text
        wrong = await http.post("/auth/token", data={"grant_type": "client_credentials"},
                                auth=(shown["client_id"], "not-it"))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
