"""CORS for browser apps (app/cors.py): the origin list, its defaults, and the answers a browser gets, over
loopback from the real app (its own instance: credentials on)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from app.cors import parse_origins
from app.settings import Settings
from tests.conftest import API_KEYS, ServerThread, running_app

ALLOWED = "https://app.example"
OTHER = "https://evil.example"
PROTOCOL = Subprotocol("graphql-transport-ws")


def test_origin_list() -> None:
    origins = parse_origins(" https://App.Example , http://localhost:* ,https://api.example:443,http://x.test:8080")
    assert origins.allows("https://app.example") and origins.allows("https://api.example")
    assert origins.allows("http://localhost:5173") and origins.allows("http://localhost")
    assert origins.allows("http://x.test:8080") and not origins.allows("http://x.test:8081")
    assert not origins.allows("https://localhost:5173")  # another scheme is another origin
    assert not origins.allows("http://localhost.evil.example:80")
    assert not origins.allows("https://app.example.evil.example")
    assert parse_origins("*").allows("https://anything.example") and parse_origins("").none
    for wrong in ("app.example", "https://app.example/path", "ftp://app.example", "https://*.example"):
        with pytest.raises(ValueError, match="not an origin"):
            parse_origins(wrong)


def test_defaults_by_environment() -> None:
    production = Settings(mongodb_uri="mongodb://db.internal/?replicaSet=rs0")
    assert parse_origins(production.cors_origins).none
    trial = parse_origins(Settings(mongodb_uri=None).cors_origins)
    assert trial.allows("http://localhost:3000") and trial.allows("http://127.0.0.1:5173")
    assert trial.allows("http://[::1]:8080") and not trial.allows("https://app.example")
    named = Settings(mongodb_uri="mongodb://db.internal/", cors_origins=ALLOWED)
    assert parse_origins(named.cors_origins).allows(ALLOWED)
    with pytest.raises(ValidationError, match="named one by one"):
        Settings(cors_origins="*", cors_credentials=True)
    with pytest.raises(ValidationError, match="not an origin"):
        Settings(cors_origins="https://app.example/")


@pytest.fixture(scope="module")
def credentialed(settings: Settings) -> Iterator[ServerThread]:
    with running_app(settings.model_copy(update={"cors_origins": f"{ALLOWED},http://localhost:*",
                                                 "cors_credentials": True, "cors_max_age_s": 900})) as srv:
        yield srv


def preflight_headers(origin: str, method: str = "POST", headers: str = "authorization,content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


async def test_preflight_of_an_allowed_origin(credentialed: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=credentialed.url) as http:
        for path in ("/graphql", "/fhir/r4/Patient", "/qapi/v1/patients"):
            pre = await http.options(path, headers=preflight_headers(ALLOWED))
            assert pre.status_code == 200, (path, pre.text)
            assert pre.headers["access-control-allow-origin"] == ALLOWED  # never * with credentials
            assert pre.headers["access-control-allow-credentials"] == "true"
            allowed_headers = {h.strip().lower() for h in pre.headers["access-control-allow-headers"].split(",")}
            assert {"authorization", "content-type", "x-api-key", "if-match"} <= allowed_headers
            assert {"GET", "POST", "PUT", "DELETE"} <= set(pre.headers["access-control-allow-methods"].split(", "))
            assert pre.headers["access-control-max-age"] == "900"
            assert "origin" in pre.headers["vary"].lower()
        port_any = await http.options("/graphql", headers=preflight_headers("http://localhost:5173"))
        assert port_any.headers["access-control-allow-origin"] == "http://localhost:5173"


async def test_preflight_of_another_origin_is_refused(credentialed: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=credentialed.url) as http:
        pre = await http.options("/graphql", headers=preflight_headers(OTHER))
        assert pre.status_code == 400 and "access-control-allow-origin" not in pre.headers
        odd = await http.options("/graphql", headers=preflight_headers(ALLOWED, headers="x-unheard-of"))
        assert odd.status_code == 400


async def test_responses_carry_cors_headers_for_allowed_origins_only(credentialed: ServerThread) -> None:
    query = {"query": "{ __typename }"}
    auth = {"X-API-Key": API_KEYS["tenant-a"]}
    async with httpx.AsyncClient(base_url=credentialed.url) as http:
        ok = await http.post("/graphql", json=query, headers={**auth, "Origin": ALLOWED})
        assert ok.status_code == 200 and ok.json()["data"] == {"__typename": "Query"}
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert ok.headers["access-control-allow-credentials"] == "true"
        assert "x-request-id" in ok.headers["access-control-expose-headers"].lower()
        assert "origin" in ok.headers["vary"].lower()
        # The server still answers (CORS is the browser's to enforce); the page may not read it.
        other = await http.post("/graphql", json=query, headers={**auth, "Origin": OTHER})
        assert other.status_code == 200
        assert not [h for h in other.headers if h.startswith("access-control-")]
        assert "origin" in other.headers["vary"].lower()  # a shared cache keeps the two answers apart
        plain = await http.post("/graphql", json=query, headers=auth)
        assert "origin" in plain.headers["vary"].lower()


async def test_discovery_stays_open_to_every_origin_without_credentials(credentialed: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=credentialed.url) as http:
        other = await http.get("/fhir/r4/.well-known/smart-configuration", headers={"Origin": OTHER})
        assert other.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in other.headers
        mine = await http.get("/fhir/r4/.well-known/smart-configuration", headers={"Origin": ALLOWED})
        assert mine.headers["access-control-allow-origin"] == ALLOWED


async def test_websocket_handshakes_from_other_origins_are_refused(credentialed: ServerThread) -> None:
    url = credentialed.url.replace("http://", "ws://") + "/graphql"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=[PROTOCOL], origin=OTHER):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    for origin in (ALLOWED, credentialed.url, None):  # an allowed page, the server's own (GraphiQL), no browser
        async with connect(url, subprotocols=[PROTOCOL], origin=origin) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == "graphql-transport-ws"
