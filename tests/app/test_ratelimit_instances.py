"""Two `fhirgraph serve` processes on one store hold one clinic's rate limit together (within 10 %)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from tests.conftest import API_KEYS
from tests.processes import AppProcess, shared_store

LIMIT = 200


async def test_two_instances_share_one_clinics_limit() -> None:
    env = {"FHIRGRAPH_RATE_LIMIT_PER_MINUTE": str(LIMIT), "FHIRGRAPH_ALLOW_ANONYMOUS": "false"}
    with shared_store() as uri:
        db = f"fhirgraph_rl2_{uuid.uuid4().hex[:8]}"
        apps = [AppProcess(uri, db, env).start(), AppProcess(uri, db, env).start()]
        try:
            async with httpx.AsyncClient(headers={"X-API-Key": API_KEYS["tenant-a"]}, timeout=30) as c:
                admitted = {app.url: 0 for app in apps}
                attempts = 0
                refused_since: float | None = None
                # Rounds of 40 requests, half to each instance, until the clinic has been refused everywhere for
                # 2 s running: an instance whose grant is spent refuses until its next sync (every 0.25 s, later
                # on a busy machine), so a round or two refused everywhere does not yet mean the limit is spent.
                while attempts < 8 * LIMIT and (refused_since is None or time.monotonic() - refused_since < 2):
                    urls = [apps[i % 2].url for i in range(40)]
                    answers = await asyncio.gather(*(c.get(f"{u}/fhir/r4/Patient/none") for u in urls))
                    attempts += len(answers)
                    codes = [r.status_code for r in answers]
                    assert set(codes) <= {404, 429}, codes
                    for url, code in zip(urls, codes, strict=True):
                        admitted[url] += code == 404
                    if all(code == 429 for code in codes):
                        refused_since = refused_since or time.monotonic()
                        await asyncio.sleep(0.1)
                    else:
                        refused_since = None
                total = sum(admitted.values())
                assert 0.9 * LIMIT <= total <= 1.1 * LIMIT, admitted
                assert all(n > 0 for n in admitted.values()), admitted  # both instances took their part
                # Another clinic has its own limit on both instances.
                other = await c.get(f"{apps[1].url}/fhir/r4/Patient/none", headers={"X-API-Key": API_KEYS["tenant-b"]})
                assert other.status_code == 404
        finally:
            for app in apps:
                app.stop()
