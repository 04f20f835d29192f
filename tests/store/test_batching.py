"""Writes outside a transaction share commands (store/batching.py): each write still gets its own outcome, and
what is stored is what one write at a time would store."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from bson import DEFAULT_CODEC_OPTIONS
from bson.errors import InvalidDocument
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import AutoReconnect, DuplicateKeyError, WriteConcernError, WriteError

from app.settings import Settings
from store import batching
from store.batching import Inserts, Sequences, per_document
from store.errors import DuplicateIdentifier, Unavailable
from store.indexes import ensure_indexes
from store.naming import SID
from store.repository import Repository
from store.types import SystemPrincipal
from tests.factories import make_patient


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent: Counter[tuple[str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.sent[(event.command_name, target if isinstance(target, str) else "")] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def counted(settings: Settings) -> AsyncIterator[tuple[Repository, Commands]]:
    """A repository on the standalone write path (no transactions, also on a replica set) whose commands are
    counted."""
    commands = Commands()
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongodb_uri, event_listeners=[commands], tz_aware=True)
    db = client[settings.db_name]
    await ensure_indexes(db)
    commands.sent.clear()
    yield Repository(db, transactions=False), commands
    await client.close()


def tenant() -> SystemPrincipal:
    return SystemPrincipal(tenant=f"batch-{uuid.uuid4().hex[:8]}", subject="tester")


async def stored(repo: Repository, principal: SystemPrincipal) -> dict[str, list[dict[str, Any]]]:
    """Every document the tenant's writes left: resources, history versions, provenances, events."""
    db, t = repo.db, principal.tenant
    return {
        "Patient": await db.Patient.find({"_sys.tenant": t}).to_list(None),
        "Patient_history": await db.Patient_history.find({"_sys.tenant": t}).to_list(None),
        "Provenance": await db.Provenance.find({"_sys.tenant": t}).to_list(None),
        "events": await db.events.find({"tenant": t}).to_list(None),
    }


def shape(docs: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """The stored documents with what differs from run to run (ids, instants, the numbers handed out) blanked."""
    def bare(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: bare(v) for k, v in value.items()
                    if k not in ("tenant", "lastUpdated", "lu", "created", "recorded", "occurredAt", "seq",
                                 "valueInstant")}
        if isinstance(value, list):
            return [bare(v) for v in value if not (isinstance(v, dict) and v.get("system") == SID["spid"])]
        return value

    def text(doc: dict[str, Any]) -> str:
        out = orjson.dumps(bare(doc), option=orjson.OPT_SORT_KEYS).decode()
        out = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", out)
        out = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", "INSTANT", out)
        return re.sub(r"batch-[0-9a-f]{8}", "TENANT", re.sub(r"spid\|\d+", "spid|N", out))

    return {name: sorted(text(d) for d in rows) for name, rows in docs.items()}


async def test_concurrent_creates_share_each_command_and_store_what_one_at_a_time_would(
        counted: tuple[Repository, Commands]) -> None:
    repo, commands = counted
    together, alone = tenant(), tenant()
    results = await asyncio.gather(*(repo.create(together, make_patient(family=f"F{i}")) for i in range(8)))
    # the number, the resource, its history version, its provenance, the event's sequence, the event: once each
    assert commands.sent == {("findAndModify", "counters"): 2, ("insert", "Patient"): 1,
                             ("insert", "Patient_history"): 1, ("insert", "Provenance"): 1, ("insert", "events"): 1}
    for i in range(8):
        await repo.create(alone, make_patient(family=f"F{i}"))
    assert commands.sent[("insert", "Patient")] == 9

    docs = await stored(repo, together)
    assert shape(docs) == shape(await stored(repo, alone))
    assert sorted(e["seq"] for e in docs["events"]) == list(range(1, 9))
    spids = sorted(int(i["value"]) for r in results for i in r.resource["identifier"] if i["system"] == SID["spid"])
    assert spids == list(range(1, 9))
    for r in results:  # each create whole: readable, its version, its provenance and its event
        rid = r.resource["id"]
        assert await repo.read(together, "Patient", rid) == r.resource
        assert await repo.vread(together, "Patient", rid, "1") == r.resource
        assert [e["seq"] for e in docs["events"] if e["resourceId"] == rid] == [r.event_seq]
        assert [p["target"] for p in docs["Provenance"] if rid in p["target"][0]["reference"]] == [
            [{"reference": f"Patient/{rid}/_history/1"}]]


async def test_a_duplicate_identifier_in_a_batch_fails_that_create_alone(counted: tuple[Repository, Commands]) -> None:
    repo, commands = counted
    principal = tenant()
    chart = {"system": SID["chart-number"], "value": "C-1"}
    bodies = [make_patient(family=f"F{i}", identifier=[chart] if i in (1, 2) else []) for i in range(4)]
    results = await asyncio.gather(*(repo.create(principal, b) for b in bodies), return_exceptions=True)
    assert commands.sent[("insert", "Patient")] == 1
    failed = [r for r in results if isinstance(r, BaseException)]
    assert [type(r) for r in failed] == [DuplicateIdentifier]
    written = {r.resource["id"] for r in results if not isinstance(r, BaseException)}
    docs = await stored(repo, principal)
    # nothing of the refused create: no resource, no version, no provenance, no event
    assert {d["_sys"]["id"] for d in docs["Patient"]} == written
    assert {d["_sys"]["id"] for d in docs["Patient_history"]} == written
    assert len(docs["Provenance"]) == 3
    assert {e["resourceId"] for e in docs["events"]} == written
    assert sorted(e["seq"] for e in docs["events"]) == [1, 2, 3]


async def test_a_failing_insert_after_the_resource_fails_that_write_alone(counted: tuple[Repository, Commands]
                                                                          ) -> None:
    # A version already in the history refuses that write's history insert: it fails as it would alone (the
    # resource written, no provenance, no event: store/writes.py's order), the others of its batch are whole.
    repo, _ = counted
    principal = tenant()
    await repo.db.Patient_history.insert_one({"_id": f"{principal.tenant}/taken/1", "_sys": {"tenant": "elsewhere"}})
    writes = [repo.update(principal, "Patient", "taken", make_patient(id="taken")),
              *(repo.create(principal, make_patient(family=f"F{i}")) for i in range(3))]
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert isinstance(results[0], Unavailable)
    created = {r.resource["id"] for r in results[1:] if not isinstance(r, BaseException)}
    assert len(created) == 3
    docs = await stored(repo, principal)
    assert {e["resourceId"] for e in docs["events"]} == created
    assert all("Patient/taken/" not in p["target"][0]["reference"] for p in docs["Provenance"])
    assert len(docs["Provenance"]) == 3


def test_each_document_of_an_unordered_insert_gets_what_insert_one_would_raise() -> None:
    dup = {"index": 1, "code": 11000, "errmsg": "E11000 duplicate key", "keyPattern": {"_sys.uid": 1},
           "keyValue": {"_sys.uid": "t/x|1"}}
    other = {"index": 2, "code": 2, "errmsg": "bad"}
    outcomes = per_document({"writeErrors": [dup, other]}, 3)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], DuplicateKeyError) and outcomes[1].details == dup and outcomes[1].code == 11000
    assert type(outcomes[2]) is WriteError and outcomes[2].details == other
    concern = {"code": 64, "errmsg": "waiting for replication timed out"}
    outcomes = per_document({"writeErrors": [dup], "writeConcernErrors": [concern]}, 2)
    assert isinstance(outcomes[0], WriteConcernError) and outcomes[0].details == concern
    assert isinstance(outcomes[1], DuplicateKeyError)


async def test_a_document_bson_cannot_hold_fails_alone(counted: tuple[Repository, Commands]) -> None:
    repo, commands = counted
    inserts = Inserts(repo.db)
    ids = [f"batch-{uuid.uuid4().hex}" for _ in range(3)]
    docs: list[dict[str, Any]] = [{"_id": ids[0]}, {"_id": ids[1], "bad\x00key": 1}, {"_id": ids[2], "n": 2**64}]

    async def insert(doc: dict[str, Any]) -> None:
        await inserts.insert("scratch", doc)

    outcomes = await asyncio.gather(*(insert(d) for d in [*docs, {"_id": ids[1]}]), return_exceptions=True)
    assert [type(o) for o in outcomes] == [type(None), InvalidDocument, OverflowError, type(None)]
    assert commands.sent[("insert", "scratch")] == 1
    assert {d["_id"] for d in await repo.db.scratch.find({"_id": {"$in": ids}}).to_list(None)} == {ids[0], ids[1]}


class Down:
    """A database whose every command fails as a dropped connection does."""

    codec_options = DEFAULT_CODEC_OPTIONS

    def __init__(self) -> None:
        self.calls = 0
        self.counters = self

    def __getitem__(self, name: str) -> Down:
        return self

    async def insert_many(self, docs: list[Any], ordered: bool) -> None:
        self.calls += 1
        raise AutoReconnect("connection closed")

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        raise AutoReconnect("connection closed")


async def test_a_failed_command_reaches_every_waiter_of_its_batch() -> None:
    db: Any = Down()
    inserts, sequences = Inserts(db), Sequences(db)
    outcomes = await asyncio.gather(*(inserts.insert("events", {"_id": i}) for i in range(3)),
                                    *(sequences.next("events/t") for _ in range(2)), return_exceptions=True)
    assert [type(o) for o in outcomes] == [AutoReconnect] * 5
    assert db.calls == 2
    assert not inserts.lanes and not sequences.lanes  # nothing left waiting


class Recorded:
    """A database that records each insert command's documents."""

    codec_options = DEFAULT_CODEC_OPTIONS

    def __init__(self) -> None:
        self.commands: list[list[Any]] = []

    def __getitem__(self, name: str) -> Recorded:
        return self

    async def insert_many(self, docs: list[Any], ordered: bool) -> None:
        self.commands.append([d["_id"] for d in docs])


async def test_an_idle_lane_waits_for_the_writes_under_way_and_no_longer() -> None:
    db: Any = Recorded()
    under_way = [3]
    inserts = Inserts(db, lambda: under_way[0])
    first = inserts.insert("c", {"_id": 1})
    assert inserts.lanes["c"].held is not None  # two other writes under way: it waits for them
    await asyncio.sleep(0)
    second = inserts.insert("c", {"_id": 2})
    await asyncio.sleep(0)
    assert not db.commands
    under_way[0] = 2  # the third one finished without coming here
    inserts.joined()
    await asyncio.gather(first, second)
    assert db.commands == [[1, 2]]

    under_way[0] = 1  # a write alone does not wait
    third = inserts.insert("c", {"_id": 3})
    assert inserts.lanes["c"].held is None
    await third
    under_way[0] = 4  # nor for ever: the others never come
    await inserts.insert("c", {"_id": 4})
    assert db.commands == [[1, 2], [3], [4]]


async def test_a_bundles_commands_join_what_is_pending_but_never_wait() -> None:
    db: Any = Recorded()
    inserts = Inserts(db, lambda: 3)  # other writes under way
    hold = batching.NO_HOLD.set(True)  # as store/writes.py sets it for a transaction bundle's writes
    try:
        first = inserts.insert("c", {"_id": 1})
        assert inserts.lanes["c"].held is None
        second = inserts.insert("c", {"_id": 2})
    finally:
        batching.NO_HOLD.reset(hold)
    await asyncio.gather(first, second)
    assert db.commands == [[1, 2]]


async def test_a_write_whose_waiter_has_gone_is_not_sent() -> None:
    db: Any = Recorded()
    inserts = Inserts(db, lambda: 3)
    gone = inserts.insert("c", {"_id": 1})
    kept = inserts.insert("c", {"_id": 2})
    gone.cancel()  # its request was cancelled (or its deadline passed) before the batch went out
    inserts.insert("c", {"_id": 3})
    await kept
    assert db.commands == [[2, 3]]


async def test_the_writes_under_way_are_counted_by_the_writer(counted: tuple[Repository, Commands]) -> None:
    repo, _ = counted
    writer = repo._writer
    principal = tenant()
    seen: list[int] = []
    original = writer.inserts.insert

    def insert(collection: str, doc: dict[str, Any]) -> asyncio.Future[None]:
        seen.append(writer.under_way)
        return original(collection, doc)

    writer.inserts.insert = insert  # type: ignore[method-assign]
    await asyncio.gather(*(repo.create(principal, make_patient()) for _ in range(3)))
    assert seen[:3] == [3, 3, 3] and writer.under_way == 0


async def test_numbers_are_handed_out_in_asking_order(counted: tuple[Repository, Commands]) -> None:
    repo, commands = counted
    sequences = Sequences(repo.db)
    counter = f"events/batch-{uuid.uuid4().hex[:8]}"
    first = await sequences.next(counter)
    assert await asyncio.gather(*(sequences.next(counter) for _ in range(5))) == [2, 3, 4, 5, 6]
    assert first == 1 and commands.sent[("findAndModify", "counters")] == 2
