"""The audit writer process (app/audit_writer.py): the AuditEvents it stores are the ones the app's own process
would build, a writer that died is replaced and the batch it held is stored once, a Ctrl+C to the process group
does not end it, and a store it cannot reach is an error, not a hang."""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.audit_writer import WriterProcess
from app.settings import Settings
from auth.audit import StoreSink
from auth.balp import Access
from auth.principal import Principal
from store.client import StoreHandle, open_store
from store.errors import Unavailable
from store.types import SystemPrincipal


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[StoreHandle]:
    handle = await open_store(settings.mongodb_uri, settings.db_name)
    yield handle
    await handle.close()


def config(settings: Settings, **changes: Any) -> dict[str, Any]:
    return {"uri": settings.mongodb_uri, "password": None, "db": settings.db_name, "timeout_s": 5.0,
            "observer": "fhirgraph", "log_level": "WARNING", "log_format": "text", **changes}


def accesses(tenant: str, n: int) -> list[Access]:
    reader = Principal(tenant=tenant, subject="dr-who", scopes=frozenset({"user/*.rs"}), client_id="chart-app",
                       user="Practitioner/pr-1", patient="p-7")
    return [Access(time.time(), reader, "read", 200, "Observation", f"o-{i}", None, "category=vital-signs",
                   "p-7", ("Observation",)) for i in range(n)]


def stored_as(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


async def trail_of(store: StoreHandle, tenant: str) -> list[dict[str, Any]]:
    page = await store.repo.search(SystemPrincipal(tenant, "tester"), "AuditEvent", [("_count", "100")])
    return page.resources


async def test_the_writer_stores_what_the_app_would_have_stored(settings: Settings, store: StoreHandle) -> None:
    tenant = f"aw-{uuid.uuid4().hex[:8]}"
    access = accesses(tenant, 1)[0]
    writer = WriterProcess(config(settings), answer_s=30)
    await writer.start()
    try:
        assert await writer.append(tenant, [writer.prepare(access, "fhirgraph")]) == 1
    finally:
        await writer.close()
    inline = StoreSink(store.repo.audit_log)
    built = inline.prepare(access, "fhirgraph")
    (from_writer,) = await trail_of(store, tenant)
    assert stored_as(from_writer) == stored_as(built)
    assert from_writer["entity"][0]["what"] == {"reference": "Patient/p-7"}
    assert [a["who"] for a in from_writer["agent"]][0] == {"reference": "Practitioner/pr-1"}


async def test_a_writer_that_died_is_replaced_and_its_batch_stored_once(settings: Settings,
                                                                        store: StoreHandle) -> None:
    tenant = f"aw-{uuid.uuid4().hex[:8]}"
    writer = WriterProcess(config(settings), answer_s=30)
    rows = [writer.prepare(a, "fhirgraph") for a in accesses(tenant, 6)]
    try:
        assert await writer.append(tenant, rows[:4]) == 4
        first = writer.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        # the trail retries a batch whole, with the ids it was prepared with: what the dead writer stored is not
        # stored twice (the first call may see the death; the retry goes to a new writer)
        try:
            written = await writer.append(tenant, rows)
        except Unavailable:
            written = await writer.append(tenant, rows)
        assert written == 2
        assert writer.pid not in (None, first)
    finally:
        await writer.close()
    stored = await trail_of(store, tenant)
    assert sorted(r["id"] for r in stored) == sorted(r[0] for r in rows)


async def test_a_ctrl_c_to_the_process_group_leaves_the_writer_to_the_apps_shutdown(settings: Settings,
                                                                                  store: StoreHandle) -> None:
    tenant = f"aw-{uuid.uuid4().hex[:8]}"
    writer = WriterProcess(config(settings), answer_s=30)
    await writer.start()
    pid = writer.pid
    assert pid is not None
    try:
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        rows = [writer.prepare(a, "fhirgraph") for a in accesses(tenant, 3)]
        assert await writer.append(tenant, rows) == 3
        assert writer.pid == pid
    finally:
        await writer.close()
    assert writer.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # it ended when its stdin closed
    assert len(await trail_of(store, tenant)) == 3


async def test_a_store_the_writer_cannot_reach_is_an_error_at_start(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once it is closed
    writer = WriterProcess(config(settings, uri=f"mongodb://127.0.0.1:{port}/?directConnection=true",
                                  timeout_s=0.5), answer_s=5)
    with pytest.raises(Unavailable, match="could not start"):
        await writer.start()
    assert writer.pid is None
