"""CORS for browser apps (app/cors.py): the origin list, its defaults, and the answers a browser gets, over
loopback from the real app (its own instance: credentials on)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from app.cors import parse_origins, vary_origin
from app.settings import Settings
from tests.browser import browser_page
from tests.conftest import API_KEYS, ServerThread, running_app

ALLOWED = "https://app.example"
OTHER = "https://evil.example"
PROTOCOL = Subprotocol("graphql-transport-ws")


def test_vary_gains_origin_as_starlette_would_set_it() -> None:
    """Origin is added to the response's Vary: a new field last, else joined into the first Vary (others dropped)."""
    assert vary_origin([(b"etag", b'W/"1"')]) == [(b"etag", b'W/"1"'), (b"vary", b"Origin")]
    assert vary_origin([(b"vary", b"Accept"), (b"etag", b"x"), (b"vary", b"Accept-Encoding")]) == [
        (b"vary", b"Accept, Accept-Encoding, Origin"), (b"etag", b"x")]
    assert vary_origin(()) == [(b"vary", b"Origin")]


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


PAGE = """<!doctype html><html><body><pre id="out">waiting</pre><script>
fetch(%(url)s, {method: "POST", headers: {"Content-Type": "application/json", "X-API-Key": %(key)s},
                body: JSON.stringify({query: "{ __typename }"})})
  .then(r => r.json()).then(b => { document.getElementById("out").textContent = "ok " + JSON.stringify(b); })
  .catch(e => { document.getElementById("out").textContent = "refused " + e; });
</script></body></html>"""


@contextlib.contextmanager
def page_server(host: str, body: bytes) -> Iterator[int]:
    """A browser app's own origin: one static page served from ``host`` on a free port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_a_browser_enforces_the_answers(server: ServerThread) -> None:
    """Chromium itself: a page on an allowed origin (http://localhost:*) preflights and reads the GraphQL answer;
    the same page on another origin (http://127.0.0.2) is refused by the browser."""
    body = (PAGE % {"url": json.dumps(f"{server.url}/graphql"), "key": json.dumps(API_KEYS["tenant-a"])}).encode()
    outcome = ("(() => { const o = location.protocol === 'http:' && document.getElementById('out'); "
               "return o && o.textContent !== 'waiting' ? o.textContent : ''; })()")
    async with browser_page() as page:
        with page_server("127.0.0.1", body) as port:
            await page.goto(f"http://localhost:{port}/")
            allowed = await page.wait_for(outcome)
        with page_server("127.0.0.2", body) as port:
            await page.goto(f"http://127.0.0.2:{port}/")
            refused = await page.wait_for(outcome)
    assert allowed == 'ok {"data":{"__typename":"Query"}}', allowed
    assert refused.startswith("refused TypeError"), refused
