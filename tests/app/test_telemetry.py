"""What an operator scrapes: /metrics after a mixed load (REST, GraphQL, a subscription, a webhook), parsed with
prometheus_client's own parser; labels stay bounded whatever ids and names callers send."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from app.main import create_app
from app.settings import Settings
from app.telemetry import REQUEST_ID, route_of
from graph.metrics import MAX_NAMES
from tests.conftest import API_KEYS, ServerThread, free_port
from tests.factories import make_patient
from tests.subscriptions.conftest import Receiver, subscription
from tests.subscriptions.test_graphql_subscriptions import EVENTS, Feed

KEY = {"X-API-Key": API_KEYS["tenant-a"]}
DOORS = {"fhir", "graphql", "qapi", "auth", "ops", "other"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    srv = ServerThread(rec.app(), free_port())
    rec.url = srv.url
    srv.start()
    yield rec
    srv.stop()


def scrape(text: str) -> dict[str, list[Sample]]:
    """Samples by metric family name, as Prometheus would ingest them."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def mixed_load(base_url: str, receiver: Receiver) -> str:
    """Returns the id of the patient the load made."""
    endpoint = receiver.endpoint()
    async with httpx.AsyncClient(base_url=base_url, headers=KEY, timeout=30) as c:
        hook = await c.post("/fhir/r4/Subscription", json=subscription(endpoint, "patient.created"))
        assert hook.status_code == 201, hook.text
        await asyncio.sleep(0.5)  # the webhook workers pick the new Subscription up on their next scan
        async with Feed(base_url, EVENTS, {"types": ["patient.created"]}) as feed:
            created = await c.post("/fhir/r4/Patient", json=make_patient())
            assert created.status_code == 201
            pid = created.json()["id"]
            [event] = await feed.take(1, within=5)
            assert event["events"]["resourceId"] == pid
            assert (await c.get(f"/fhir/r4/Patient/{pid}")).status_code == 200  # the read lane
            assert (await c.get(f"/fhir/r4/Patient/{pid}/_history")).status_code == 200
            assert (await c.get("/fhir/r4/Patient", params={"_id": pid})).status_code == 200
            assert (await c.get(f"/qapi/v1/webhooks/{uuid.uuid4()}")).status_code == 404
            named = await c.post("/graphql", json={"query": "query PatientCard($id: ID!) { patient(id: $id) { id } }",
                                                   "variables": {"id": pid}})
            assert named.status_code == 200 and "errors" not in named.json()
            anonymous = await c.post("/graphql", json={"query": "{ noSuchField }"})
            assert anonymous.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            assert (await c.get("/fhir/r4/metadata", headers={"X-API-Key": "wrong"})).status_code == 200
            assert (await c.get("/fhir/r4/Patient", headers={"X-API-Key": "wrong"})).status_code == 401
            assert len(await receiver.wait(endpoint, 1)) == 1
    return str(pid)


async def test_metrics_after_a_mixed_load_have_histograms_with_sane_labels(base_url: str,
                                                                           receiver: Receiver) -> None:
    pid = await mixed_load(base_url, receiver)
    async with httpx.AsyncClient(base_url=base_url, headers=KEY, timeout=30) as c:
        assert (await c.get(f"/r4/Patient/{pid}")).status_code == 200  # the read lane, under the other base
        assert (await c.get("/r4/Patient", params={"_id": pid})).status_code == 200  # its search, there too
        r = await c.get("/metrics")
    assert r.status_code == 200
    metrics = scrape(r.text)

    http = metrics["fhirgraph_http_request_duration_seconds"]
    assert {s.name for s in http} >= {"fhirgraph_http_request_duration_seconds_bucket",
                                      "fhirgraph_http_request_duration_seconds_sum",
                                      "fhirgraph_http_request_duration_seconds_count"}
    for sample in http:
        assert sample.labels["door"] in DOORS
        assert sample.labels["status"] in {"1xx", "2xx", "3xx", "4xx", "5xx", "none"}
        assert pid not in str(sample.labels)
    count = "fhirgraph_http_request_duration_seconds_count"
    assert value(http, count, door="fhir", route="/fhir/r4/{type}/{id}", method="GET", status="2xx") >= 1
    assert value(http, count, door="fhir", route="/r4/{type}/{id}", method="GET", status="2xx") >= 1
    assert value(http, count, door="fhir", route="/fhir/r4/{type}", method="GET", status="2xx") >= 1  # searches
    assert value(http, count, door="fhir", route="/r4/{type}", method="GET", status="2xx") >= 1
    assert value(http, count, door="fhir", route="/fhir/r4/{type}/{id}/_history", status="2xx") >= 1
    assert value(http, count, door="fhir", route="/fhir/r4/{type}", method="POST", status="2xx") >= 1
    assert value(http, count, door="graphql", route="/graphql", method="POST", status="2xx") >= 2
    assert value(http, count, door="qapi", status="4xx") >= 1
    assert value(http, count, door="fhir", route="/fhir/r4/…", status="4xx") >= 1  # refused before routing
    assert value(http, "fhirgraph_http_request_duration_seconds_bucket", route="/fhir/r4/{type}/{id}",
                 method="GET", status="2xx", le="+Inf") >= 1
    assert value(metrics["fhirgraph_http_requests_in_flight"], "fhirgraph_http_requests_in_flight",
                 door="ops") >= 1  # this scrape
    assert value(metrics["fhirgraph_auth_refusals"], "fhirgraph_auth_refusals_total", door="fhir") >= 1

    gql = metrics["fhirgraph_graphql_operation_duration_seconds"]
    assert value(gql, "fhirgraph_graphql_operation_duration_seconds_count", operation="PatientCard",
                 type="query") >= 1
    assert value(gql, "fhirgraph_graphql_operation_duration_seconds_count", operation="anonymous") >= 1
    assert value(metrics["fhirgraph_graphql_errors"], "fhirgraph_graphql_errors_total", operation="anonymous",
                 code="GRAPHQL_VALIDATION_FAILED") >= 1

    assert value(metrics["fhirgraph_websocket_handshakes"], "fhirgraph_websocket_handshakes_total",
                 door="graphql", outcome="accepted") >= 1
    assert "fhirgraph_websocket_connections" in metrics and "fhirgraph_graphql_subscriptions" in metrics
    assert value(metrics["fhirgraph_events_written"], "fhirgraph_events_written_total") >= 2
    assert value(metrics["fhirgraph_events_relayed"], "fhirgraph_events_relayed_total") >= 1
    assert value(metrics["fhirgraph_relay_lag_seconds"], "fhirgraph_relay_lag_seconds_count") >= 1
    delivered = metrics["fhirgraph_events_delivered"]
    assert value(delivered, "fhirgraph_events_delivered_total", channel="websocket") >= 1
    assert value(delivered, "fhirgraph_events_delivered_total", channel="webhook") >= 1
    assert value(metrics["fhirgraph_webhook_deliveries"], "fhirgraph_webhook_deliveries_total", outcome="ok") >= 1
    assert "fhirgraph_webhook_retry_queue" in metrics and "fhirgraph_webhook_dead_letters" in metrics

    store = metrics["fhirgraph_store_command_duration_seconds"]
    assert value(store, "fhirgraph_store_command_duration_seconds_count", operation="insert", outcome="ok") >= 1
    assert value(metrics["fhirgraph_store_calls"], "fhirgraph_store_calls_total", operation="find") >= 1


@contextlib.asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[Any]:
    """The real app, its lifespan run in this loop, called as an ASGI application without sockets."""
    app = create_app(settings.model_copy(update={"db_name": f"{settings.db_name}_telemetry"}))
    async with app.router.lifespan_context(app):
        yield app


async def call(app: Any, method: str, path: str, headers: dict[str, str] | None = None,
               body: bytes = b"") -> tuple[int, dict[bytes, bytes]]:
    raw = [(b"host", b"127.0.0.1"), *((k.lower().encode(), v.encode()) for k, v in (headers or KEY).items())]
    if body:
        raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http", "headers": raw,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"])


def label_sets(*names: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {(m.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")))
            for m in REGISTRY.collect() if m.name in names for s in m.samples}


async def test_cardinality_stays_bounded_after_ten_thousand_requests_to_random_ids(settings: Settings) -> None:
    families = ("fhirgraph_http_request_duration_seconds", "fhirgraph_http_requests_in_flight",
                "fhirgraph_graphql_operation_duration_seconds", "fhirgraph_graphql_errors",
                "fhirgraph_store_calls", "fhirgraph_store_command_duration_seconds")
    ids = [secrets.token_hex(6) for _ in range(2000)]
    paths = [f"/fhir/r4/Patient/{i}" for i in ids] + [f"/fhir/r4/Observation/{i}/_history/2" for i in ids] + \
        [f"/r4/Zz{i}/{i}" for i in ids] + [f"/qapi/v1/webhooks/{i}" for i in ids] + [f"/{i}/x" for i in ids]
    async with in_process(settings) as app:
        await call(app, "GET", "/fhir/r4/metadata")  # every label set of a normal start exists before counting
        before = label_sets(*families)
        for start in range(0, len(paths), 200):  # concurrent, as a real load: reads share store round trips
            statuses = await asyncio.gather(*(call(app, "GET", p) for p in paths[start:start + 200]))
            assert all(status in (401, 404) for status, _ in statuses)
        names = [f"Op{i}" for i in ids[:MAX_NAMES + 50]]
        for name in names:
            status, _ = await call(app, "POST", "/graphql",
                                   body=f'{{"query": "query {name} {{ __typename }}"}}'.encode())
            assert status == 200
        after = label_sets(*families)
    added = after - before
    seen = str(added)
    assert not any(i in seen for i in ids[MAX_NAMES:]), "an id became a label value"
    http_added = {labels for name, labels in added if name == "fhirgraph_http_request_duration_seconds"}
    assert len(http_added) <= 12, http_added  # a handful of (route, status) pairs, not one per id
    operations = {dict(labels)["operation"] for name, labels in after
                  if name == "fhirgraph_graphql_operation_duration_seconds"}
    assert len(operations) <= MAX_NAMES + 3 and "other" in operations  # the cap, anonymous, invalid, other


def test_route_of_never_returns_a_client_chosen_segment() -> None:
    def scope(path: str, method: str = "GET") -> dict[str, Any]:
        return {"type": "http", "path": path, "method": method, "root_path": ""}

    assert route_of(scope("/fhir/r4/Patient/abc123")) == "/fhir/r4/{type}/{id}"  # answered by the read lane
    assert route_of(scope("/r4/Patient/abc123")) == "/r4/{type}/{id}"
    assert route_of(scope("/fhir/r4/Patient/abc123", "DELETE")) == "/fhir/r4/…"  # not routed (refused first)
    assert route_of(scope("/qapi/v1/patients/Smith")) == "/qapi/v1/…"
    assert route_of(scope("/health/ready")) == "/health/ready"
    assert route_of(scope("/Smith/1980-01-01")) == "(no route)"


@pytest.mark.parametrize("given,kept", [
    (b"0f8fa3c2-7a5e-4b7f-9d1e-2a4c6e8f0b1d", True), (b"req-20261201-000042", True), (b"abc:def.ghi_jkl", True),
    (b"short", False), (b"a" * 129, False), (b"Anna Smith 1980-01-01", False), (b"id\r\nx", False),
    (b"-starts-with-dash", False), ("Zoë-Müller-19800101".encode(), False),
])
def test_a_request_id_is_accepted_only_when_well_formed(given: bytes, kept: bool) -> None:
    assert bool(REQUEST_ID.fullmatch(given)) is kept
