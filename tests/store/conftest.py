from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from app.settings import Settings
from store.client import StoreHandle, open_store
from store.devdb import DevDB
from store.types import SystemPrincipal


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[StoreHandle]:
    handle = await open_store(settings.mongodb_uri, settings.db_name)
    yield handle
    await handle.close()


@pytest.fixture
def principal() -> SystemPrincipal:
    return SystemPrincipal(tenant=f"store-{uuid.uuid4().hex[:8]}", subject="tester")


@pytest.fixture(scope="module")
def devdb() -> Iterator[DevDB]:
    """A devdb of the module's own, in a thread of the test process."""
    server = DevDB()
    server.start_in_thread()
    yield server
    server.stop()
