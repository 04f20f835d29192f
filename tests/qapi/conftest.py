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
