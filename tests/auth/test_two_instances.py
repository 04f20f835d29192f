"""Two app processes on one store: a token issued by one works on the other (one shared signing key), and a
revocation recorded by one is honoured by the other within a second."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from auth.registry import add_client
from store.identity import IdentityStore
from tests.conftest import API_KEYS, free_port
from tests.factories import make_patient
from tests.processes import AppProcess, shared_store


async def test_revocation_holds_across_two_processes() -> None:
    with shared_store() as uri:
        db = f"fhirgraph_mp_{uuid.uuid4().hex[:8]}"
        # Behind one load balancer: one public base URL, so one token audience for both.
        port = free_port()
        env = {"FHIRGRAPH_BASE_URL": f"http://127.0.0.1:{port}"}
        apps = [AppProcess(uri, db, env, port=port).start(), AppProcess(uri, db, env).start()]
        try:
            mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
            shown = await add_client(IdentityStore(mongo[db]), name="Two", tenant="tenant-a", redirect_uris=[],
                                     grant="client_credentials", scopes=["system/*.rs"])
            await mongo.close()
            auth = (shown["client_id"], shown["client_secret"])
            async with httpx.AsyncClient(timeout=30) as http:
                made = await http.post(f"{apps[0].url}/fhir/r4/Patient", json=make_patient(),
                                       headers={"X-API-Key": API_KEYS["tenant-a"]})
                path = f"/fhir/r4/Patient/{made.json()['id']}"
                issued = await http.post(f"{apps[0].url}/auth/token", data={"grant_type": "client_credentials"},
                                         auth=auth)
                token = issued.json()["access_token"]
                bearer = {"Authorization": f"Bearer {token}"}
                for app in apps:  # issued by the first, verified by both
                    assert (await http.get(f"{app.url}{path}", headers=bearer)).status_code == 200
                revoked = await http.post(f"{apps[0].url}/auth/revoke", data={"token": token}, auth=auth)
                assert revoked.status_code == 200
                started = time.monotonic()
                while (await http.get(f"{apps[1].url}{path}", headers=bearer)).status_code != 401:
                    assert time.monotonic() - started < 5, "the other instance still accepts the revoked token"
                    await asyncio.sleep(0.02)
                took = time.monotonic() - started
                print(f"revocation reached the other instance in {took * 1000:.0f} ms")
                assert (await http.get(f"{apps[0].url}{path}", headers=bearer)).status_code == 401
        finally:
            for a in apps:
                a.stop()
