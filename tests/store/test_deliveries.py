"""The webhook delivery ledger: the attempt log, dead letters and their replay."""

from __future__ import annotations

import uuid
from typing import Any

from store.client import StoreHandle
from store.types import SystemPrincipal


def event(tenant: str, seq: int) -> dict[str, Any]:
    return {"_id": str(uuid.uuid4()), "tenant": tenant, "seq": seq, "type": "patient.created"}


async def test_log_is_newest_first_and_shows_no_layout(store: StoreHandle, principal: SystemPrincipal) -> None:
    ledger, tenant = store.repo.deliveries, principal.tenant
    e = event(tenant, 1)
    for attempt, status in enumerate((500, 200), start=1):
        await ledger.record(tenant=tenant, webhook="w", event=e, name="patient.created", attempt=attempt,
                            status=status, error=None, ms=1.5, owner="me")
    await ledger.record(tenant=tenant, webhook="other", event=e, name="patient.created", attempt=1, status=200,
                        error=None, ms=1.0, owner="me")
    log = await ledger.log(tenant, "w")
    assert [(r["attempt"], r["ok"]) for r in log] == [(2, True), (1, False)]
    assert not {"_id", "tenant", "event"} & set(log[0]) and log[0]["at"].endswith("Z")
    assert len(await ledger.log(tenant, "w", limit=1)) == 1


async def test_dead_letters_replay_and_resolve(store: StoreHandle, principal: SystemPrincipal) -> None:
    ledger, tenant = store.repo.deliveries, principal.tenant
    e1, e2 = event(tenant, 1), event(tenant, 2)
    for e in (e2, e1):
        await ledger.bury(tenant=tenant, webhook="w", event=e, name="patient.created", attempts=3, status=500,
                          error=None)
    dead = await ledger.dead_letters(tenant, "w")
    assert [d["eventId"] for d in dead] == [e1["_id"], e2["_id"]] and all(d["state"] == "dead" for d in dead)
    assert await ledger.queued_replays(tenant, "w") == []
    assert await ledger.request_replay(tenant, "w", [e2["_id"]]) == 1
    queued = await ledger.queued_replays(tenant, "w")
    assert [q["event"] for q in queued] == [e2]
    await ledger.resolve(queued[0]["_id"], delivered=False, attempts=2, status=503, error=None)
    again = {d["eventId"]: d for d in await ledger.dead_letters(tenant, "w")}[e2["_id"]]
    assert again["state"] == "dead" and again["attempts"] == 5 and again["lastStatus"] == 503
    assert await ledger.request_replay(tenant, "w", None) == 2
    for q in await ledger.queued_replays(tenant, "w"):
        await ledger.resolve(q["_id"], delivered=True, attempts=1, status=200, error=None)
    assert await ledger.dead_letters(tenant, "w") == []
