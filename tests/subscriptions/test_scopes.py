"""Subscriptions deliver only what the caller may read: events of types its scopes cover, and — for a
patient-context caller — only those about resources in its patient's compartment."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from gql import Client
from gql.graphql_request import GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.factories import make_observation, make_patient, make_practitioner

EVENTS = "subscription { events { resourceType resourceId patientId } }"


async def test_events_outside_the_compartment_or_the_readable_types_are_not_delivered(scoped: Any) -> None:
    tenant = f"subscopes-{uuid.uuid4().hex[:8]}"
    admin = {"X-API-Key": scoped.key(tenant, "system/*.*")}
    async with httpx.AsyncClient(base_url=f"{scoped.url}/fhir/r4", timeout=30, headers=admin) as fhir:
        p1, p2 = f"p1-{uuid.uuid4().hex[:6]}", f"p2-{uuid.uuid4().hex[:6]}"
        for pid in (p1, p2):
            assert (await fhir.put(f"/Patient/{pid}", json={**make_patient(), "id": pid})).status_code == 201
        key = scoped.key(tenant, "patient/*.rs", "launch/patient", patient=p1)
        transport = WebsocketsTransport(url=scoped.url.replace("http://", "ws://") + "/graphql",
                                        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                        init_payload={"apiKey": key})
        received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        subscribed = asyncio.Event()

        async def listen() -> None:
            async with Client(transport=transport) as session:
                subscribed.set()
                async for result in session.subscribe(GraphQLRequest(EVENTS)):
                    received.put_nowait(result["events"])

        task = asyncio.create_task(listen())
        try:
            await asyncio.wait_for(subscribed.wait(), 10)
            await asyncio.sleep(0.2)  # the subscribe message is on its way
            # In sequence: another patient's observation, a practitioner, the patient's own observation, and
            # the other patient changed; then the patient's own record changed, as the last event.
            theirs = (await fhir.post("/Observation", json=make_observation(p2))).json()["id"]
            assert (await fhir.post("/Practitioner", json=make_practitioner())).status_code == 201
            mine = (await fhir.post("/Observation", json=make_observation(p1))).json()["id"]
            assert (await fhir.put(f"/Patient/{p2}", json={**make_patient(family="B"), "id": p2})).status_code == 200
            assert (await fhir.put(f"/Patient/{p1}", json={**make_patient(family="A"), "id": p1})).status_code == 200
            first = await asyncio.wait_for(received.get(), 10)
            second = await asyncio.wait_for(received.get(), 10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    # Events leave in sequence order: had anything outside been delivered, it would have come first.
    assert first == {"resourceType": "Observation", "resourceId": mine, "patientId": p1}
    assert second == {"resourceType": "Patient", "resourceId": p1, "patientId": p1}
    assert theirs != mine
