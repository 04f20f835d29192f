"""Logs never carry patient data or credentials, at any level: ``fhirgraph serve --access-log`` at DEBUG, every
line it writes captured, sent requests full of patient data and keys. In production (MONGODB_URI set) every line
is a JSON object, the access lines with request id, door, route template, status, duration, tenant and client."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from app.logs import Floors, JsonFormatter, TextFormatter, request_id
from app.settings import Settings
from tests.app.serving import Served, serving
from tests.factories import make_patient
from tests.processes import shared_store

# Distinctive values, built at run time so no source line shown in a traceback could hold them either.
FAMILY = "Zq" + secrets.token_hex(4)
GIVEN = "Wilhelmina" + secrets.token_hex(2)
SSN = f"9{secrets.randbelow(10 ** 8):08d}"
BIRTH = f"19{secrets.randbelow(80) + 10}-0{secrets.randbelow(9) + 1}-1{secrets.randbelow(9)}"
KEY = "k" + secrets.token_hex(16)
PASSWORD = "pw-" + secrets.token_hex(8)
REQUEST_ID = "req-" + secrets.token_hex(8)
DB = "fhirgraph_logs_" + secrets.token_hex(4)
URI: list[str] = []
SEEN: list[str] = []  # credentials the server handed out during the test: none may reach its log


@pytest.fixture(scope="module")
def app() -> Iterator[Served]:
    with shared_store() as uri, serving(uri, "--access-log", env={"FHIRGRAPH_LOG_LEVEL": "DEBUG",
                                                                "FHIRGRAPH_API_KEYS": f"{KEY}=tenant-logs",
                                                                "FHIRGRAPH_DB_NAME": DB}) as s:
        URI.append(uri)
        yield s


async def sign_in_and_out(app: Served, pid: str) -> None:
    """The authorization server's secrets: a client secret, a password, codes, access and refresh tokens."""
    from pymongo import AsyncMongoClient

    from auth.registry import add_client, add_user
    from store.identity import IdentityStore
    from tests.auth.oauth_helpers import App, authorize

    mongo: AsyncMongoClient[object] = AsyncMongoClient(URI[0], tz_aware=True)
    identity = IdentityStore(mongo[DB])  # type: ignore[arg-type]
    backend = await add_client(identity, name="Logs", tenant="tenant-logs", redirect_uris=[],
                               grant="client_credentials", scopes=["system/*.rs"])
    public = await add_client(identity, name="Logs app", tenant="tenant-logs",
                              redirect_uris=["https://app.example/callback"], public=True)
    await add_user(identity, username="logs-user", password=PASSWORD, fhir_user=f"Patient/{pid}",
                   tenant="tenant-logs")
    await mongo.close()
    async with httpx.AsyncClient(base_url=app.url, timeout=30) as c:
        issued = await c.post("/auth/token", data={"grant_type": "client_credentials"},
                              auth=(backend["client_id"], backend["client_secret"]))
        token = issued.json()["access_token"]
        assert (await c.get(f"/fhir/r4/Patient/{pid}", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        await c.post("/auth/revoke", data={"token": token}, auth=(backend["client_id"], backend["client_secret"]))
        SEEN.extend([backend["client_secret"], token])
    login, location = await authorize(App(public["client_id"], None, "tenant-logs"), app.url, "logs-user",
                                      "launch/patient offline_access patient/*.rs", password=PASSWORD)
    SEEN.extend([login["access_token"], login["refresh_token"], location.split("code=")[1].split("&")[0]])


def patient() -> dict[str, object]:
    return make_patient(family=FAMILY, given=[GIVEN], birthDate=BIRTH,
                        identifier=[{"system": "http://hl7.org/fhir/sid/us-ssn", "value": SSN}])


async def send_phi(app: Served) -> list[str]:
    """Requests carrying patient data and the key in every place a request can; returns the ids they made."""
    async with httpx.AsyncClient(base_url=app.url, headers={"X-API-Key": KEY}, timeout=30) as c:
        created = await c.post("/fhir/r4/Patient", json=patient())
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        assert (await c.get(f"/fhir/r4/Patient/{pid}")).status_code == 200
        assert (await c.put(f"/fhir/r4/Patient/{pid}", json={**patient(), "id": pid})).status_code == 200
        found = await c.get("/fhir/r4/Patient", params={"family": FAMILY, "birthdate": BIRTH, "identifier": SSN})
        assert found.status_code == 200 and len(found.json()["entry"]) == 1
        # a key in the query string: not a way in (401), and not a way into the logs either
        assert (await c.get("/fhir/r4/Patient", params={"api_key": KEY, "family": FAMILY},
                            headers={"X-API-Key": ""})).status_code == 401
        gql = await c.post("/graphql", json={
            "query": f'query($q: String!) {{ a: searchPatients(query: $q) {{ id }} b: searchPatients(query: "{GIVEN}") '
                     "{ id } }", "variables": {"q": FAMILY}})
        assert gql.status_code == 200 and "errors" not in gql.json(), gql.text
        # errors whose messages echo the input
        bad = await c.post("/fhir/r4/Patient", json={**patient(), "birthDate": f"{BIRTH}x{SSN}"})
        assert bad.status_code in (400, 422)
        bad_gql = await c.post("/graphql", json={"query": f'{{ patient(id: {{x: "{FAMILY}"}}) {{ id }} }}',
                                                 "variables": {"ssn": SSN}})
        assert "errors" in bad_gql.json()
        broken = await c.post("/fhir/r4/Patient", content=f'{{"resourceType": "Patient", "name": "{FAMILY}'.encode(),
                              headers={"Content-Type": "application/fhir+json"})
        assert broken.status_code == 400
        assert (await c.get(f"/fhir/r4/{FAMILY}/{SSN}")).status_code == 404
        assert (await c.get(f"/{FAMILY}", params={"ssn": SSN})).status_code == 404
        assert (await c.get("/qapi/v1/no-such-route", params={"lastName": FAMILY, "dob": BIRTH})).status_code == 404
        # a well-formed request id is the caller's; one that is not (here: a name) is replaced
        mine = await c.get(f"/fhir/r4/Patient/{pid}", headers={"X-Request-ID": REQUEST_ID})
        assert mine.headers["X-Request-ID"] == REQUEST_ID
        theirs = await c.get(f"/fhir/r4/Patient/{pid}", headers={"X-Request-ID": f"{GIVEN} {FAMILY}"})
        assert re.fullmatch("[0-9a-f]{32}", theirs.headers["X-Request-ID"])
    # a websocket with the key in its query string, as browsers must
    ws_url = app.url.replace("http", "ws") + f"/graphql?api_key={KEY}&patient={FAMILY}"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"apiKey": KEY}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
    await sign_in_and_out(app, pid)
    return [pid]


async def test_no_patient_data_or_key_reaches_the_logs_at_debug_with_the_access_log_on(app: Served) -> None:
    ids = await send_phi(app)
    for _ in range(50):  # a websocket's access-log line comes when the server has seen it close
        if "WEBSOCKET /graphql" in app.output():
            break
        await asyncio.sleep(0.1)
    output = app.output()
    assert len(SEEN) == 5
    for secret in (FAMILY, GIVEN, SSN, BIRTH, KEY, PASSWORD, *SEEN, *ids):
        assert secret not in output, f"{secret!r} in the log:\n{_around(output, secret)}"
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # one format: JSON lines
    assert all(isinstance(line, dict) and {"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
    # the access log is there, one line per request, by route template
    access = [line for line in lines if line["logger"] == "fhirgraph.access"]

    def seen(method: str, route: str, status: int) -> dict[str, object]:
        found = [a for a in access if (a["method"], a["route"], a["status"]) == (method, route, status)]
        assert found, f"no access line {method} {route} {status}:\n{output}"
        return found[0]

    created = seen("POST", "/fhir/r4/{type}", 201)
    assert created["door"] == "fhir" and created["tenant"] == "tenant-logs" and created["duration_ms"] >= 0
    assert re.fullmatch("[0-9a-f]{32}", str(created["request_id"]))
    seen("PUT", "/fhir/r4/{type}/{id}", 200)
    assert seen("GET", "/fhir/r4/…", 401)["tenant"] is None  # refused before routing
    assert seen("POST", "/graphql", 200)["door"] == "graphql"
    seen("GET", "(no route)", 404)
    seen("GET", "/qapi/v1/…", 404)
    assert seen("WEBSOCKET", "/graphql", 101)["door"] == "graphql"
    assert any(a["request_id"] == REQUEST_ID and a["route"] == "/fhir/r4/{type}/{id}" for a in access)
    assert seen("POST", "/auth/token", 200)["door"] == "auth"
    assert len({a["request_id"] for a in access}) == len(access)
    # and DEBUG was on: the driver's command log would have shown documents had it not been held at INFO
    assert any(line["level"] == "DEBUG" and line["msg"].startswith("logging at DEBUG as json") for line in lines)


def _around(text: str, needle: str) -> str:
    i = text.index(needle)
    return text[max(0, i - 400):i + 200]


def _record(name: str, level: int, msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, level, __file__, 1, msg, (), exc_info)


def test_an_exception_is_logged_without_its_message_in_either_format() -> None:
    try:
        raise ValueError(f"duplicate key {{family: {FAMILY!r}}}")
    except ValueError as exc:
        caught = exc
    for formatter in (JsonFormatter(), TextFormatter()):
        text = formatter.format(_record("pymongo.x", logging.ERROR, "failed", caught))
        assert "ValueError" in text and "test_logs.py" in text  # the type and the stack's code locations
        assert FAMILY not in text


def test_floored_libraries_stay_below_their_floor_even_when_their_logger_is_opened() -> None:
    floors = Floors()
    assert not floors.filter(_record("pymongo.command", logging.DEBUG, '{"insert": "Patient", "documents": []}'))
    assert not floors.filter(_record("httpx", logging.INFO, "POST https://hook.example/?token=x"))
    assert not floors.filter(_record("uvicorn.asgi", 5, "ASGI receive {'body': b'...'}"))
    assert floors.filter(_record("pymongo.serverSelection", logging.WARNING, "no server"))
    assert floors.filter(_record("fhirgraph.store", logging.DEBUG, "store ready"))
    assert floors.filter(_record("pymongonot", logging.DEBUG, "another library"))


def test_a_line_carries_the_request_id_of_the_request_it_was_written_for() -> None:
    token = request_id.set("req-0123456789")
    try:
        line = json.loads(JsonFormatter().format(_record("fhirgraph", logging.INFO, "hello")))
        text = TextFormatter().format(_record("fhirgraph", logging.INFO, "hello"))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "req-0123456789" and line["msg"] == "hello" and line["level"] == "INFO"
    assert text.endswith("INFO fhirgraph: hello request_id=req-0123456789")
    assert "request_id" not in json.loads(JsonFormatter().format(_record("fhirgraph", logging.INFO, "later")))


def test_production_logs_json_and_a_trial_readable_text() -> None:
    assert Settings(mongodb_uri="mongodb://db.internal/?replicaSet=rs0").log_format == "json"
    assert Settings(mongodb_uri=None).log_format == "text"
    assert Settings(mongodb_uri="mongodb://db.internal/", log_format="text").log_format == "text"
    assert Settings(mongodb_uri="mongodb://db.internal/", environment="trial").log_format == "text"
