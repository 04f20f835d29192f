"""Middleware of the composition root."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from app.middleware import SafeErrorsMiddleware
from store.errors import NotFound


async def failing_app(scope: Scope, receive: Receive, send: Send) -> None:
    # built at run time, so the traceback's source lines do not contain it either
    raise KeyError(" ".join(["Maria", "seyeR"[::-1], "1988-03-14"]))


@pytest.mark.parametrize(("path", "shape"), [("/fhir/r4/Patient", "resourceType"), ("/qapi/v1/patients", "error")])
async def test_unexpected_errors_are_500_in_the_door_shape_and_logs_carry_no_message(
        path: str, shape: str, caplog: pytest.LogCaptureFixture) -> None:
    transport = httpx.ASGITransport(app=SafeErrorsMiddleware(failing_app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        with caplog.at_level(logging.ERROR):
            r = await c.get(path)
    assert r.status_code == 500
    assert shape in r.json()
    assert "KeyError" in caplog.text
    assert "Reyes" not in caplog.text and "Reyes" not in r.text


def _scope(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"", "headers": []}


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def test_an_error_after_the_response_started_sends_no_second_response(
        caplog: pytest.LogCaptureFixture) -> None:
    # The error net's send wrapper returns the inner send's awaitable rather than awaiting it in a coroutine of
    # its own: it must still know the response has started when the app fails after its first message.
    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    async def fails_midway(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        raise NotFound("gone midway")

    await SafeErrorsMiddleware(fails_midway)(_scope("/fhir/r4/Patient/x"), _no_body, record)
    assert [m["type"] for m in sent] == ["http.response.start"]

    async def fails_at_once(scope: Scope, receive: Receive, send: Send) -> None:
        raise NotFound("not there")

    sent.clear()
    await SafeErrorsMiddleware(fails_at_once)(_scope("/fhir/r4/Patient/x"), _no_body, record)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 404
