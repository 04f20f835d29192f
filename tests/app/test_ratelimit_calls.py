"""Counting a request asks the store nothing: a clinic's syncs come on their interval, never one per request.
(A module of its own: the store-call counter is the process's, and no other app of the tests may sync meanwhile.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.settings import Settings
from store.metrics import STORE_CALLS
from store.ratelimits import RATELIMITS
from tests.app.test_ratelimit_http import limited_app
from tests.conftest import ServerThread

KEY = "rl-key-calls"


def ratelimit_calls() -> float:
    return sum(s.value for m in STORE_CALLS.collect() for s in m.samples
               if s.name.endswith("_total") and s.labels.get("collection") == RATELIMITS)


@pytest.fixture(scope="module")
def unsynced(settings: Settings) -> Iterator[ServerThread]:
    """A clinic of 1,000 requests per minute (a grant of 200) on an app that syncs only for a clinic's first
    request: the later ones can only be counted locally, so the test can count the store calls."""
    yield from limited_app(settings, {"calls": KEY}, rate_limits="rl-calls=1000", rate_limit_sync_interval_s=3600.0)


async def test_requests_are_counted_without_a_store_call_each(unsynced: ServerThread) -> None:
    before = ratelimit_calls()
    async with httpx.AsyncClient(base_url=f"{unsynced.url}/fhir/r4", headers={"X-API-Key": KEY}) as c:
        for _ in range(50):
            r = await c.get("/Patient/none")
            assert r.status_code == 404 and "ratelimit" in r.headers
    # A clinic's first request learns its count and declares a grant (two syncs of two round trips); the other
    # 49 ask the store nothing (syncs run on their interval, an hour here).
    assert ratelimit_calls() - before <= 4
