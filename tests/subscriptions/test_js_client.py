"""The JS reference client of graphql-transport-ws (`graphql-ws` over `ws`, from npm, installed on demand into
tests/.cache like the other npm-backed tests) subscribes; bookings through FHIR REST arrive in order."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import API_KEYS
from tests.factories import make_appointment, make_patient
from tests.npm import npm_modules

SCRIPT = Path(__file__).resolve().parent / "node" / "subscribe.cjs"
PACKAGES = ("graphql-ws@6", "ws@8", "graphql@16")

QUERY = """subscription($patientId: ID) {
  events(types: ["appointment.booked"], patientId: $patientId) { id type cursor resourceId appointment { id } }
}"""


def _ensure_installed() -> Path:
    return npm_modules("events-node", PACKAGES)


async def test_js_graphql_ws_client_receives_bookings_in_order(events_url: str, fhir_a: httpx.AsyncClient) -> None:
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm are not installed")
    modules = await asyncio.to_thread(_ensure_installed)
    pid = (await fhir_a.post("/Patient", json=make_patient())).json()["id"]
    proc = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), events_url.replace("http://", "ws://") + "/graphql", API_KEYS["tenant-a"], QUERY,
        orjson.dumps({"patientId": pid}).decode(), "4",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "NODE_PATH": str(modules)})
    assert proc.stdout is not None

    async def line() -> dict[str, Any]:
        raw = await asyncio.wait_for(proc.stdout.readline(), 10)  # type: ignore[union-attr]
        assert raw, (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        return dict(orjson.loads(raw))

    try:
        assert await line() == {"ready": True}
        await asyncio.sleep(0.2)
        booked = []
        for day in range(1, 5):
            r = await fhir_a.post("/Appointment", json=make_appointment(pid, start=f"2026-10-0{day}T09:00:00Z",
                                                                        end=f"2026-10-0{day}T09:30:00Z"))
            booked.append((r.json()["id"], time.monotonic()))
        results = [await line() for _ in range(4)]
        arrived = time.monotonic()
        assert await line() == {"done": True}
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    events = [r["data"]["events"] for r in results]
    assert [e["resourceId"] for e in events] == [b for b, _ in booked]
    assert [e["appointment"]["id"] for e in events] == [b for b, _ in booked]
    assert arrived - booked[-1][1] < 1.0
