"""Two app processes share one ``fhirgraph devdb`` process: each webhook event is delivered once; one app is
SIGKILLed mid-stream and restarted — webhooks and resumed subscriptions lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.conftest import API_KEYS
from tests.factories import make_patient
from tests.processes import AppProcess, shared_store
from tests.subscriptions.conftest import Receiver, subscription

KEY = API_KEYS["tenant-a"]
FAST = {"FHIRGRAPH_ALLOW_ANONYMOUS": "false", "FHIRGRAPH_WEBHOOK_LEASE_S": "1.5",
        "FHIRGRAPH_WEBHOOK_SCAN_INTERVAL_S": "0.2", "FHIRGRAPH_WEBHOOK_RETRY_BASE_S": "0.05",
        "FHIRGRAPH_RELAY_POLL_INTERVAL_S": "0.05", "FHIRGRAPH_RELAY_GAP_GRACE_S": "0.5"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[AppProcess, AppProcess]]:
    """Two `fhirgraph serve` processes on one store (a `fhirgraph devdb` process, or MONGODB_URI)."""
    with shared_store() as uri:
        db_name = f"multi_{uuid.uuid4().hex[:6]}"
        apps = AppProcess(uri, db_name, FAST), AppProcess(uri, db_name, FAST)
        try:
            for app in apps:
                app.start()
            yield apps
        finally:
            for app in apps:
                app.stop()


async def _patients(url: str, n: int) -> list[str]:
    async with httpx.AsyncClient(base_url=f"{url}/fhir/r4", headers={"X-API-Key": KEY}, timeout=30) as c:
        out = []
        for _ in range(n):
            r = await c.post("/Patient", json=make_patient())
            assert r.status_code == 201, r.text
            out.append(r.json()["id"])
        return out


def _delivered(receiver: Receiver, endpoint: str) -> list[tuple[str, str, int]]:
    """(webhook-id, patient id, sequence) of every delivery, in arrival order."""
    out = []
    for r in receiver.at(endpoint):
        body = orjson.loads(r.body)
        out.append((r.headers["webhook-id"], body["resource"]["id"], body["event"]["sequence"]))
    return out


async def _until(receiver: Receiver, endpoint: str, ids: list[str], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if set(ids) <= {pid for _, pid, _ in _delivered(receiver, endpoint)}:
            return
        await asyncio.sleep(0.05)


Cluster = tuple[AppProcess, AppProcess]


async def test_two_instances_deliver_each_event_once(cluster: Cluster, receiver: Receiver) -> None:
    a, b = cluster
    endpoint = receiver.endpoint()
    async with httpx.AsyncClient(headers={"X-API-Key": KEY}) as c:
        r = await c.post(f"{a.url}/fhir/r4/Subscription", json=subscription(endpoint, "patient.created"))
        assert r.status_code == 201
    await asyncio.sleep(0.5)  # both instances see the webhook; one of them leases it
    written = []
    for i in range(10):
        written += await _patients((a if i % 2 else b).url, 3)
    await _until(receiver, endpoint, written)
    await asyncio.sleep(0.5)
    got = _delivered(receiver, endpoint)
    assert [pid for _, pid, _ in got] == written  # every event, once, in order
    assert len({wid for wid, _, _ in got}) == len(written)


class RawFeed:
    """graphql-transport-ws by hand (frames may be text or binary, whatever the view sends)."""

    def __init__(self, url: str, after: str | None = None):
        self.url = url.replace("http://", "ws://") + "/graphql"
        self.after = after
        self.received: list[dict[str, Any]] = []

    async def __aenter__(self) -> RawFeed:
        self.ws = await connect(self.url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                additional_headers={"X-API-Key": KEY})
        await self.ws.send(orjson.dumps({"type": "connection_init"}).decode())
        assert orjson.loads(await self.ws.recv())["type"] == "connection_ack"
        query = ("subscription($after: String) { events(types: [\"patient.created\"], after: $after) "
                 "{ id cursor resourceId } }")
        await self.ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": query, "variables": {"after": self.after}}}).decode())
        self.task = asyncio.create_task(self._read())
        await asyncio.sleep(0.2)
        return self

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                msg = orjson.loads(frame)
                if msg.get("type") == "next":
                    self.received.append(msg["payload"]["data"]["events"])
        except Exception:  # noqa: BLE001 - the server was killed
            return

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()

    async def wait(self, n: int, within: float = 10) -> None:
        deadline = time.monotonic() + within
        while len(self.received) < n and time.monotonic() < deadline:  # noqa: ASYNC110 - filled by a task
            await asyncio.sleep(0.02)


async def test_sigkill_mid_stream_loses_nothing(cluster: Cluster, receiver: Receiver) -> None:
    a, b = cluster
    endpoint = receiver.endpoint()
    async with httpx.AsyncClient(headers={"X-API-Key": KEY}) as c:
        r = await c.post(f"{a.url}/fhir/r4/Subscription", json=subscription(endpoint, "patient.created"))
        assert r.status_code == 201
        webhook = r.json()["id"]
    # Which instance holds the webhook's lease decides the victim: the live subscription is opened on that same
    # instance, so one SIGKILL takes down both the webhook deliverer and the subscription's server.
    warmup = await _patients(b.url, 1)
    await _until(receiver, endpoint, warmup)
    async with httpx.AsyncClient(headers={"X-API-Key": KEY}) as c:
        log = (await c.get(f"{b.url}/qapi/v1/webhooks/{webhook}/deliveries")).json()
    holder_pid = int(log[0]["owner"].split(":")[1])
    victim, survivor = (a, b) if a.proc and a.proc.pid == holder_pid else (b, a)

    async with RawFeed(victim.url) as feed:
        before = await _patients(survivor.url, 5)
        await feed.wait(5)
        assert [e["resourceId"] for e in feed.received] == before
        cursor = feed.received[-1]["cursor"]
        await _until(receiver, endpoint, before)
        # Writes keep flowing through the survivor while the victim dies mid-stream.
        writer = asyncio.create_task(_patients(survivor.url, 20))
        await asyncio.sleep(0.1)
        victim.kill()
        during = await writer

    victim.start()  # a killed AppProcess starts again on the same port
    after = await _patients(victim.url, 5)
    async with RawFeed(survivor.url, after=cursor) as resumed:
        await resumed.wait(25)
        live = await _patients(survivor.url, 2)
        await resumed.wait(27)
        await asyncio.sleep(0.3)
    assert [e["resourceId"] for e in resumed.received] == during + after + live  # exactly the missed, then live

    everything = warmup + before + during + after + live
    await _until(receiver, endpoint, everything, within=30)
    got = _delivered(receiver, endpoint)
    by_patient: dict[str, set[str]] = {}
    for wid, pid, _ in got:
        by_patient.setdefault(pid, set()).add(wid)
    assert set(by_patient) == set(everything)  # nothing lost
    assert all(len(ids) == 1 for ids in by_patient.values())  # a duplicate carries the same event id
    first_seen = list(dict.fromkeys(pid for _, pid, _ in got))
    assert first_seen == everything  # in order
    assert len(got) - len(everything) <= 2  # at-least-once: at most the in-flight delivery repeats
