"""Errors leave in the shape of the door a request came through, whoever raised them (seed 002 for qapi,
OperationOutcome for FHIR, GraphQL-over-HTTP errors with extensions.code for GraphQL)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.settings import Settings
from tests.conftest import API_KEYS, ServerThread, running_app


@pytest.fixture(scope="module")
def closed(settings: Settings) -> Iterator[ServerThread]:
    """The app with anonymous access off, as production runs it."""
    with running_app(settings.model_copy(update={"allow_anonymous": False})) as srv:
        yield srv


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/qapi/v1/no-such-route", 404),
    ("GET", "/qapi/v1/patients/1/nothing", 404),
    ("PATCH", "/qapi/v1/webhooks", 405),
    ("POST", "/qapi/v1/webhooks", 400),
])
async def test_every_qapi_error_is_seed_002_shaped(client: httpx.AsyncClient, method: str, path: str,
                                                  status: int) -> None:
    r = await client.request(method, path, content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message"} and body["error"]["message"]


async def test_unknown_fhir_endpoint_and_method_are_operation_outcomes(fhir: httpx.AsyncClient) -> None:
    r = await fhir.request("PATCH", "/metadata")
    assert r.status_code == 405 and "GET" in r.headers["allow"]  # RFC 9110: a 405 names what is allowed
    assert r.json()["resourceType"] == "OperationOutcome" and r.json()["issue"][0]["code"] == "not-supported"
    r = await fhir.get("/Patient/x/y/z/w")
    assert r.status_code == 404 and r.json()["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("OPTIONS", "/fhir/r4/Patient", "DELETE, GET, HEAD, POST, PUT"),
    ("PATCH", "/fhir/r4/Patient", "DELETE, GET, HEAD, POST, PUT"),
    ("POST", "/fhir/r4/Patient/x", "DELETE, GET, HEAD, PATCH, PUT"),
    ("PATCH", "/fhir/r4/$bulkdata-status", "DELETE, GET, HEAD"),
    ("PATCH", "/fhir/r4/metadata", "GET, HEAD"),
    ("DELETE", "/qapi/v1/patients/1", "GET, HEAD, PUT"),
    ("OPTIONS", "/qapi/v1/appointments/1", "GET, HEAD, PUT"),
    ("DELETE", "/qapi/v1/appointments/1/attachments", "GET, HEAD, POST"),
    ("PATCH", "/qapi/v1/webhooks", "GET, HEAD, POST"),
])
async def test_a_405_names_every_method_of_the_path(client: httpx.AsyncClient, method: str, path: str,
                                                    allow: str) -> None:
    # RFC 9110 §15.5.6: the Allow of a 405 lists the target resource's methods, not those of the one route
    # (of several on the same path, one per method) the router happened to try first.
    r = await client.request(method, path, headers={"X-API-Key": API_KEYS["tenant-a"]})
    assert r.status_code == 405 and r.headers["allow"] == allow, r.text
    assert f"(allowed: {allow})" in r.text


async def test_missing_credentials_in_each_door_shape(closed: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=closed.url) as c:
        fhir = await c.get("/fhir/r4/Patient")
        qapi = await c.get("/qapi/v1/webhooks")
        graph = await c.post("/graphql", json={"query": "{ patients { totalCount } }"})
        metrics = await c.get("/metrics")
        open_ = [await c.get(path) for path in ("/health", "/fhir/r4/metadata", "/fhir/r4/openapi.json",
                                                 "/r4/openapi.json", "/fhir/r4/docs", "/qapi/v1/openapi.json")]
    assert fhir.status_code == 401 and fhir.json()["issue"][0]["code"] == "login"
    assert fhir.headers["www-authenticate"].startswith("Bearer")
    assert qapi.status_code == 401 and set(qapi.json()["error"]) == {"message"}
    assert graph.status_code == 401 and graph.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert metrics.status_code == 401
    assert [r.status_code for r in open_] == [200] * 6


async def test_a_wrong_key_is_refused_even_where_anonymous_callers_are_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/fhir/r4/Patient", headers={"X-API-Key": "not-a-key"})
    assert r.status_code == 401
    r = await client.get("/fhir/r4/Patient", headers={"X-API-Key": API_KEYS["tenant-a"]})
    assert r.status_code == 200


async def test_metrics_can_be_public(settings: Settings) -> None:
    with running_app(settings.model_copy(update={"allow_anonymous": False, "metrics_public": True})) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as c:
            r = await c.get("/metrics")
    assert r.status_code == 200 and "fhirgraph_store_calls" in r.text
