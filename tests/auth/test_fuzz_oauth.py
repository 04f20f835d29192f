"""A bounded, deterministic fuzz of the authorization server's endpoints: authorize (GET and POST), login,
consent, token, introspect and revoke get junk parameters — valid ones mutated, dropped, repeated, made huge,
filled with control characters and non-UTF-8. Whatever arrives, the answer is never a 5xx; outside the login
and consent pages it is RFC 6749-shaped JSON or a redirect to the registered URI."""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any
from urllib.parse import urlencode

import httpx

from app.settings import Settings
from tests.auth.oauth_helpers import REDIRECT, register_app

SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "400"))
JUNK = ["", " ", "\x00", "\u00b2", "%", "%zz", "a" * 5000, "[]", "{}", "null", "' OR 1=1", "<script>", "e30.e30.e30",
        "eyJhbGciOiJub25lIn0.e30.", "S256", "plain", "code", "token", "\ud7ff", "\u202e", "../../etc",
        "https://evil.example/cb", "http://localhost:8080/callback", "urn:ietf:params:oauth:client-assertion-type:"
        "jwt-bearer", "authorization_code", "refresh_token", "client_credentials", "system/*.*", "launch/patient"]
NAMES = ["response_type", "client_id", "redirect_uri", "scope", "state", "aud", "code_challenge",
         "code_challenge_method", "launch", "nonce", "grant_type", "code", "code_verifier", "refresh_token",
         "client_secret", "client_assertion", "client_assertion_type", "token", "token_type_hint", "username",
         "password", "csrf", "request", "ticket", "decision", "patient"]
PATHS = [("GET", "/auth/authorize"), ("POST", "/auth/authorize"), ("POST", "/auth/login"), ("POST", "/auth/consent"),
         ("POST", "/auth/token"), ("POST", "/auth/introspect"), ("POST", "/auth/revoke")]


def _params(rng: random.Random, good: dict[str, str]) -> list[tuple[str, str]]:
    params = [(k, v) for k, v in good.items() if rng.random() > 0.3]
    for _ in range(rng.randint(0, 6)):
        params.append((rng.choice(NAMES), rng.choice(JUNK)))
    if rng.random() < 0.2 and params:
        params.append(params[rng.randrange(len(params))])  # a repeated parameter
    rng.shuffle(params)
    return params


async def test_oauth_endpoints_never_fail(base_url: str, settings: Settings) -> None:
    app = await register_app(settings)
    good = {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT,
            "scope": "launch/patient patient/*.rs", "state": "s", "aud": f"{base_url}/fhir/r4",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
            "grant_type": "authorization_code", "code": "x", "code_verifier": "y" * 43}
    rng = random.Random(SEED)
    failures: list[str] = []
    semaphore = asyncio.Semaphore(8)

    async def one(http: httpx.AsyncClient, i: int) -> None:
        method, path = rng.choice(PATHS)
        params = _params(rng, good)
        headers: dict[str, str] = {}
        if rng.random() < 0.2:
            headers["Authorization"] = rng.choice(["Basic !!!", "Basic " + "QQ==" * 3, "Bearer x", "Basic"])
        if rng.random() < 0.1:
            cookie = rng.choice([j for j in JUNK if j.isascii() and j.isprintable() and j.strip()])[:100]
            headers["Cookie"] = f"fhirgraph_csrf={cookie}"
        async with semaphore:
            if method == "GET":
                answer = await http.get(path, params=params, headers=headers)
            else:
                body: Any = urlencode(params).encode()
                if rng.random() < 0.1:
                    body = bytes(rng.randrange(256) for _ in range(64))
                ctype = rng.choice(["application/x-www-form-urlencoded"] * 4 + ["application/json", "text/plain"])
                answer = await http.post(path, content=body, headers={**headers, "Content-Type": ctype})
        shown = f"{method} {path} {params!r} {headers!r} -> {answer.status_code} {answer.text[:200]!r}"
        if answer.status_code >= 500:
            failures.append(shown)
            return
        is_page = answer.headers.get("content-type", "").startswith("text/html")
        if answer.status_code in (301, 302, 303, 307):
            if not answer.headers["location"].startswith(REDIRECT):
                failures.append("redirect elsewhere: " + shown)
        elif is_page:
            if path not in ("/auth/authorize", "/auth/login", "/auth/consent"):
                failures.append("HTML from a protocol endpoint: " + shown)
        else:
            data = answer.json()
            if answer.status_code >= 400 and "error" not in data:
                failures.append("not an OAuth error: " + shown)

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        await asyncio.gather(*(one(http, i) for i in range(REQUESTS)))
    assert not failures, "\n".join(failures[:10])
