"""The seeded two-patient clinic (tests/fhir_rest/test_scopes.py ``Clinic``) that the scope, chaining, operation and
$docref tests share; a module may define its own ``clinic`` (the Bulk export tests do)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fhir_rest.test_scopes import Clinic


@pytest.fixture
async def clinic(scoped: Any) -> AsyncIterator[Clinic]:
    async with httpx.AsyncClient(base_url=f"{scoped.url}/fhir/r4", timeout=30) as client:
        seeded = Clinic(scoped, client)
        await seeded.seed()
        yield seeded
