"""Driving the authorization server as a SMART app and its user would: authlib's OAuth 2.0 client for the
protocol, plain form posts for the login and consent pages (no JavaScript on them)."""

from __future__ import annotations

import html
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from pymongo import AsyncMongoClient

from app.settings import Settings
from auth.registry import add_client, add_launch, add_user
from store.identity import IdentityStore

REDIRECT = "https://app.example/callback"
PASSWORD = "correct horse battery"
HIDDEN = re.compile(r"<input type=hidden name='([^']+)' value='([^']*)'>")


@asynccontextmanager
async def identity_store(settings: Settings) -> AsyncIterator[IdentityStore]:
    """The server's identity documents, reached as `fhirgraph clients add` reaches them: the same database."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
    try:
        yield IdentityStore(client[settings.db_name])
    finally:
        await client.close()


@dataclass
class App:
    client_id: str
    client_secret: str | None
    tenant: str


async def register_app(settings: Settings, *, tenant: str = "tenant-a", public: bool = True,
                       scope: str = "launch/patient openid fhirUser offline_access patient/*.rs user/*.rs "
                                    "patient/*.read", redirect: str = REDIRECT) -> App:
    async with identity_store(settings) as identity:
        shown = await add_client(identity, name="Test SMART app", tenant=tenant, redirect_uris=[redirect],
                                 public=public, scopes=scope.split())
    return App(shown["client_id"], shown.get("client_secret"), tenant)


async def register_user(settings: Settings, fhir_user: str, *, tenant: str = "tenant-a") -> str:
    username = f"user-{uuid.uuid4().hex[:8]}"
    async with identity_store(settings) as identity:
        await add_user(identity, username=username, password=PASSWORD, fhir_user=fhir_user, tenant=tenant)
    return username


async def issue_launch(settings: Settings, patient: str, *, tenant: str = "tenant-a") -> str:
    async with identity_store(settings) as identity:
        launch: str = (await add_launch(identity, tenant=tenant, patient=patient))["launch"]
    return launch


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def oauth_client(app: App, scope: str, base: str) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(app.client_id, app.client_secret, scope=scope, redirect_uri=REDIRECT,
                             code_challenge_method="S256",
                             token_endpoint_auth_method="none" if app.client_secret is None else
                             "client_secret_basic", base_url=base)


async def sign_in(base: str, authorize_url: str, username: str, password: str = PASSWORD, *,
                  patient: str | None = None, drop_scopes: tuple[str, ...] = ()) -> httpx.Response:
    """The user's part: open the authorization URL, sign in, allow. Returns the final redirect (302)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as browser:
        page = await browser.get(authorize_url)
        assert page.status_code == 200, page.text
        fields = hidden_fields(page.text)
        consent = await browser.post("/auth/login", data={**fields, "username": username, "password": password})
        assert consent.status_code == 200, consent.text
        fields = hidden_fields(consent.text)
        scopes = [s for s in re.findall(r"name=scope value='([^']+)'", consent.text) if s not in drop_scopes]
        form: list[tuple[str, str]] = [*fields.items(), ("decision", "allow"), *(("scope", s) for s in scopes)]
        if patient is not None:
            form.append(("patient", patient))
        return await browser.post("/auth/consent", content=urlencode(form),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})


def code_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


async def authorize(app: App, base: str, username: str, scope: str, **kw: Any) -> tuple[dict[str, Any], str]:
    """The whole authorization code flow with PKCE; returns the token response and the verifier used."""
    client = oauth_client(app, scope, base)
    verifier = secrets.token_urlsafe(48)
    url, state = client.create_authorization_url(f"{base}/auth/authorize", code_verifier=verifier,
                                                 aud=f"{base}/fhir/r4")
    done = await sign_in(base, url, username, **kw)
    assert done.status_code == 302, done.text
    location = done.headers["location"]
    assert code_of(location)["state"] == [state]
    token: dict[str, Any] = await client.fetch_token(f"{base}/auth/token", authorization_response=location,
                                                     code_verifier=verifier)
    await client.aclose()
    return token, location


async def backend_client(settings: Settings, *, scopes: tuple[str, ...] = ("system/*.rs",),
                         tenant: str = "tenant-a", name: str = "Backend") -> dict[str, Any]:
    """A confidential client_credentials client with a secret, registered as `fhirgraph clients add` would."""
    async with identity_store(settings) as identity:
        shown: dict[str, Any] = await add_client(identity, name=name, tenant=tenant, redirect_uris=[],
                                                 grant="client_credentials", scopes=list(scopes))
    return shown


async def backend_token(base_url: str, client: dict[str, Any]) -> str:
    """An access token of ``client`` (client_secret_basic)."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        answer = await http.post("/auth/token", data={"grant_type": "client_credentials"},
                                 auth=(client["client_id"], client["client_secret"]))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token
