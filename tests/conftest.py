"""Test harness: the real ASGI app served by uvicorn on loopback, talked to with real clients.

With ``MONGODB_URI`` set the whole suite runs against that MongoDB (a fresh database per run, dropped at the
end); otherwise against ``fhirgraph devdb`` started here. Nothing below depends on which one it is.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from app.server import WebSocketProtocol
from app.settings import Settings

API_KEYS = {"tenant-a": "test-key-tenant-a", "tenant-b": "test-key-tenant-b"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri
        return
    from store.devdb import DevDB

    db = DevDB()
    db.start_in_thread()
    yield db.uri
    db.stop()


@pytest.fixture(scope="session")
def settings(mongo_uri: str) -> Iterator[Settings]:
    s = Settings(
        mongodb_uri=mongo_uri,
        db_name=f"fhirgraph_test_{uuid.uuid4().hex[:8]}",
        # tenant-a's key may also import AuditEvents (a dedicated scope: system/*.* does not grant it)
        api_keys=",".join(f"{key}={tenant}" + ("::system/*.* system/AuditEvent.c" if tenant == "tenant-a" else "")
                          for tenant, key in API_KEYS.items()),
        max_body_bytes=1024 * 1024,
        webhook_allow_private=True,
        relay_poll_interval_s=0.05,
        rate_limit_per_minute=0,  # the suite's shared server is not throttled; tests/app/test_ratelimit.py is
        audit_interval_s=0.05,
        export_retry_after_s=1.0,  # Bulk Data clients in tests poll every second
        # production defaults (MONGODB_URI is set) switch both off; the suite checks them served
        graphiql=True,
        introspection=True,
        # none in production: the suite's browser apps come from these (tests/app/test_cors.py)
        cors_origins="https://app.example,http://localhost:*",
    )
    yield s
    drop_test_database(s)


def drop_test_database(settings: Settings) -> None:
    """On a real MongoDB a run leaves nothing behind; devdb forgets everything at exit anyway."""
    if os.environ.get("MONGODB_URI"):
        from pymongo import MongoClient

        with MongoClient(settings.mongodb_uri) as c:
            c.drop_database(settings.db_name)


class ServerThread:
    def __init__(self, app: object, port: int):
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                ws=WebSocketProtocol)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def running_app(settings: Settings) -> Iterator[ServerThread]:
    """The real app with ``settings``, served by uvicorn on a free loopback port."""
    from app.main import create_app

    srv = ServerThread(create_app(settings), free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def server(settings: Settings) -> Iterator[ServerThread]:
    with running_app(settings) as srv:
        yield srv


@pytest.fixture(scope="session")
def base_url(server: ServerThread) -> str:
    return server.url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        yield c


@pytest.fixture
async def fhir(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A FHIR client of a fresh tenant of its own, so tests never see each other's data."""
    async with httpx.AsyncClient(base_url=f"{base_url}/fhir/r4", timeout=30,
                                 headers={"X-API-Key": API_KEYS["tenant-a"],
                                          "Accept": "application/fhir+json"}) as c:
        yield c


@pytest.fixture
async def fhir_b(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{base_url}/fhir/r4", timeout=30,
                                 headers={"X-API-Key": API_KEYS["tenant-b"]}) as c:
        yield c


@pytest.fixture
def tag() -> str:
    """A unique marker for resources a test creates, so its searches see only its own data."""
    return f"t{uuid.uuid4().hex[:12]}"


# Background work of the app servers this process runs (event relay, webhook worker, the audit trail) uses these.
BACKGROUND_COLLECTIONS = {"events", "counters", "Subscription", "webhook_deliveries", "idempotency", "AuditEvent"}


def fhir_calls() -> dict[tuple[str, str], float]:
    """Store round trips so far on the FHIR resource collections, by (command, collection), from the store's
    own driver-level counters (store/metrics.py, as /metrics exports them) — without the background's."""
    from store.metrics import STORE_CALLS
    from store.params import SUPPORTED_TYPES

    out = {}
    for metric in STORE_CALLS.collect():
        for s in metric.samples:
            coll = s.labels.get("collection", "")
            if s.name.endswith("_total") and coll in SUPPORTED_TYPES and coll not in BACKGROUND_COLLECTIONS:
                out[(s.labels["operation"], coll)] = s.value
    return out


def fhir_call_count() -> float:
    return sum(fhir_calls().values())


@pytest.fixture(scope="session")
def scoped(settings: Settings) -> Iterator[Any]:
    """An app of its own whose test keys stand for principals with any scopes (tests/scoped.py)."""
    from tests.scoped import scoped_app

    with scoped_app(settings) as app:
        yield app
