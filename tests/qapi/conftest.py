"""The vendor API end to end: the suite's app server, an httpx client at ``/qapi/v1`` sending the seed's
``Api-Key`` header, and the seed's own example bodies (seeds.py) to send it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import API_KEYS


@pytest.fixture
async def qapi(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{base_url}/qapi/v1", timeout=30,
                                 headers={"Api-Key": API_KEYS["tenant-a"]}) as c:
        yield c


@pytest.fixture
async def graphql(base_url: str) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers={"X-API-Key": API_KEYS["tenant-a"]}) as c:
        async def run(query: str, **variables: Any) -> dict[str, Any]:
            r = await c.post("/graphql", json={"query": query, "variables": variables})
            assert r.status_code == 200 and "errors" not in r.json(), r.text
            data: dict[str, Any] = r.json()["data"]
            return data

        yield run


def new_id() -> str:
    return f"q{uuid.uuid4().hex[:16]}"


async def waiting_room(fhir: httpx.AsyncClient, *, minutes: int = 15, slots: list[int] = (),
                       practitioner: bool = True) -> dict[str, Any]:
    """A waiting room (HealthcareService) of its own name, with a Schedule and free Slots starting at ``slots``
    (unix seconds); returns {"room", "name", "schedule", "slots", "practitioner"}."""
    from fhir_rest.qapi.http import unix_instant
    from store.naming import EXT

    name = f"Room {new_id()}"
    room = (await fhir.post("/HealthcareService", json={
        "resourceType": "HealthcareService", "active": True, "name": name, "category": [{"text": "Demo"}],
        "type": [{"text": "Other"}],
        "extension": [{"url": EXT["slot-duration"], "valueDuration": {"value": minutes, "unit": "min",
                                                                      "system": "http://unitsofmeasure.org",
                                                                      "code": "min"}}]})).json()
    actors = [{"reference": f"HealthcareService/{room['id']}"}]
    prac = None
    if practitioner:
        prac = (await fhir.post("/Practitioner", json={
            "resourceType": "Practitioner", "name": [{"family": "Oswald", "given": ["Clara", "Oswin"]}],
            "telecom": [{"system": "email", "value": "clara@whovians.com"}]})).json()
        actors.append({"reference": f"Practitioner/{prac['id']}"})
    schedule = (await fhir.post("/Schedule", json={"resourceType": "Schedule", "active": True,
                                                    "actor": actors})).json()
    made = []
    for start in slots:
        made.append((await fhir.post("/Slot", json={
            "resourceType": "Slot", "schedule": {"reference": f"Schedule/{schedule['id']}"}, "status": "free",
            "start": unix_instant(start), "end": unix_instant(start + minutes * 60)})).json())
    return {"room": room, "name": name, "schedule": schedule, "slots": made, "practitioner": prac}
