from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from store.client import StoreHandle, open_store
from store.types import SystemPrincipal


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[StoreHandle]:
    handle = await open_store(settings.mongodb_uri, settings.db_name)
    yield handle
    await handle.close()


@pytest.fixture
def principal() -> SystemPrincipal:
    return SystemPrincipal(tenant=f"store-{uuid.uuid4().hex[:8]}", subject="tester")
