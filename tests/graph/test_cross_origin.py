"""A browser app on another origin (tests/graph/conftest.py's FRONT_END, an allowed CORS origin) using the GraphQL
door with real clients: the preflight a browser sends first, then a query, a mutation and a subscription with
``gql`` (Python) and with Apollo Client (Node); an origin not on the list gets no CORS answer, and its pages
cannot open the websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.exceptions import TransportConnectionFailed
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from tests.graph.conftest import FRONT_END, KEYS
from tests.npm import npm_modules

KEY = KEYS["graph-a"]
OTHER = "https://elsewhere.example"
CREATED = "subscription { events(types: [\"patient.created\"]) { type patientId } }"
CREATE = "mutation($i: PatientInput!) { createPatient(input: $i) { patient { id lastName } } }"
READ = "query($id: ID!) { patient(id: $id) { id lastName status } }"


def preflight(origin: str) -> dict[str, str]:
    # What a browser sends before a POST with a JSON body and an Authorization header (not CORS-safelisted).
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"}


async def test_preflight_then_query_mutation_subscription_with_gql(graph_url: str, tag: str) -> None:
    async with httpx.AsyncClient() as http:
        pre = await http.options(graph_url, headers=preflight(FRONT_END))
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == FRONT_END
    assert {"authorization", "content-type"} <= {h.strip().lower() for h in
                                                  pre.headers["access-control-allow-headers"].split(",")}
    assert "POST" in pre.headers["access-control-allow-methods"] and int(pre.headers["access-control-max-age"]) > 0

    http_transport = HTTPXAsyncTransport(url=graph_url, headers={"Origin": FRONT_END, "X-API-Key": KEY})
    ws_transport = WebsocketsTransport(url=graph_url.replace("http://", "ws://"), headers={"Origin": FRONT_END},
                                       subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                       init_payload={"apiKey": KEY})
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with Client(transport=ws_transport) as live, Client(transport=http_transport) as api:
        async def listen() -> None:
            async for result in live.subscribe(GraphQLRequest(CREATED)):
                events.put_nowait(result["events"])

        listening = asyncio.create_task(listen())
        await asyncio.sleep(0.3)  # the subscribe message is registered before the write
        made = await api.execute(GraphQLRequest(CREATE, variable_values={"i": {"firstName": "Gql",
                                                                              "lastName": f"Py{tag}"}}))
        assert http_transport.response_headers is not None
        assert http_transport.response_headers["access-control-allow-origin"] == FRONT_END
        patient = made["createPatient"]["patient"]
        read = await api.execute(GraphQLRequest(READ, variable_values={"id": patient["id"]}))
        assert read["patient"] == {"id": patient["id"], "lastName": f"Py{tag}", "status": "ACTIVE"}
        assert http_transport.response_headers["access-control-allow-origin"] == FRONT_END
        while True:  # other tests of this tenant may create patients meanwhile
            event = await asyncio.wait_for(events.get(), 10)
            if event["patientId"] == patient["id"]:
                break
        assert event["type"] == "patient.created"
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening


async def test_another_origin_gets_no_cors_answer_and_no_websocket(graph_url: str) -> None:
    async with httpx.AsyncClient() as http:
        pre = await http.options(graph_url, headers=preflight(OTHER))
        assert pre.status_code == 400 and "access-control-allow-origin" not in pre.headers
        answered = await http.post(graph_url, json={"query": "{ __typename }"},
                                   headers={"Origin": OTHER, "X-API-Key": KEY})
        assert answered.status_code == 200  # CORS is the browser's to enforce: it withholds the answer
        assert "access-control-allow-origin" not in answered.headers and "origin" in answered.headers["vary"].lower()
    refused = WebsocketsTransport(url=graph_url.replace("http://", "ws://"), headers={"Origin": OTHER},
                                  subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                  init_payload={"apiKey": KEY})
    with pytest.raises(TransportConnectionFailed) as failed:
        async with Client(transport=refused):
            pass
    assert "403" in repr(failed.value.__cause__)  # refused at the handshake


def apollo_modules() -> Path:
    return npm_modules("apollo-client", ("@apollo/client@3", "graphql@16", "graphql-ws@5", "ws@8"))


async def test_apollo_client_from_another_origin(graph_url: str, tag: str) -> None:
    modules = await asyncio.to_thread(apollo_modules)
    script = Path(__file__).with_name("node") / "apollo_client.cjs"
    proc = await asyncio.create_subprocess_exec("node", str(script), graph_url, FRONT_END, KEY, tag,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                env={**os.environ, "NODE_PATH": str(modules)})
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert proc.returncode == 0, (report, err.decode()[-2000:])
    assert report["read"] == {"__typename": "Patient", "id": report["created"], "lastName": f"Client{tag}",
                              "status": "ACTIVE"}
    assert [(e["type"], e["patientId"]) for e in report["events"]] == [("patient.created", report["created"])]
    assert len(report["cors"]) == 2 and all(c["allowOrigin"] == FRONT_END for c in report["cors"])
    assert all("origin" in (c["vary"] or "").lower() for c in report["cors"])
