"""The PHI audit trail: every access and refusal becomes an AuditEvent (IHE BALP), written off the request path,
searchable through FHIR, append-only, and never carrying patient names, tokens or keys."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from pymongo import AsyncMongoClient

from app.settings import Settings
from auth.balp import Access, audit_event, fresh_id, redact_query
from auth.principal import Principal
from tests.conftest import API_KEYS, drop_test_database, running_app


async def _trail(fhir: httpx.AsyncClient, params: dict[str, str], want: int = 1) -> list[dict[str, Any]]:
    """The AuditEvents matching ``params`` once at least ``want`` have been written (batches are async)."""
    deadline = time.monotonic() + 5
    while True:
        found = (await fhir.get("/AuditEvent", params={**params, "_count": "100"})).json()
        entries = [e["resource"] for e in found.get("entry", [])]
        if len(entries) >= want or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(0.05)


def test_balp_shape_is_a_valid_auditevent() -> None:
    principal = Principal("clinic", "clinic/dr", scopes=frozenset({"user/*.rs"}), via="token", client_id="app-1",
                          user="Practitioner/pr-1")
    access = Access(time.time(), principal, "read", 200, "Observation", "o-1", None, None, "p-1")
    event = audit_event(access, "fhirgraph")
    AuditEvent.model_validate(event)  # a FHIR R4B AuditEvent
    assert event["type"]["code"] == "rest" and event["subtype"][0]["code"] == "read" and event["action"] == "R"
    assert event["outcome"] == "0"
    whos = [a["who"] for a in event["agent"]]
    assert {"reference": "Practitioner/pr-1"} in whos and any(w.get("display") == "app-1" for w in whos)
    refs = [e["what"]["reference"] for e in event["entity"] if "what" in e]
    assert refs == ["Patient/p-1", "Observation/o-1"]
    refused = audit_event(Access(time.time(), None, "search-type", 401, "Patient", None, None, "name=x"), "f")
    AuditEvent.model_validate(refused)
    assert refused["outcome"] == "4" and refused["subtype"][1]["code"] == "110113"


def test_record_ids_are_fresh_random_uuids_and_recorded_times_are_utc_milliseconds() -> None:
    ids = [fresh_id() for _ in range(2000)]  # several pools' worth
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122
               for i in ids)
    for at in (0.0, 1764660943.0005, 1764660943.9996, 1764660944.25, 4102444799.999):
        recorded = audit_event(Access(at, None, "read", 200), "f")["recorded"]
        assert recorded == datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_a_forked_worker_never_makes_its_parents_ids() -> None:
    """Workers forked from one process (several per port) draw ids from pools of their own."""
    fresh_id()  # the parent's pool is filled
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write, fresh_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as f:
        theirs = f.read()
    assert theirs and theirs != fresh_id()


def test_queries_are_recorded_without_what_identifies_a_person() -> None:
    shown = redact_query("Patient", "family=Zorro&given=Ana&birthdate=1970-01-01&gender=female&_count=5"
                                    "&identifier=123&address-city=Paris&_cursor=abc&telecom=555")
    assert "Zorro" not in shown and "Ana" not in shown and "1970" not in shown and "123" not in shown
    assert "Paris" not in shown and "555" not in shown and "abc" not in shown
    assert "gender=female" in shown and "_count=5" in shown


async def test_reads_searches_and_writes_are_audited(fhir: httpx.AsyncClient) -> None:
    family = "Audit" + uuid.uuid4().hex[:8]
    made = await fhir.post("/Patient", json={"resourceType": "Patient", "name": [{"family": family}]})
    pid = made.json()["id"]
    assert (await fhir.get(f"/Patient/{pid}")).status_code == 200
    assert (await fhir.get("/Observation", params={"patient": pid, "code": "8867-4"})).status_code == 200
    assert (await fhir.get("/Patient", params={"family": family})).status_code == 200
    events = await _trail(fhir, {"patient": pid}, want=3)
    subtypes = sorted(e["subtype"][0]["code"] for e in events)
    assert subtypes.count("create") == 1 and subtypes.count("read") == 1 and "search-type" in subtypes
    for event in events:
        AuditEvent.model_validate(event)
        assert event["agent"][0]["requestor"] is True
    # the name search: recorded as a query, the name itself redacted
    named = await _trail(fhir, {"subtype": "search-type", "date": f"ge{time.strftime('%Y-%m-%d')}"}, want=1)
    queries = [base64.b64decode(x["query"]).decode() for e in named for x in e.get("entity", []) if "query" in x]
    assert queries and all(family not in q for q in queries)
    # searchable by agent and date like any resource
    assert await _trail(fhir, {"altid": "api-key:tenant-a", "date": f"ge{time.strftime('%Y-%m-%d')}"})


async def test_refusals_are_audited(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=f"{base_url}/fhir/r4") as http:
        refused = await http.get("/Patient", headers={"X-API-Key": "not-a-key-" + uuid.uuid4().hex})
        assert refused.status_code == 401
        # the trial's default tenant holds the trail of callers nobody could be named for
        events = await _trail(http, {"outcome": "4", "subtype": "search-type"}, want=1)
    assert any(e["subtype"][-1]["code"] == "110113" and e["outcomeDesc"].startswith("HTTP 401") for e in events)
    assert all("not-a-key" not in str(e) for e in events)


async def test_the_trail_is_append_only(fhir_b: httpx.AsyncClient) -> None:
    fhir = fhir_b  # tenant-b's key holds system/*.* but not the audit-import scope
    made = await fhir.post("/AuditEvent", json={"resourceType": "AuditEvent", "type": {"code": "rest"},
                                                "recorded": "2026-01-01T00:00:00Z", "agent": [{"requestor": True}],
                                                "source": {"observer": {"display": "x"}}})
    assert made.status_code == 403 and made.json()["resourceType"] == "OperationOutcome"
    mine = await _trail(fhir, {"date": f"ge{time.strftime('%Y-%m-%d')}"}, want=1)
    rid = mine[0]["id"]
    for method in ("PUT", "DELETE", "PATCH"):
        answer = await fhir.request(method, f"/AuditEvent/{rid}", json=mine[0] if method == "PUT" else [],
                                    headers={"Content-Type": "application/json-patch+json"} if method == "PATCH"
                                    else {})
        # 405 whoever asks, before any scope is looked at: the type is never changed (FHIR: not allowed)
        assert answer.status_code == 405 and answer.json()["resourceType"] == "OperationOutcome", (method, answer.text)
        assert answer.headers["allow"] == "GET, HEAD"
    conditional = await fhir.delete("/AuditEvent", params={"outcome": "4"})
    assert conditional.status_code == 405, conditional.text


async def test_a_graphql_operation_refused_is_recorded_as_refused(settings: Settings) -> None:
    # GraphQL answers 200 with errors: the trail records what the errors amount to (FORBIDDEN → 403, outcome 4)
    # and a mutation as a mutation, whether it wrote or not
    from tests.scoped import scoped_app

    with scoped_app(settings) as app:
        reader = app.key("tenant-a", "patient/Observation.rs", patient="p-1", subject="narrow-reader")
        admin = app.key("tenant-a", "system/*.*", subject="auditor")
        async with httpx.AsyncClient(base_url=f"{app.url}/fhir/r4", headers={"X-API-Key": admin}) as fhir:
            assert (await fhir.put("/Patient/p-1", json={"resourceType": "Patient", "id": "p-1"})).status_code == 201
        async with httpx.AsyncClient(base_url=app.url, headers={"X-API-Key": reader}) as http:
            for op in ('mutation M1 { archivePatient(id: "p-1") { id } }', 'query Q1 { patient(id: "p-1") { id } }'):
                answer = (await http.post("/graphql", json={"query": op})).json()
                assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN", answer
        async with httpx.AsyncClient(base_url=f"{app.url}/fhir/r4", headers={"X-API-Key": admin}) as fhir:
            events = await _trail(fhir, {"altid": "narrow-reader", "subtype": "graphql-query,graphql-mutation"},
                                  want=2)
    found = sorted((e["subtype"][0]["code"], e["outcome"]) for e in events)
    assert found == [("graphql-mutation", "4"), ("graphql-query", "4")], events
    assert all(e["outcomeDesc"] == "HTTP 403 Forbidden" for e in events)


async def test_token_issuance_is_audited(base_url: str, settings: Settings) -> None:
    from tests.auth.oauth_helpers import backend_client, backend_token

    shown = await backend_client(settings, name="Audited")
    token = await backend_token(base_url, shown)
    async with httpx.AsyncClient(base_url=f"{base_url}/fhir/r4", headers={"X-API-Key": API_KEYS["tenant-a"]}) as fhir:
        events = await _trail(fhir, {"altid": shown["client_id"], "type": "110114"}, want=1)
    assert events and events[0]["type"]["display"] == "User Authentication"
    assert token not in str(events)


async def test_a_clean_shutdown_loses_no_record(settings: Settings) -> None:
    own = settings.model_copy(update={"db_name": f"fhirgraph_audit_{uuid.uuid4().hex[:8]}",
                                      "audit_interval_s": 5.0, "audit_batch_size": 10_000})
    n = 40
    with running_app(own) as srv:
        async with httpx.AsyncClient(base_url=f"{srv.url}/fhir/r4", headers={"X-API-Key": API_KEYS["tenant-b"]}) as c:
            pid = (await c.post("/Patient", json={"resourceType": "Patient"})).json()["id"]
            for _ in range(n):
                assert (await c.get(f"/Patient/{pid}")).status_code == 200
    # the server has stopped well before its next batch was due: the records were written at shutdown
    mongo: AsyncMongoClient[Any] = AsyncMongoClient(own.mongodb_uri)
    try:
        stored = await mongo[own.db_name]["AuditEvent"].count_documents({"_sys.tenant": "tenant-b"})
    finally:
        await mongo.close()
        drop_test_database(own)
    assert stored == n + 1


async def test_a_refused_write_is_recorded_with_the_status_it_got(fhir: httpx.AsyncClient) -> None:
    pid = (await fhir.post("/Patient", json={"resourceType": "Patient"})).json()["id"]
    stale = await fhir.put(f"/Patient/{pid}", json={"resourceType": "Patient", "id": pid},
                           headers={"If-Match": 'W/"9"'})
    assert stale.status_code == 412
    events = await _trail(fhir, {"entity": f"Patient/{pid}", "subtype": "update"})
    assert [e["outcomeDesc"] for e in events] == ["HTTP 412 Precondition Failed"]


def test_only_fhir_interactions_are_classified() -> None:
    from auth.audit_doors import classify

    assert classify("POST", "/fhir/r4/Patient") == ("create", "Patient", None, None, None)
    assert classify("OPTIONS", "/fhir/r4/Patient") is None  # a preflight touches no PHI
    assert classify("GET", "/fhir/r4/metadata") is None
    assert classify("GET", "/r4/Patient/1/_history/2") == ("vread", "Patient", "1", "2", None)


async def test_what_a_door_served_names_its_patient(fhir: httpx.AsyncClient) -> None:
    # An Observation read, written or searched through a POST body is about its subject: the AuditEvent names
    # that Patient, so a clinic administrator finds it searching the trail by patient.
    pid = (await fhir.post("/Patient", json={"resourceType": "Patient"})).json()["id"]
    obs = (await fhir.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "code": {"text": "Heart rate"},
        "subject": {"reference": f"Patient/{pid}"}})).json()
    assert (await fhir.get(f"/Observation/{obs['id']}")).status_code == 200
    assert (await fhir.get(f"/Observation/{obs['id']}/_history/1")).status_code == 200
    searched = await fhir.post("/Observation/_search", content=f"subject=Patient/{pid}&code=8867-4",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert searched.status_code == 200
    events = await _trail(fhir, {"patient": pid}, want=5)
    kinds = {(e["subtype"][0]["code"], x["what"]["reference"]) for e in events for x in e.get("entity", [])
             if "what" in x and not x["what"]["reference"].startswith("Patient/")}
    assert {("create", f"Observation/{obs['id']}"), ("read", f"Observation/{obs['id']}"),
            ("vread", f"Observation/{obs['id']}/_history/1")} <= kinds
    # (the trail's own searches by patient are recorded too: the Observation search is the one about Observation)
    queries = [base64.b64decode(x["query"]).decode() for e in events if e["subtype"][0]["code"] == "search-type"
               for x in e["entity"] if "query" in x and x.get("detail", [{}])[0].get("valueString") == "Observation"]
    assert queries == [f"subject=Patient/{pid}&code=8867-4"]  # the body's parameters


async def test_graphql_operations_record_the_types_they_touched(base_url: str, fhir: httpx.AsyncClient) -> None:
    started = time.time()
    pid = (await fhir.post("/Patient", json={"resourceType": "Patient"})).json()["id"]
    headers = {"X-API-Key": API_KEYS["tenant-a"]}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as http:
        read = await http.post("/graphql", json={"query": f'{{ patient(id: "{pid}") {{ id allergies {{ edges '
                                                          '{ node { id } } } } }'})
        assert read.status_code == 200 and read.json()["data"]["patient"]["id"] == pid, read.text
        wrote = await http.post("/graphql", json={"query": f'mutation {{ archivePatient(id: "{pid}") {{ id }} }}'})
        assert wrote.status_code == 200 and "errors" not in wrote.json(), wrote.text
    # (other tests of this tenant run GraphQL too: look for these two among the operations recorded since)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 1))

    def types(event: dict[str, Any]) -> set[str]:
        return {x["type"]["code"] for x in event.get("entity", []) if x["type"]["system"].endswith("resource-types")}

    deadline = time.monotonic() + 5
    while True:  # the trail is written in batches: wait for both
        events = await _trail(fhir, {"subtype": "graphql-query,graphql-mutation", "date": f"ge{since}"}, want=2)
        query = any(e["subtype"][0]["code"] == "graphql-query" and {"Patient", "AllergyIntolerance"} <= types(e)
                    for e in events)
        mutation = any(e["subtype"][0]["code"] == "graphql-mutation" and "Patient" in types(e) and e["action"] == "U"
                       for e in events)
        if (query and mutation) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert query and mutation, events


async def test_a_subscription_authenticated_in_connection_init_names_its_agent(base_url: str,
                                                                              fhir: httpx.AsyncClient) -> None:
    from gql import Client
    from gql.graphql_request import GraphQLRequest
    from gql.transport.websockets import WebsocketsTransport

    transport = WebsocketsTransport(url=base_url.replace("http://", "ws://") + "/graphql",
                                    subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                    init_payload={"X-API-Key": API_KEYS["tenant-a"]})
    async with Client(transport=transport) as session:
        subscription = session.subscribe(GraphQLRequest("subscription { events { id } }"))
        waiting = asyncio.ensure_future(subscription.__anext__())
        await asyncio.sleep(0.3)
        waiting.cancel()
    events = await _trail(fhir, {"subtype": "graphql-subscribe", "altid": "api-key:tenant-a"}, want=1)
    assert events and all(e["agent"][0]["who"].get("display") != "unauthenticated client" for e in events)


@pytest.mark.parametrize("writer", ["process", "inline"])
async def test_an_administrator_finds_a_token_s_read_by_every_search_parameter(
        base_url: str, settings: Settings, writer: str) -> None:
    """A practitioner's app reads a patient with its token; the clinic's administrator finds that record by agent
    (the user's fhirUser, the client's id, its identifier), agent-name, altid, a date range, patient, entity,
    outcome, action and subtype, and not by the same parameters naming something else — whichever writer stored
    it (the audit writer process, the session's, or the app's own process)."""
    from auth.balp import CLIENT_SID
    from tests.auth.oauth_helpers import authorize, register_app, register_user

    own = settings.model_copy(update={"audit_writer": writer}) if writer == "inline" else None
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(running_app(own)).url if own is not None else base_url
        async with httpx.AsyncClient(base_url=f"{base}/fhir/r4", headers={"X-API-Key": API_KEYS["tenant-a"]}) as fhir:
            made = await fhir.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Trail"}]})
            pid = made.json()["id"]
            practitioner = (await fhir.post("/Practitioner", json={"resourceType": "Practitioner"})).json()["id"]
            app = await register_app(settings, scope="launch/patient openid fhirUser user/*.rs")
            user = await register_user(settings, f"Practitioner/{practitioner}")
            start = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            token, _ = await authorize(app, base, user, "openid fhirUser user/*.rs")
            async with httpx.AsyncClient(base_url=f"{base}/fhir/r4") as http:
                read = await http.get(f"/Patient/{pid}", headers={"Authorization": f"Bearer {token['access_token']}"})
            assert read.status_code == 200, read.text
            end = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            found = await _trail(fhir, {"altid": app.client_id, "subtype": "read"}, want=1)
            assert len(found) == 1, found
            event_id = found[0]["id"]
            matching: list[dict[str, str]] = [
                {"agent": f"Practitioner/{practitioner}"}, {"agent": app.client_id},
                {"agent:identifier": f"{CLIENT_SID}|{app.client_id}"}, {"agent-name": user},
                {"agent-name": user[:6]}, {"altid": app.client_id},
                {"date": f"ge{start[:16]}", "date:": f"le{end}Z"}, {"date": start[:10]},
                {"patient": pid}, {"patient": f"Patient/{pid}"}, {"entity": f"Patient/{pid}"},
                {"outcome": "0"}, {"action": "R"}, {"subtype": "read"}]
            others: list[dict[str, str]] = [
                {"agent": "Practitioner/someone-else"}, {"agent": "another-client"}, {"agent-name": "nobody"},
                {"date": "lt2020-01-01"}, {"patient": "another"}, {"entity": "Patient/another"},
                {"outcome": "4"}, {"action": "C"}]
            for params in matching + others:
                query = [(k.rstrip(":"), v) for k, v in params.items()] + [("_id", event_id)]
                answer = await fhir.get("/AuditEvent", params=query)
                assert answer.status_code == 200, (params, answer.text)
                ids = [e["resource"]["id"] for e in answer.json().get("entry", [])]
                assert ids == ([event_id] if params in matching else []), params
            vague = await fhir.get("/AuditEvent", params={"agent:identifier": app.client_id})
            assert vague.status_code == 400 and "system|value" in vague.text
