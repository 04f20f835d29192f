"""Host header injection: links, Location and the CapabilityStatement's URL name only hosts the server answers
to (app/middleware.py ``AllowedHostsMiddleware``): configured hosts, the host of a configured base URL, or
loopback names in trial mode; any other Host is a 400 OperationOutcome."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app.middleware import AllowedHostsMiddleware
from app.settings import Settings
from fhir_rest.capability import _statement
from tests.conftest import API_KEYS, ServerThread, running_app
from tests.factories import make_patient
from tests.fhir_rest.test_errors import assert_outcome

EVIL = ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost@evil.example", "", "a b",
        "[::2]:80", "localhost:http"]


@pytest.fixture(scope="module")
def configured(settings: Settings) -> Iterator[ServerThread]:
    with running_app(settings.model_copy(update={"allowed_hosts": "fhir.example.test, 127.0.0.1"})) as srv:
        yield srv


@pytest.fixture(scope="module")
def behind_proxy(settings: Settings) -> Iterator[ServerThread]:
    update = {"base_url": "https://public.example.test/base", "allowed_hosts": "proxy.internal:8080,127.0.0.1"}
    with running_app(settings.model_copy(update=update)) as srv:
        yield srv


async def fhir_client(srv: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{srv.url}/fhir/r4", timeout=30,
                                 headers={"X-API-Key": API_KEYS["tenant-a"]}) as c:
        yield c


@pytest.fixture
async def fhir_configured(configured: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async for c in fhir_client(configured):
        yield c


@pytest.fixture
async def fhir_proxied(behind_proxy: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async for c in fhir_client(behind_proxy):
        yield c


async def links(fhir: httpx.AsyncClient, host: str, tag: str) -> dict[str, Any]:
    """Every URL the server builds from the request, for a request naming ``host``."""
    h = {"Host": host}
    created = await fhir.post("/Patient", json=make_patient(family=tag), headers=h)
    assert created.status_code == 201, created.text
    bundle = (await fhir.get("/Patient", params={"family": tag, "_count": "1"}, headers=h)).json()
    metadata = (await fhir.get("/metadata", headers=h)).json()
    return {"location": created.headers["location"], "self": bundle["link"][0]["url"],
            "fullUrl": bundle["entry"][0]["fullUrl"], "capability": metadata["implementation"]["url"]}


@pytest.mark.parametrize("host", EVIL)
async def test_trial_mode_refuses_hosts_other_than_loopback(fhir: httpx.AsyncClient, host: str) -> None:
    for r in (await fhir.get("/metadata", headers={"Host": host}),
              await fhir.post("/Patient", json=make_patient(), headers={"Host": host}),
              await fhir.get("/Patient", headers={"Host": host})):
        outcome = assert_outcome(r, 400)
        assert outcome["issue"][0]["expression"] == ["Host"]
        assert "evil" not in r.text and "location" not in r.headers


@pytest.mark.parametrize("host", ["localhost", "localhost:9999", "127.0.0.1:1234", "[::1]:8000", "LOCALHOST"])
async def test_trial_mode_answers_loopback_names_on_any_port(fhir: httpx.AsyncClient, host: str, tag: str) -> None:
    found = await links(fhir, host, tag)
    base = f"http://{host.lower()}/fhir/r4"
    assert all(url.lower().startswith(base) for url in found.values()), found


async def test_configured_hosts_are_the_only_ones_answered(fhir_configured: httpx.AsyncClient, tag: str) -> None:
    found = await links(fhir_configured, "fhir.example.test:8443", tag)
    assert all(url.startswith("http://fhir.example.test:8443/fhir/r4") for url in found.values()), found
    for host in ("localhost", "evil.example", "example.test"):  # loopback names are trial mode only
        assert_outcome(await fhir_configured.get("/metadata", headers={"Host": host}), 400)


async def test_a_configured_base_url_is_used_whatever_the_host(fhir_proxied: httpx.AsyncClient, tag: str) -> None:
    for host in ("proxy.internal:8080", "public.example.test", "127.0.0.1:5"):
        found = await links(fhir_proxied, host, tag)
        assert all(url.startswith("https://public.example.test/base/fhir/r4") for url in found.values()), found
    for host in ("proxy.internal", "proxy.internal:9090", "evil.example"):  # host:port entries: that port only
        assert_outcome(await fhir_proxied.get("/metadata", headers={"Host": host}), 400)


async def test_bad_hosts_cannot_fill_the_capability_cache(fhir: httpx.AsyncClient) -> None:
    for i in range(20):
        await fhir.get("/metadata", headers={"Host": f"localhost:{1000 + i}"})
        await fhir.get("/metadata", headers={"Host": f"evil{i}.example"})
    assert _statement.cache_info().currsize == 1


async def test_a_websocket_handshake_naming_another_host_is_refused() -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        sent.append({"type": "reached the app"})

    async def send(message: Any) -> None:
        sent.append(message)

    guard = AllowedHostsMiddleware(app)
    scope = {"type": "websocket", "path": "/graphql", "headers": [(b"host", b"evil.example")]}
    await guard(scope, None, send)  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1008}]
    await guard({**scope, "headers": [(b"host", b"127.0.0.1:8000")]}, None, send)  # type: ignore[arg-type]
    assert sent[-1] == {"type": "reached the app"}
