"""The HTTP door: GraphQL over HTTP (GET and POST, media types, status codes), GraphiQL, the conformance audit."""

from __future__ import annotations

import asyncio

import httpx

from tests.graph.conftest import KEYS
from tests.graph.node_tools import run_node

H = {"X-API-Key": KEYS["graph-a"]}


async def test_get_runs_queries(http: httpx.AsyncClient, graph_url: str) -> None:
    r = await http.get(graph_url, params={"query": "{ __typename }"}, headers=H)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"data": {"__typename": "Query"}}


async def test_get_never_runs_mutations(http: httpx.AsyncClient, graph_url: str) -> None:
    q = 'mutation { restorePatient(id: "x") { id } }'
    r = await http.get(graph_url, params={"query": q}, headers=H)
    assert r.status_code in (400, 405)
    assert "restorePatient" not in r.text or "errors" in r.text


async def test_subscriptions_are_for_the_websocket(http: httpx.AsyncClient, graph_url: str) -> None:
    """Over HTTP a subscription once ran as a plain field and failed as INTERNAL."""
    for accept in ("application/json", "application/graphql-response+json"):
        r = await http.post(graph_url, json={"query": "subscription { events { id } }"},
                            headers={**H, "Accept": accept})
        assert r.status_code == 400 and "subscriptions are not allowed" in r.text
        assert "INTERNAL" not in r.text


async def test_graphql_response_media_type(http: httpx.AsyncClient, graph_url: str) -> None:
    accept = {**H, "Accept": "application/graphql-response+json"}
    ok = await http.post(graph_url, json={"query": "{ __typename }"}, headers=accept)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("application/graphql-response+json")
    bad = await http.post(graph_url, json={"query": "{ nope }"}, headers=accept)
    assert bad.status_code == 400
    body = bad.json()
    assert "data" not in body and body["errors"][0]["message"]
    legacy = await http.post(graph_url, json={"query": "{ nope }"}, headers=H)
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")


async def test_unauthenticated_is_refused_in_the_negotiated_media_type(http: httpx.AsyncClient,
                                                                      graph_url: str) -> None:
    # Refused before the view runs (auth middleware): answered in the media type the view would have chosen.
    for accept in (None, "application/json", "application/graphql-response+json"):
        headers = {"X-API-Key": "wrong", **({"Accept": accept} if accept else {})}
        r = await http.post(graph_url, json={"query": "{ __typename }"}, headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"].split(";")[0] == (accept or "application/json")
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_graphiql_is_served(http: httpx.AsyncClient, graph_url: str) -> None:
    r = await http.get(graph_url, headers={**H, "Accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()


async def test_graphql_http_audit_has_no_failures(graph_url: str) -> None:
    code, out, err = await asyncio.to_thread(run_node, "audit.cjs", graph_url, KEYS["graph-a"])
    assert out is not None, err
    assert out["error"] == [], out["error"]
    assert out["warn"] == [], out["warn"]
    assert code == 0


async def test_unreadable_requests_get_a_graphql_error_body(http: httpx.AsyncClient, graph_url: str) -> None:
    """Seen by a review: a body that is not JSON, has no query or variables that are not an object was
    answered 400 text/plain, with no errors list to read an extensions.code from."""
    json_type = {**H, "Content-Type": "application/json"}
    bodies = [b"not json", b'{"nope": 1}', b'{"query": "{ __typename }", "variables": "oops"}']
    for body in bodies:
        for accept in ("application/json", "application/graphql-response+json"):
            r = await http.post(graph_url, content=body, headers={**json_type, "Accept": accept})
            assert r.status_code == 400, body
            assert r.headers["content-type"].startswith(accept)
            errors = r.json()["errors"]
            assert len(errors) == 1 and errors[0]["message"]
            assert errors[0]["extensions"] == {"code": "BAD_REQUEST"}
