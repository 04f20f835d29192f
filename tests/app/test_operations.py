"""Operational endpoints: health and the store round-trip counters."""

from __future__ import annotations

import re

import httpx

from tests.factories import make_patient


async def test_health(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_metrics_count_store_calls(client: httpx.AsyncClient, fhir: httpx.AsyncClient) -> None:
    def find_count(text: str) -> float:
        m = re.search(r'^fhirgraph_store_calls_total\{collection="Patient",operation="find"\} ([\d.e+]+)$',
                      text, re.M)
        return float(m.group(1)) if m else 0.0

    pid = (await fhir.post("/Patient", json=make_patient())).json()["id"]
    before = find_count((await client.get("/metrics")).text)
    await fhir.get(f"/Patient/{pid}")
    after = find_count((await client.get("/metrics")).text)
    assert after - before == 1
