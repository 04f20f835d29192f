"""GraphQL subscriptions over graphql-transport-ws, with a real client (gql), against the real server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.settings import Settings
from tests.conftest import API_KEYS, drop_test_database, running_app
from tests.factories import make_appointment, make_patient, make_practitioner

EVENTS = """
subscription Live($types: [String!], $patientId: ID, $after: String) {
  events(types: $types, patientId: $patientId, after: $after) {
    id type occurredAt cursor sequence resourceType resourceId versionId patientId
    appointment { id status start patientId }
    patient { id }
  }
}"""

APPOINTMENTS = """
subscription Appts($practitionerId: ID, $after: String) {
  appointmentEvents(practitionerId: $practitionerId, after: $after) {
    type cursor resourceId appointment { id status practitionerId }
  }
}"""


def ws_url(events_url: str) -> str:
    return events_url.replace("http://", "ws://") + "/graphql"


def transport(events_url: str, tenant: str = "tenant-a", subprotocol: str = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL,
              **kw: Any) -> WebsocketsTransport:
    return WebsocketsTransport(url=ws_url(events_url), subprotocols=[subprotocol],
                               init_payload={"apiKey": API_KEYS[tenant]}, **kw)


class Feed:
    """A running subscription: results land in a queue, read with a timeout."""

    def __init__(self, events_url: str, query: str, variables: dict[str, Any], tenant: str = "tenant-a",
                 **kw: Any):
        self.client = Client(transport=transport(events_url, tenant, **kw))
        self.request = GraphQLRequest(query, variable_values=variables)
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def _run(self) -> None:
        async with self.client as session:
            self.ready.set()
            async for result in session.subscribe(self.request):
                self.queue.put_nowait(result)

    async def __aenter__(self) -> Feed:
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.ready.wait(), 5)
        await asyncio.sleep(0.2)  # the subscribe message is on its way; the server registers it at once
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task

    async def take(self, n: int, within: float = 1.0) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            out.append(await asyncio.wait_for(self.queue.get(), within))
        return out

    async def nothing(self, wait: float = 0.4) -> bool:
        await asyncio.sleep(wait)
        return self.queue.empty()


@pytest.fixture
async def patient_id(fhir_a: httpx.AsyncClient) -> str:
    r = await fhir_a.post("/Patient", json=make_patient())
    return str(r.json()["id"])


async def _book(fhir: httpx.AsyncClient, pid: str, day: int, **kw: Any) -> tuple[dict[str, Any], float]:
    r = await fhir.post("/Appointment", json=make_appointment(pid, start=f"2026-11-{day:02d}T09:00:00Z",
                                                             end=f"2026-11-{day:02d}T09:30:00Z", **kw))
    assert r.status_code == 201, r.text
    return r.json(), time.monotonic()


async def test_booked_events_arrive_in_order_within_a_second(events_url: str, fhir_a: httpx.AsyncClient,
                                                             patient_id: str) -> None:
    async with Feed(events_url, EVENTS, {"patientId": patient_id}) as feed:
        booked = [await _book(fhir_a, patient_id, d) for d in range(1, 6)]
        got = await feed.take(5)
        received = time.monotonic()
    events = [g["events"] for g in got]
    assert [e["resourceId"] for e in events] == [a["id"] for a, _ in booked]
    assert all(e["type"] == "appointment.booked" and e["resourceType"] == "Appointment" for e in events)
    assert [e["appointment"]["id"] for e in events] == [a["id"] for a, _ in booked]
    assert events[0]["appointment"]["status"] == "BOOKED" and events[0]["appointment"]["patientId"] == patient_id
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    assert events[0]["versionId"] == "1" and events[0]["patientId"] == patient_id
    assert received - booked[-1][1] < 1.0


async def test_events_from_every_door_are_the_same_stream(events_url: str, fhir_a: httpx.AsyncClient,
                                                          patient_id: str) -> None:
    """Booked through FHIR REST and through the GraphQL mutation: one stream, in write order."""
    mutation = """mutation($input: BookAppointmentInput!) { bookAppointment(input: $input) { id } }"""
    async with Feed(events_url, EVENTS, {"patientId": patient_id, "types": ["appointment.booked"]}) as feed, \
            httpx.AsyncClient(base_url=events_url, headers={"X-API-Key": API_KEYS["tenant-a"]}) as gql_http:
        ids = []
        for day in range(10, 14):
            if day % 2:
                ids.append((await _book(fhir_a, patient_id, day))[0]["id"])
            else:
                r = await gql_http.post("/graphql", json={"query": mutation, "variables": {"input": {
                    "patientId": patient_id, "start": f"2026-11-{day}T09:00:00Z", "end": f"2026-11-{day}T09:30:00Z"}}})
                assert r.status_code == 200 and "errors" not in r.json(), r.text
                ids.append(r.json()["data"]["bookAppointment"]["id"])
        got = await feed.take(4)
    assert [g["events"]["resourceId"] for g in got] == ids
    assert [g["events"]["appointment"]["id"] for g in got] == ids


async def test_resume_after_cursor_gets_exactly_the_missed_then_live(events_url: str, fhir_a: httpx.AsyncClient,
                                                                     patient_id: str) -> None:
    variables = {"patientId": patient_id, "types": ["appointment.booked"]}
    async with Feed(events_url, EVENTS, variables) as feed:
        first = [await _book(fhir_a, patient_id, d) for d in (1, 2)]
        got = await feed.take(2)
    cursor = got[-1]["events"]["cursor"]
    missed = [(await _book(fhir_a, patient_id, d))[0]["id"] for d in (3, 4, 5)]
    async with Feed(events_url, EVENTS, {**variables, "after": cursor}) as feed:
        replayed = await feed.take(3)
        live = (await _book(fhir_a, patient_id, 6))[0]["id"]
        [now] = await feed.take(1)
        assert await feed.nothing()
    assert [g["events"]["resourceId"] for g in replayed] == missed
    assert now["events"]["resourceId"] == live
    assert {a["id"] for a, _ in first}.isdisjoint(missed + [live])


async def test_each_version_is_resolved_as_of_its_event(events_url: str, fhir_a: httpx.AsyncClient) -> None:
    query = """subscription($patientId: ID) { events(patientId: $patientId) {
      type action versionId patient { id version } } }"""
    created = (await fhir_a.post("/Patient", json=make_patient())).json()
    pid = created["id"]
    async with Feed(events_url, query, {"patientId": pid}) as feed:
        assert (await fhir_a.put(f"/Patient/{pid}", json={**created, "gender": "other"})).status_code == 200
        assert (await fhir_a.delete(f"/Patient/{pid}")).status_code in (200, 204)
        got = [g["events"] for g in await feed.take(2)]
    assert [(e["type"], e["action"], e["versionId"]) for e in got] == [
        ("patient.updated", "update", "2"), ("patient.deleted", "delete", "3")]
    assert got[0]["patient"] == {"id": pid, "version": 2}
    assert got[1]["patient"] is None  # a deletion has no resource to show


async def test_nested_relations_are_fresh_for_every_event(events_url: str, fhir_a: httpx.AsyncClient) -> None:
    """A connection lives for hours: related records resolved for one event are not cached for the next."""
    query = """subscription($patientId: ID) { events(patientId: $patientId, types: ["appointment.booked"]) {
      appointment { id patient { lastName } } } }"""
    created = (await fhir_a.post("/Patient", json=make_patient(family="Before"))).json()
    pid = created["id"]
    async with Feed(events_url, query, {"patientId": pid}) as feed:
        await _book(fhir_a, pid, 20)
        [first] = await feed.take(1)
        renamed = {**created, "name": [{"use": "official", "family": "After", "given": ["Maria"]}]}
        assert (await fhir_a.put(f"/Patient/{pid}", json=renamed)).status_code == 200
        await _book(fhir_a, pid, 21)
        [second] = await feed.take(1)
    assert first["events"]["appointment"]["patient"]["lastName"] == "Before"
    assert second["events"]["appointment"]["patient"]["lastName"] == "After"


async def test_tenant_never_sees_another_tenants_events(events_url: str, fhir_a: httpx.AsyncClient,
                                                        fhir_b2: httpx.AsyncClient) -> None:
    async with Feed(events_url, EVENTS, {"types": ["patient.created"]}, tenant="tenant-b") as feed:
        await fhir_a.post("/Patient", json=make_patient())
        mine = (await fhir_b2.post("/Patient", json=make_patient())).json()["id"]
        [got] = await feed.take(1)
        assert await feed.nothing()
    assert got["events"]["resourceId"] == mine and got["events"]["patient"]["id"] == mine


async def test_cursor_of_another_tenant_is_refused(events_url: str, fhir_a: httpx.AsyncClient) -> None:
    from subscriptions.relay import encode_cursor

    client = Client(transport=transport(events_url))
    async with client as session:
        with pytest.raises(Exception) as err:
            async for _ in session.subscribe(GraphQLRequest(EVENTS, variable_values={
                    "after": encode_cursor("tenant-b", 1)})):
                break
    assert "Invalid cursor" in str(err.value)


async def test_appointment_events_filtered_by_practitioner(events_url: str, fhir_a: httpx.AsyncClient,
                                                           patient_id: str) -> None:
    doc = (await fhir_a.post("/Practitioner", json=make_practitioner())).json()["id"]
    other = (await fhir_a.post("/Practitioner", json=make_practitioner(family="Other"))).json()["id"]
    async with Feed(events_url, APPOINTMENTS, {"practitionerId": doc}) as feed:
        await _book(fhir_a, patient_id, 7, practitioner_id=other)
        mine, _ = await _book(fhir_a, patient_id, 8, practitioner_id=doc)
        cancelled = {**mine, "status": "cancelled"}
        assert (await fhir_a.put(f"/Appointment/{mine['id']}", json=cancelled)).status_code == 200
        got = await feed.take(2)
        assert await feed.nothing()
    assert [g["appointmentEvents"]["type"] for g in got] == ["appointment.booked", "appointment.cancelled"]
    assert {g["appointmentEvents"]["appointment"]["practitionerId"] for g in got} == {doc}
    assert got[1]["appointmentEvents"]["appointment"]["status"] == "CANCELLED"


# ---------------------------------------------------------------------- protocol misuse


async def _raw(events_url: str, headers: dict[str, str] | None = None) -> Any:
    return await connect(ws_url(events_url), subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                         additional_headers=headers or {})


async def _closed_with(ws: Any, within: float = 3.0) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), within)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


async def test_connection_init_timeout_closes_4408(events_url: str) -> None:
    ws = await _raw(events_url, {"X-API-Key": API_KEYS["tenant-a"]})
    started = time.monotonic()
    assert await _closed_with(ws) == 4408
    assert time.monotonic() - started < 2.5  # connection_init_timeout_s = 1


async def test_connection_without_principal_closes_4403(events_url: str) -> None:
    ws = await _raw(events_url)
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
    assert await _closed_with(ws) == 4403
    ws = await _raw(events_url)
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {"apiKey": "wrong"}}).decode())
    assert await _closed_with(ws) == 4403


async def test_bearer_in_connection_init_and_header_auth(events_url: str) -> None:
    ws = await _raw(events_url)
    await ws.send(orjson.dumps({"type": "connection_init",
                                "payload": {"Authorization": f"Bearer {API_KEYS['tenant-a']}"}}).decode())
    assert orjson.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "connection_ack"
    await ws.close()
    ws = await _raw(events_url, {"X-API-Key": API_KEYS["tenant-a"]})
    await ws.send(orjson.dumps({"type": "connection_init"}).decode())
    assert orjson.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "connection_ack"
    await ws.close()


async def test_protocol_misuse_close_codes(events_url: str) -> None:
    sub = {"query": "subscription { events { id } }"}
    ws = await _raw(events_url, {"X-API-Key": API_KEYS["tenant-a"]})
    await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": sub}).decode())
    assert await _closed_with(ws) == 4401  # subscribe before connection_ack
    ws = await _raw(events_url, {"X-API-Key": API_KEYS["tenant-a"]})
    await ws.send(orjson.dumps({"type": "connection_init"}).decode())
    await ws.recv()
    await ws.send(orjson.dumps({"type": "connection_init"}).decode())
    assert await _closed_with(ws) == 4429  # too many initialisation requests
    ws = await _raw(events_url, {"X-API-Key": API_KEYS["tenant-a"]})
    await ws.send(orjson.dumps({"type": "connection_init"}).decode())
    await ws.recv()
    for _ in range(2):
        await ws.send(orjson.dumps({"id": "same", "type": "subscribe", "payload": sub}).decode())
    assert await _closed_with(ws) == 4409  # subscriber for that id already exists
    ws = await _raw(events_url, {"X-API-Key": API_KEYS["tenant-a"]})
    await ws.send("not json")
    assert await _closed_with(ws) == 4400


async def test_per_connection_subscription_cap(events_url: str) -> None:
    ws = await _raw(events_url, {"X-API-Key": API_KEYS["tenant-a"]})
    await ws.send(orjson.dumps({"type": "connection_init"}).decode())
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    for i in range(4):  # subscriptions_per_connection = 3
        await ws.send(orjson.dumps({"id": str(i), "type": "subscribe",
                                    "payload": {"query": "subscription { events { id } }"}}).decode())
    msg = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
    assert msg["type"] == "error" and msg["id"] == "3"
    assert msg["payload"][0]["message"] == "Subscription limit reached"
    await ws.close()


async def test_legacy_graphql_ws_subprotocol_is_off(events_url: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the handshake is refused
        ws = await connect(ws_url(events_url), subprotocols=["graphql-ws"],  # type: ignore[list-item]
                           additional_headers={"X-API-Key": API_KEYS["tenant-a"]})
        await ws.send(orjson.dumps({"type": "connection_init"}).decode())
        await asyncio.wait_for(ws.recv(), 3)


async def _renders(base: str, metric: str = "fhirgraph_subscription_renders_total") -> float:
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": API_KEYS["tenant-a"]}) as c:
        text = (await c.get("/metrics")).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(metric))


async def test_a_burst_reaches_every_subscriber_once_in_order(events_url: str, fhir_a: httpx.AsyncClient) -> None:
    """Concurrent writes while several subscribers listen: frames written by the relay's fan-out (an idle
    subscriber, a ready rendering) and by the subscriber's task (one still busy, or a rendering that reads the
    patient) interleave without reordering, loss or repeat; the delivery metric counts each frame once."""
    delivered = 'fhirgraph_events_delivered_total{channel="websocket"}'
    query = "subscription { events(types: [\"patient.created\"]) { resourceId sequence patient { id } } }"
    async with Feed(events_url, query, {}) as f1, Feed(events_url, query, {}) as f2, \
            Feed(events_url, query, {}) as f3:
        before = await _renders(events_url, delivered)
        created = await asyncio.gather(*(fhir_a.post("/Patient", json=make_patient()) for _ in range(24)))
        got = [[g["events"] for g in await f.take(24, within=5.0)] for f in (f1, f2, f3)]
        assert all([await f.nothing(0.3) for f in (f1, f2, f3)])
        counted = await _renders(events_url, delivered) - before
    ids = {r.json()["id"] for r in created}
    for events in got:
        assert {e["resourceId"] for e in events} == ids == {e["patient"]["id"] for e in events}
        assert [e["sequence"] for e in events] == sorted({e["sequence"] for e in events})
    assert got[0] == got[1] == got[2]
    assert counted == 3 * 24


async def test_one_rendering_per_event_for_identical_subscriptions(events_url: str, fhir_a: httpx.AsyncClient,
                                                                   fhir_b2: httpx.AsyncClient) -> None:
    """Subscribers with the same operation, variables and principal share one execution per event (and get the
    same answer); other variables render on their own; another tenant's subscriber shares nothing."""
    same = {"types": ["patient.created"]}
    other = {"types": ["patient.created", "patient.updated"]}
    async with Feed(events_url, EVENTS, same) as f1, Feed(events_url, EVENTS, same) as f2, \
            Feed(events_url, EVENTS, same) as f3, Feed(events_url, EVENTS, other) as f4, \
            Feed(events_url, EVENTS, same, tenant="tenant-b") as fb:
        before = await _renders(events_url)
        ids = [(await fhir_a.post("/Patient", json=make_patient())).json()["id"] for _ in range(2)]
        got = [await f.take(2) for f in (f1, f2, f3, f4)]
        assert await fb.nothing()
        renders = await _renders(events_url) - before
    assert got[0] == got[1] == got[2]
    assert [g["events"]["patient"]["id"] for g in got[0]] == ids
    assert [g["events"]["resourceId"] for g in got[3]] == ids
    assert renders == 4  # two events × two groups, not two events × four subscribers


@pytest.fixture(scope="module")
def legacy_url(events_settings: Settings) -> Iterator[str]:
    settings = events_settings.model_copy(update={"graphql_legacy_ws": True,
                                                  "db_name": f"{events_settings.db_name}_legacy"})
    with running_app(settings) as srv:
        yield srv.url
    drop_test_database(settings)


async def test_legacy_graphql_ws_when_enabled_shares_renders_too(legacy_url: str) -> None:
    """The legacy ``graphql-ws`` subprotocol has no lane: events go through Strawberry's per-result path, and
    identical subscriptions still share one execution per event."""
    legacy = {"subprotocol": WebsocketsTransport.APOLLO_SUBPROTOCOL}
    async with httpx.AsyncClient(base_url=f"{legacy_url}/fhir/r4", timeout=30,
                                 headers={"X-API-Key": API_KEYS["tenant-a"]}) as fhir, \
            Feed(legacy_url, EVENTS, {"types": ["patient.created"]}, **legacy) as f1, \
            Feed(legacy_url, EVENTS, {"types": ["patient.created"]}, **legacy) as f2:
        before = await _renders(legacy_url)
        pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
        [a], [b] = await f1.take(1), await f2.take(1)
        renders = await _renders(legacy_url) - before
    assert a == b and a["events"]["patient"]["id"] == pid
    assert renders == 1
