"""The per-clinic rate limit through the real app over loopback: 429 with Retry-After and the RateLimit fields,
in each door's shape; what does not count (store round trips: test_ratelimit_calls.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.settings import Settings
from tests.conftest import ServerThread, drop_test_database, running_app
from tests.factories import make_patient

LIMIT = 5
ORIGIN = "http://app.example"
DOORS = ("fhir", "graphql", "qapi", "ws", "ws-init", "free", "browser")
KEYS = {door: f"rl-key-{door}" for door in DOORS}


def limited_app(settings: Settings, keys: dict[str, str], **update: object) -> Iterator[ServerThread]:
    """The app with ``LIMIT`` requests per minute per clinic; ``keys``: {door: API key}, one clinic each."""
    s = settings.model_copy(update={
        "db_name": f"fhirgraph_rl_{uuid.uuid4().hex[:8]}", "allow_anonymous": False,
        "api_keys": ",".join(f"{key}=rl-{door}" for door, key in keys.items()),
        "rate_limit_per_minute": LIMIT, "cors_origins": ORIGIN, **update})
    with running_app(s) as srv:
        yield srv
    drop_test_database(s)


@pytest.fixture(scope="module")
def limited(settings: Settings) -> Iterator[ServerThread]:
    """The app with 5 requests per minute per clinic, one clinic (API key) per test so they never share; a
    grant is a fifth of the limit, one request per sync here: syncs come often."""
    yield from limited_app(settings, KEYS, rate_limit_sync_interval_s=0.05)


async def admitted(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """``send()``'s answer once it is not refused for want of a grant (one request per sync at this limit): that
    429 says Retry-After: 1, the minute has room; the next sync brings a grant."""
    for _ in range(400):
        r = await send()
        if r.status_code != 429 or r.headers["retry-after"] != "1":
            return r
        await asyncio.sleep(0.02)
    raise AssertionError("refused for want of a grant, sync after sync")


def assert_refused_with_quota(r: httpx.Response) -> None:
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 120
    assert r.headers["ratelimit-policy"] == f'"clinic";q={LIMIT};w=60'
    assert r.headers["ratelimit"] == f'"clinic";r=0;t={r.headers["retry-after"]}'


async def test_fhir_rest_answers_429_as_an_operation_outcome(limited: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=f"{limited.url}/fhir/r4", headers={"X-API-Key": KEYS["fhir"]}) as c:
        created = await admitted(lambda: c.post("/Patient", json=make_patient()))
        assert created.status_code == 201
        assert created.headers["ratelimit-policy"] == f'"clinic";q={LIMIT};w=60'
        assert created.headers["ratelimit"].startswith(f'"clinic";r={LIMIT - 1};t=')
        pid = created.json()["id"]
        # Reads by id go through the read lane, in front of the routes: counted all the same.
        reads = [await admitted(lambda: c.get(f"/Patient/{pid}")) for _ in range(LIMIT - 1)]
        assert [r.status_code for r in reads] == [200] * (LIMIT - 1)
        assert [r.headers["ratelimit"].split(";")[1] for r in reads] == [f"r={n}" for n in range(LIMIT - 2, -1, -1)]
        for refused in (await c.get(f"/Patient/{pid}"), await c.get("/Patient")):
            assert_refused_with_quota(refused)
            body = refused.json()
            assert body["resourceType"] == "OperationOutcome"
            assert body["issue"][0]["code"] == "throttled"
            assert "1000" not in body["issue"][0]["diagnostics"] and str(LIMIT) in body["issue"][0]["diagnostics"]
        # The discovery documents and the health probe are never counted, nor refused.
        assert (await c.get("/metadata")).status_code == 200
        assert (await c.get(f"{limited.url}/health")).status_code == 200


async def test_graphql_answers_429_with_too_many_requests_in_the_negotiated_media_type(
        limited: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=limited.url, headers={"X-API-Key": KEYS["graphql"]}) as c:
        for _ in range(LIMIT):
            r = await admitted(lambda: c.post("/graphql", json={"query": "{ __typename }"}))
            assert r.status_code == 200 and "ratelimit" in r.headers
        # GraphQL over HTTP: the refusal in the media type the request asked for, as an answer would be.
        for accept, media in ((None, "application/json"), ("application/json", "application/json"),
                              ("application/graphql-response+json", "application/graphql-response+json"),
                              ("application/graphql-response+json, application/json;q=0.9",
                               "application/graphql-response+json")):
            headers = {"Accept": accept} if accept else {}
            refused = await c.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
            assert_refused_with_quota(refused)
            assert refused.headers["content-type"].split(";")[0] == media, accept
            errors = refused.json()["errors"]
            assert len(errors) == 1 and errors[0]["extensions"]["code"] == "TOO_MANY_REQUESTS"


async def test_qapi_answers_429_in_its_error_shape(limited: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=f"{limited.url}/qapi/v1", headers={"Api-Key": KEYS["qapi"]}) as c:
        answered = [await admitted(lambda: c.get("/patients")) for _ in range(LIMIT)]
        assert all(r.status_code != 429 for r in answered)
        refused = await c.get("/patients")
    assert_refused_with_quota(refused)
    body = refused.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message"} and "Rate limit" in body["error"]["message"]


async def test_a_browser_app_can_read_the_429(limited: ServerThread) -> None:
    # From a page of an allowed origin: without Access-Control-Allow-Origin on the 429, the browser hands the
    # app a network error instead, and Retry-After with it is lost.
    headers = {"X-API-Key": KEYS["browser"], "Origin": ORIGIN}
    async with httpx.AsyncClient(base_url=limited.url, headers=headers) as c:
        for _ in range(LIMIT):
            answered = await admitted(lambda: c.get("/fhir/r4/Patient/none"))
            assert answered.headers["access-control-allow-origin"] == ORIGIN
        for refused in (await c.get("/fhir/r4/Patient/none"), await c.post("/graphql", json={"query": "{ a }"}),
                        await c.get("/qapi/v1/patients")):
            assert_refused_with_quota(refused)
            assert refused.headers["access-control-allow-origin"] == ORIGIN
            exposed = refused.headers["access-control-expose-headers"].lower()
            assert {"retry-after", "ratelimit", "ratelimit-policy"} <= set(exposed.replace(" ", "").split(","))


async def test_a_websocket_counts_once_and_is_refused_at_the_handshake(limited: ServerThread) -> None:
    url = limited.url.replace("http", "ws", 1) + "/graphql"
    headers = {"X-API-Key": KEYS["ws"]}
    async with connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                       additional_headers=headers) as ws:
        # Frames on an open connection are not requests of their own.
        for _ in range(LIMIT + 2):
            await ws.send('{"type": "ping"}')
            assert "pong" in str(await ws.recv())
    async with httpx.AsyncClient(base_url=limited.url, headers=headers) as c:
        for _ in range(LIMIT - 1):
            assert (await admitted(lambda: c.post("/graphql", json={"query": "{ __typename }"}))).status_code == 200
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                           additional_headers=headers):
            pass
    response = refused.value.response
    assert response.status_code == 429 and response.headers["RateLimit-Policy"] == f'"clinic";q={LIMIT};w=60'
    assert b"TOO_MANY_REQUESTS" in response.body


async def test_a_websocket_authenticated_in_connection_init_counts_there(limited: ServerThread) -> None:
    url = limited.url.replace("http", "ws", 1) + "/graphql"
    init = orjson.dumps({"type": "connection_init", "payload": {"X-API-Key": KEYS["ws-init"]}}).decode()

    async def closed() -> tuple[int, str] | None:
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(init)
            try:
                assert orjson.loads(await ws.recv())["type"] == "connection_ack"
            except ConnectionClosed as exc:
                return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else None
            return None

    assert await closed() is None  # admitted: one of the five
    async with httpx.AsyncClient(base_url=limited.url, headers={"X-API-Key": KEYS["ws-init"]}) as c:
        for _ in range(LIMIT - 1):
            assert (await admitted(lambda: c.post("/graphql", json={"query": "{ __typename }"}))).status_code == 200
    # Try Again Later, with the wait: not 4403 Forbidden, after which a client would not reconnect.
    refused = await closed()
    assert refused is not None and refused[0] == 1013, refused
    assert refused[1].startswith("Rate limit exceeded; retry after ") and 1 <= int(refused[1].split()[-2]) <= 120


async def test_unauthenticated_and_probe_requests_do_not_count(limited: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=limited.url) as c:
        for _ in range(LIMIT * 2):
            assert (await c.get("/fhir/r4/Patient")).status_code == 401
            assert (await c.get("/health", headers={"X-API-Key": KEYS["free"]})).status_code == 200
            assert (await c.get("/fhir/r4/metadata", headers={"X-API-Key": KEYS["free"]})).status_code == 200
        assert (await c.get("/fhir/r4/Patient", headers={"X-API-Key": KEYS["free"]})).status_code == 200
