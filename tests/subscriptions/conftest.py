"""Live-events harness: an app server with fast retry/lease timings on a database of its own (so the
suite-wide ``server`` never competes for its webhooks), and a loopback webhook receiver."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.settings import Settings
from tests.conftest import API_KEYS, ServerThread, free_port, running_app

FAST = {
    "webhook_retry_base_s": 0.05,
    "webhook_retry_max_s": 0.5,
    "webhook_max_attempts": 3,
    "webhook_lease_s": 2.0,
    "webhook_scan_interval_s": 0.2,
    "webhook_timeout_s": 2.0,
    "relay_poll_interval_s": 0.05,
    "relay_gap_grace_s": 0.5,
    "connection_init_timeout_s": 1.0,
    "subscriptions_per_connection": 3,
    "allow_anonymous": False,
}


@pytest.fixture(scope="session")
def events_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={**FAST, "db_name": f"{settings.db_name}_events"})


@pytest.fixture(scope="session")
def events_server(events_settings: Settings) -> Iterator[ServerThread]:
    with running_app(events_settings) as srv:
        yield srv


@pytest.fixture(scope="session")
def events_url(events_server: ServerThread) -> str:
    return events_server.url


@pytest.fixture
async def fhir_a(events_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{events_url}/fhir/r4", timeout=30,
                                 headers={"X-API-Key": API_KEYS["tenant-a"]}) as c:
        yield c


@pytest.fixture
async def fhir_b2(events_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{events_url}/fhir/r4", timeout=30,
                                 headers={"X-API-Key": API_KEYS["tenant-b"]}) as c:
        yield c


@pytest.fixture
async def qapi(events_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{events_url}/qapi/v1", timeout=30,
                                 headers={"X-API-Key": API_KEYS["tenant-a"]}) as c:
        yield c


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A loopback HTTP receiver: records every request; answers from a per-path script, else 200."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def endpoint(self, name: str | None = None) -> str:
        return f"{self.url}/hook/{name or uuid.uuid4().hex[:10]}"

    def at(self, endpoint: str) -> list[Received]:
        path = endpoint.removeprefix(self.url)
        with self.lock:
            return [r for r in self.received if r.path == path]

    def answer(self, endpoint: str, *responses: tuple[int, dict[str, str]]) -> None:
        with self.lock:
            self.script.setdefault(endpoint.removeprefix(self.url), []).extend(responses)

    async def wait(self, endpoint: str, n: int, within: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + within
        while True:
            got = self.at(endpoint)
            if len(got) >= n or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.02)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.received.append(Received(request.url.path, {k.lower(): v for k, v in request.headers.items()},
                                              body, time.monotonic()))
                script = self.script.get(request.url.path)
                status, headers = script.pop(0) if script else (200, {})
            return Response(b"", status_code=status, headers=headers)

        return Starlette(routes=[Route("/hook/{name}", hook, methods=["POST"])])


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    srv = ServerThread(rec.app(), free_port())
    rec.url = srv.url
    srv.start()
    yield rec
    srv.stop()


def subscription(endpoint: str, criteria: str, *, secret: str | None = None, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Subscription", "status": "active", "reason": "test webhook", "criteria": criteria,
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/json"},
    }
    if secret is not None:
        res["extension"] = [{"url": "https://fhirgraph.dev/fhir/StructureDefinition/webhook-secret",
                             "valueString": secret}]
    res.update(extra)
    return res
