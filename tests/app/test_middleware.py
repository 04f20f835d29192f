"""Middleware of the composition root."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.middleware import SafeErrorsMiddleware


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
