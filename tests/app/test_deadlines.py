"""Store deadlines: with the database frozen, every door answers 503 within ``db_timeout_s`` and /health within
``health_timeout_s`` — the driver's own timeouts (store/client.py), set per request by the composition root."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator

import httpx
import pytest

from app.settings import Settings
from store.client import client_options
from tests.conftest import API_KEYS, running_app
from tests.factories import make_patient

DB_TIMEOUT_S = 2.0
HEALTH_TIMEOUT_S = 1.0
# What a loaded 2-core CI machine adds to a deadline: the reply, the event loop's turn, the client's own work.
MARGIN_S = 1.0


class FreezableProxy:
    """A TCP relay to a database that can freeze: then it still accepts connections and reads what they send,
    but passes nothing on and answers nothing — a database host whose mongod stopped responding."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(10)

    async def _listen(self) -> None:
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        await self.thawed.wait()
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers.add(up_writer)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True)
        for w in (writer, up_writer):
            self.writers.discard(w)
            w.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            await self.thawed.wait()
            sink.write(data)
            await sink.drain()
        sink.close()

    def freeze(self) -> None:
        self.loop.call_soon_threadsafe(self.thawed.clear)

    def thaw(self) -> None:
        self.loop.call_soon_threadsafe(self.thawed.set)

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            for w in list(self.writers):
                w.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def proxy() -> Iterator[FreezableProxy]:
    from store.devdb import DevDB

    db = DevDB()  # a database of this module's own: freezing it must not stall other tests
    db.start_in_thread()
    relay = FreezableProxy(("127.0.0.1", db.port))
    relay.start()
    yield relay
    relay.stop()
    db.stop()


@pytest.fixture(scope="module")
def base_url(proxy: FreezableProxy) -> Iterator[str]:
    settings = Settings(mongodb_uri=f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
                        db_name=f"fhirgraph_deadlines_{uuid.uuid4().hex[:8]}",
                        api_keys=f"{API_KEYS['tenant-a']}=tenant-a", allow_anonymous=False,
                        db_timeout_s=DB_TIMEOUT_S, health_timeout_s=HEALTH_TIMEOUT_S, rate_limit_per_minute=0)
    with running_app(settings) as srv:
        yield srv.url


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


async def test_a_frozen_database_gives_503_within_the_deadline_at_every_door(
        base_url: str, proxy: FreezableProxy) -> None:
    headers = {"X-API-Key": API_KEYS["tenant-a"]}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as c:
        created = await c.post("/fhir/r4/Patient", json=make_patient())
        assert created.status_code == 201
        pid = created.json()["id"]
        assert (await c.get("/health")).status_code == 200

        proxy.freeze()
        try:
            health, health_s = await timed(c.get("/health"))
            assert health.status_code == 503, health.text
            assert health.json()["status"] == "unavailable"
            assert health_s < HEALTH_TIMEOUT_S + MARGIN_S / 2

            calls = {
                "read": c.get(f"/fhir/r4/Patient/{pid}"),
                "search": c.get("/fhir/r4/Patient", params={"family": "Reyes"}),
                "create": c.post("/fhir/r4/Patient", json=make_patient()),
                "graphql": c.post("/graphql", json={"query": "query($id: ID!) { patient(id: $id) { id } }",
                                                    "variables": {"id": pid}}),
                "qapi": c.get("/qapi/v1/webhooks"),
            }
            results = dict(zip(calls, await asyncio.gather(*(timed(call) for call in calls.values())),
                               strict=True))
        finally:
            proxy.thaw()

        for door, (response, seconds) in results.items():
            assert seconds < DB_TIMEOUT_S + MARGIN_S, (door, seconds)
            if door == "graphql":
                assert response.status_code == 200
                assert response.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
            else:
                assert response.status_code == 503, (door, response.text)
        assert results["read"][0].json()["resourceType"] == "OperationOutcome"
        assert "message" in results["qapi"][0].json()["error"]

        # Thawed, the driver finds the server again by itself.
        deadline = time.monotonic() + 30
        while (await c.get("/health")).status_code != 200:
            assert time.monotonic() < deadline, "the app did not recover after the database came back"
            await asyncio.sleep(0.2)
        assert (await c.get(f"/fhir/r4/Patient/{pid}")).status_code == 200


def test_uri_options_win_over_the_defaults() -> None:
    mine = client_options("mongodb://db.example:27017/?serverSelectionTimeoutMS=30000&appName=x", 5.0)
    assert mine == {"connectTimeoutMS": 5000}
    assert client_options("mongodb://u:p%3F@db.example/?ConnectTimeoutMS=1", 2.5) == {
        "serverSelectionTimeoutMS": 2500, "appname": "fhirgraph"}
    assert client_options("mongodb://db.example", 5.0) == {
        "serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000, "appname": "fhirgraph"}
