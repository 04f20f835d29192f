"""app/front.py: the one front layer answers as the separate layers it folds (telemetry, error nets, allowed
hosts, CORS) chained as before — its ``layered`` chain, built from the same options around the same app."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.cors import parse_origins
from app.front import FrontMiddleware
from store.errors import NotFound, Unauthorized


async def answers(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/fhir+json"), (b"vary", b"Accept")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def refuses(scope: Scope, receive: Receive, send: Send) -> None:
    raise Unauthorized("Missing or invalid credentials", challenge="invalid_token")


async def fails(scope: Scope, receive: Receive, send: Send) -> None:
    raise KeyError("x")


async def fails_midway(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    raise NotFound("gone midway")


async def fails_in_reply(scope: Scope, receive: Receive, send: Send) -> None:
    raise NotFound("not there")


def scope_of(path: str = "/fhir/r4/Patient/p1", method: str = "GET", **headers: str) -> dict[str, Any]:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": raw,
            "scheme": "http", "http_version": "1.1", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000)}


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def sent_by(app: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    try:
        await app(dict(scope), _no_body, record)
    except Exception as exc:  # noqa: BLE001 - what escapes is compared too
        sent.append({"raised": type(exc).__name__})
    return sent


def fronts(app: Any, telemetry: dict[str, Any] | None, origins: str) -> tuple[Any, Any]:
    front = FrontMiddleware(app, telemetry=telemetry, allowed_hosts="", base_url="https://fhir.example",
                            origins=parse_origins(origins))
    return front, front.layered


CASES = [
    (answers, dict(host="fhir.example", x_request_id="req-0000000001")),
    (answers, dict(host="fhir.example", x_request_id="bad id", accept="*/*")),  # ill-formed: a fresh id
    (answers, dict(host="evil.example", x_request_id="req-0000000002")),  # a Host it does not answer to: 400
    (answers, dict(x_request_id="req-0000000003")),  # no Host (HTTP/1.0)
    (answers, dict(host="fhir.example", origin="https://app.example", x_request_id="req-0000000004")),
    (answers, dict(host="fhir.example", origin="https://other.example")),
    (refuses, dict(host="fhir.example", x_request_id="req-0000000005")),  # a 401 from below, with Vary
    (refuses, dict(host="fhir.example", origin="https://app.example")),
    (fails, dict(host="fhir.example", x_request_id="req-0000000006")),  # the door's 500
    (fails_midway, dict(host="fhir.example", x_request_id="req-0000000007")),  # started: nothing more sent
    (fails_in_reply, dict(host="fhir.example", x_request_id="req-0000000008", x_request_id_2="req-0000000009")),
]


@pytest.mark.parametrize("telemetry", [dict(metrics=True, access_log=True), None])
@pytest.mark.parametrize("origins", ["https://app.example", "*", ""])
@pytest.mark.parametrize(("app", "headers"), CASES)
async def test_the_front_answers_as_the_layers_it_folds(app: Any, headers: dict[str, str], origins: str,
                                                         telemetry: dict[str, Any] | None,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    front, layered = fronts(app, telemetry, origins)
    results, lines = [], []
    for candidate in (front, layered):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            sent = await sent_by(candidate, scope_of(**headers))
        for message in sent:  # a fresh id differs between the two: its place and shape are what count
            for i, (name, value) in enumerate(message.get("headers", ())):
                if name == b"x-request-id" and b"req-" not in value:
                    message["headers"][i] = (name, b"fresh" if len(value) == 32 else value)
        results.append(sent)
        lines.append([(r.name, r.levelname, r.getMessage().split(" ")[:3],
                       getattr(r, "status", None), getattr(r, "route", None)) for r in caplog.records])
    assert results[0] == results[1]
    assert lines[0] == lines[1]
    assert results[0]  # something was answered (or the failure after the start raised nothing)


async def test_a_preflight_and_a_websocket_take_the_layers() -> None:
    front, layered = fronts(answers, dict(metrics=True), "https://app.example")
    preflight = scope_of("/fhir/r4/Patient", "OPTIONS", host="fhir.example", origin="https://app.example",
                         access_control_request_method="GET", x_request_id="req-0000000010")
    assert await sent_by(front, preflight) == await sent_by(layered, preflight)
    sent = await sent_by(front, preflight)
    assert sent[0]["status"] == 200
    assert (b"access-control-allow-origin", b"https://app.example") in sent[0]["headers"]
    assert sent[0]["headers"][-1] == (b"x-request-id", b"req-0000000010")

    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        await send({"type": "websocket.close", "code": 1000})

    front, _ = fronts(inner, dict(metrics=True), "https://app.example")
    socket = {**scope_of("/graphql", host="evil.example"), "type": "websocket"}
    sent = await sent_by(front, socket)
    assert sent == [{"type": "websocket.close", "code": 1008}] and not seen  # the Host check, as before


async def test_the_request_id_reaches_the_app_and_the_response() -> None:
    from app.logs import request_id

    ids: list[str | None] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        ids.append(request_id.get())
        await answers(scope, receive, send)

    front, _ = fronts(inner, dict(metrics=False, access_log=True), "")
    sent = await sent_by(front, scope_of(host="fhir.example", x_request_id="req-0000000011"))
    assert ids == ["req-0000000011"]
    assert sent[0]["headers"] == [(b"content-type", b"application/fhir+json"), (b"vary", b"Accept, Origin"),
                                  (b"x-request-id", b"req-0000000011")]
    assert request_id.get() is None
