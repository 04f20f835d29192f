"""Access tokens at the GraphQL door: over HTTP, and on a graphql-transport-ws socket that is closed when its
token is revoked or expires."""

from __future__ import annotations

import asyncio
import time

import httpx
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from app.settings import Settings
from tests.auth.oauth_helpers import backend_client, backend_token
from tests.conftest import ServerThread

EVENTS = "subscription { events { id type } }"


async def _backend_token(base_url: str, settings: Settings) -> tuple[str, str, str]:
    shown = await backend_client(settings, name="Dashboard")
    return await backend_token(base_url, shown), shown["client_id"], shown["client_secret"]


async def test_graphql_over_http_with_a_bearer_token(base_url: str, settings: Settings) -> None:
    token, _, _ = await _backend_token(base_url, settings)
    async with httpx.AsyncClient(base_url=base_url) as http:
        ok = await http.post("/graphql", json={"query": "{ __typename }"},
                             headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["data"] == {"__typename": "Query"}
        bad = await http.post("/graphql", json={"query": "{ __typename }"},
                              headers={"Authorization": "Bearer not.a.token"})
        assert bad.status_code == 401
        assert bad.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_revoked_token_closes_its_socket(base_url: str, settings: Settings) -> None:
    token, client_id, secret = await _backend_token(base_url, settings)
    url = base_url.replace("http://", "ws://") + "/graphql"
    transport = WebsocketsTransport(url=url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                    init_payload={"Authorization": f"Bearer {token}"})
    closed = asyncio.Event()
    ended: list[BaseException] = []

    async def listen() -> None:
        try:
            async with Client(transport=transport) as session:
                async for _ in session.subscribe(GraphQLRequest(EVENTS)):
                    pass
        except Exception as exc:  # noqa: BLE001 - how the client reports the server's close
            ended.append(exc)
        closed.set()

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    assert not closed.is_set()  # the token is good: the subscription runs
    async with httpx.AsyncClient(base_url=base_url) as http:
        revoked = await http.post("/auth/revoke", data={"token": token}, auth=(client_id, secret))
        assert revoked.status_code == 200
    started = time.monotonic()
    await asyncio.wait_for(closed.wait(), 5)
    await task
    assert time.monotonic() - started < 5
    assert ended and "4403" in repr(ended[0]) + repr(ended[0].__cause__), repr(ended)
    bad = WebsocketsTransport(url=url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                              init_payload={"Authorization": f"Bearer {token}"})
    refused = False
    try:
        async with Client(transport=bad) as session:
            async for _ in session.subscribe(GraphQLRequest(EVENTS)):
                break
    except Exception:  # noqa: BLE001 - refused at connection_init (4403)
        refused = True
    assert refused


async def test_a_socket_is_closed_when_its_token_expires(server: ServerThread, base_url: str) -> None:
    # A token of two seconds (configured lifetimes are at least a minute), signed by the running server's issuer.
    oauth = server.server.config.app.state.services.oauth
    token = oauth.tokens.issue(issuer=f"{base_url}/auth", audience=f"{base_url}/fhir/r4", tenant="tenant-a",
                               subject="short-lived", client_id="short-lived", scope="system/*.rs",
                               lifetime_s=2).token
    url = base_url.replace("http://", "ws://") + "/graphql"
    transport = WebsocketsTransport(url=url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                    init_payload={"Authorization": f"Bearer {token}"})
    ended: list[BaseException] = []
    opened = asyncio.Event()

    async def listen() -> None:
        try:
            async with Client(transport=transport) as session:
                opened.set()
                async for _ in session.subscribe(GraphQLRequest(EVENTS)):
                    pass
        except Exception as exc:  # noqa: BLE001 - how the client reports the server's close
            ended.append(exc)

    task = asyncio.create_task(listen())
    await asyncio.wait_for(opened.wait(), 5)  # accepted: the token was good
    await asyncio.wait_for(task, 10)  # then closed by the server, not by us
    assert ended and "4403" in repr(ended[0]) + repr(ended[0].__cause__), repr(ended)


async def test_browser_apps_get_cors(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        pre = await http.options("/fhir/r4/Patient", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] in ("*", "https://app.example")
        token = await http.options("/auth/token", headers={"Origin": "https://app.example",
                                                           "Access-Control-Request-Method": "POST"})
        assert token.status_code == 200
        read = await http.get("/fhir/r4/metadata", headers={"Origin": "https://app.example"})
        assert read.headers["access-control-allow-origin"] in ("*", "https://app.example")
        assert "etag" in read.headers.get("access-control-expose-headers", "").lower()
