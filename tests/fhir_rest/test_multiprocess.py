"""Two app processes sharing one store: optimistic locking holds across instances."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.conftest import API_KEYS
from tests.factories import make_patient
from tests.processes import AppProcess, shared_store


async def test_if_match_race_across_two_processes() -> None:
    with shared_store() as uri:
        db = f"fhirgraph_mp_{uuid.uuid4().hex[:8]}"
        apps = [AppProcess(uri, db).start(), AppProcess(uri, db).start()]
        try:
            headers = {"X-API-Key": API_KEYS["tenant-a"]}
            async with httpx.AsyncClient(headers=headers, timeout=30) as c:
                created = (await c.post(f"{apps[0].url}/fhir/r4/Patient", json=make_patient())).json()
                pid = created["id"]
                n = 16
                results = await asyncio.gather(*(
                    c.put(f"{apps[i % 2].url}/fhir/r4/Patient/{pid}",
                          json={**created, "birthDate": f"19{40 + i}-02-02"}, headers={"If-Match": 'W/"1"'})
                    for i in range(n)))
                codes = [r.status_code for r in results]
                assert codes.count(200) == 1 and codes.count(412) == n - 1, codes
                # Last-writer-wins updates from both processes: every one becomes a version, none is lost.
                current = (await c.get(f"{apps[1].url}/fhir/r4/Patient/{pid}")).json()
                more = await asyncio.gather(*(
                    c.put(f"{apps[i % 2].url}/fhir/r4/Patient/{pid}", json={**current, "gender": "other"})
                    for i in range(10)))
                assert all(r.status_code == 200 for r in more)
                hist = (await c.get(f"{apps[0].url}/fhir/r4/Patient/{pid}/_history", params={"_count": 100})).json()
                versions = [int(e["resource"]["meta"]["versionId"]) for e in hist["entry"]]
                assert versions == list(range(12, 0, -1))
        finally:
            for a in apps:
                a.stop()
