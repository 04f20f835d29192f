"""GraphQL door harness: its own app instance (own database, tenants and limits) on the session's devdb or
MongoDB, a demo clinic in a tenant of its own, and a small client helper."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from app.settings import Settings
from tests.conftest import ServerThread, drop_test_database, running_app

KEYS = {"graph-a": "graph-key-a", "graph-b": "graph-key-b", "graph-demo": "graph-key-demo"}
DEMO_PATIENTS = 120
FRONT_END = "https://front.example"


@pytest.fixture(scope="session")
def graph_settings(mongo_uri: str) -> Iterator[Settings]:
    s = Settings(
        mongodb_uri=mongo_uri,
        db_name=f"fhirgraph_graph_{uuid.uuid4().hex[:8]}",
        api_keys=",".join(f"{key}={tenant}" for tenant, key in KEYS.items()),
        allow_anonymous=False,
        relay_poll_interval_s=0.5,
        rate_limit_per_minute=0,
        db_timeout_s=30.0,  # the 100-patient dashboards of test_limits.py on a loaded 2-core CI machine
        graphiql=True,  # production defaults (MONGODB_URI is set) switch both off
        introspection=True,
        cors_origins=FRONT_END,  # the browser app of tests/graph/test_cross_origin.py
    )
    yield s
    drop_test_database(s)


@pytest.fixture(scope="session")
def graph_server(graph_settings: Settings) -> Iterator[ServerThread]:
    with running_app(graph_settings) as srv:
        yield srv


@pytest.fixture(scope="session")
def graph_url(graph_server: ServerThread) -> str:
    return f"{graph_server.url}/graphql"


class GQL:
    """POST /graphql as one tenant; ``run`` asserts no errors and returns ``data``."""

    def __init__(self, client: httpx.AsyncClient, url: str, key: str):
        self.client, self.url, self.key = client, url, key

    async def post(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.client.post(self.url, json=body, headers={"X-API-Key": self.key, **headers})

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await self.post(query, variables)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def run(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        out = await self.raw(query, variables)
        assert "errors" not in out, out["errors"]
        data: dict[str, Any] = out["data"]
        return data

    async def partial(self, query: str, variables: dict[str, Any] | None = None
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``data`` and ``errors`` of an answer that has both (a field null with its error)."""
        out = await self.raw(query, variables)
        assert out.get("errors") and out.get("data"), out
        return out["data"], out["errors"]

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        out = await self.raw(query, variables)
        assert out.get("errors"), out
        err: dict[str, Any] = out["errors"][0]
        return err


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as c:
        yield c


@pytest.fixture
async def gql(http: httpx.AsyncClient, graph_url: str) -> GQL:
    return GQL(http, graph_url, KEYS["graph-a"])


@pytest.fixture
async def gql_b(http: httpx.AsyncClient, graph_url: str) -> GQL:
    return GQL(http, graph_url, KEYS["graph-b"])


@pytest.fixture
async def demo(http: httpx.AsyncClient, graph_url: str, demo_clinic: dict[str, int]) -> GQL:
    return GQL(http, graph_url, KEYS["graph-demo"])


@pytest.fixture
async def fhir_a(graph_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    """The FHIR REST door of the same app, as tenant graph-a: what one door writes, the other sees."""
    async with httpx.AsyncClient(base_url=f"{graph_server.url}/fhir/r4", timeout=30,
                                 headers={"X-API-Key": KEYS["graph-a"], "Accept": "application/fhir+json"}) as c:
        yield c


@pytest.fixture(scope="session")
async def demo_clinic(graph_server: ServerThread, graph_settings: Settings) -> AsyncIterator[dict[str, int]]:
    """The demo clinic, loaded once into tenant graph-demo through the store (a client of our own)."""
    import datetime as dt

    from app.demo import load_demo
    from store.repository import Repository
    from store.types import SystemPrincipal

    client: AsyncMongoClient[Any] = AsyncMongoClient(graph_settings.mongodb_uri)
    try:
        repo = Repository(client[graph_settings.db_name])
        counts = await load_demo(repo, SystemPrincipal("graph-demo", "demo-loader"), DEMO_PATIENTS, seed=11,
                                 anchor=dt.date(2026, 11, 2))
        yield counts
    finally:
        await client.close()

