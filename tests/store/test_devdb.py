"""devdb seen through the real PyMongo driver (async and sync), as the store and the test suite see it."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient, MongoClient, ReturnDocument, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure
from pymongo.write_concern import WriteConcern

from store.devdb import DevDB

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(devdb: DevDB) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]]
    with MongoClient(devdb.uri, tz_aware=True, uuidRepresentation="standard") as client:
        yield client[f"t_{uuid.uuid4().hex[:8]}"]


@pytest.fixture
async def adb(devdb: DevDB) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(devdb.uri, tz_aware=True,
                                                                 uuidRepresentation="standard")
    yield client[f"t_{uuid.uuid4().hex[:8]}"]
    await client.close()


class CommandLog(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_uri_names_a_direct_loopback_connection(devdb: DevDB) -> None:
    assert devdb.uri == f"mongodb://127.0.0.1:{devdb.port}/?directConnection=true"
    assert devdb.port > 0


async def test_handshake_reports_a_standalone_server(adb: AsyncDatabase[dict[str, Any]]) -> None:
    hello = await adb.client.admin.command("hello")
    assert hello["isWritablePrimary"] is True and "setName" not in hello
    assert hello["maxWireVersion"] >= 9
    assert (await adb.client.server_info())["version"] == "6.0.0-devdb"
    assert (await adb.command("ping"))["ok"] == 1.0


async def test_insert_and_find_round_trip_nested_documents(adb: AsyncDatabase[dict[str, Any]]) -> None:
    when = dt.datetime(2024, 5, 17, 9, 30, 15, 123000, tzinfo=dt.UTC)
    doc = {
        "_id": "Patient/p1",
        "resourceType": "Patient",
        "name": [{"use": "official", "given": ["Ana", "María"], "family": "Pérez"}],
        "meta": {"versionId": "1", "lastUpdated": when},
        "_sys": {"tenant": "a", "v": 1, "keys": {"birthdate": [when, when + dt.timedelta(days=1)]}},
        "token": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "score": 1.5,
        "count": 2**40,
    }
    await adb.patients.insert_one(doc)
    assert await adb.patients.find_one({"_id": "Patient/p1"}) == doc
    got = await adb.patients.find_one({"_sys.keys.birthdate": {"$gte": when + dt.timedelta(hours=1)}})
    assert got is not None and got["meta"]["lastUpdated"] == when and got["meta"]["lastUpdated"].tzinfo


async def test_find_pages_through_a_cursor_with_get_more(devdb: DevDB) -> None:
    log = CommandLog()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(devdb.uri, event_listeners=[log])
    coll = client["paging"]["docs"]
    await coll.insert_many([{"_id": f"d{i:03}", "i": i} for i in range(250)])
    got = [d["i"] async for d in coll.find({}, sort=[("i", 1)], batch_size=100)]
    await client.close()
    assert got == list(range(250))
    assert log.names.count("getMore") == 2


def test_cursor_closed_early_is_killed(db: Database[dict[str, Any]]) -> None:
    db.docs.insert_many([{"i": i} for i in range(30)])
    cursor = db.docs.find({}, batch_size=10)
    assert next(cursor)["i"] == 0
    cursor.close()
    assert db.docs.count_documents({}) == 30


def test_sort_skip_limit_and_projection(db: Database[dict[str, Any]]) -> None:
    db.docs.insert_many([{"_id": i, "group": i % 3, "i": i, "secret": "x"} for i in range(20)])
    cursor = db.docs.find({"group": {"$ne": 0}}, {"secret": 0}).sort([("group", -1), ("i", 1)])
    got = list(cursor.skip(2).limit(4))
    assert [(d["group"], d["i"]) for d in got] == [(2, 8), (2, 11), (2, 14), (2, 17)]
    assert all("secret" not in d for d in got)
    assert db.docs.find_one({"_id": 7}, {"i": 1}) == {"_id": 7, "i": 7}


async def test_update_with_operators_and_upsert(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.docs.insert_many([{"_id": "a", "n": 1, "tags": []}, {"_id": "b", "n": 1, "tags": []}])
    update = {"$inc": {"n": 2}, "$push": {"tags": "x"}, "$set": {"m.k": True}}
    res = await adb.docs.update_one({"_id": "a"}, update)
    assert (res.matched_count, res.modified_count) == (1, 1)
    assert await adb.docs.find_one({"_id": "a"}) == {"_id": "a", "n": 3, "tags": ["x"], "m": {"k": True}}
    res = await adb.docs.update_many({}, {"$set": {"seen": True}})
    assert (res.matched_count, res.modified_count) == (2, 2)
    upsert = {"$set": {"n": 9}, "$setOnInsert": {"new": True}}
    res = await adb.docs.update_one({"_id": "c"}, upsert, upsert=True)
    assert (res.matched_count, res.upserted_id) == (0, "c")
    assert await adb.docs.find_one({"_id": "c"}) == {"_id": "c", "n": 9, "new": True}
    res = await adb.docs.update_one({"_id": "nope"}, {"$set": {"n": 1}})
    assert (res.matched_count, res.upserted_id) == (0, None)


async def test_replace_with_stale_version_matches_nothing(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.res.insert_one({"_id": "r1", "_sys": {"v": 1}, "body": "one"})
    res = await adb.res.replace_one({"_id": "r1", "_sys.v": 1}, {"_sys": {"v": 2}, "body": "two"})
    assert res.matched_count == 1
    stale = await adb.res.replace_one({"_id": "r1", "_sys.v": 1}, {"_sys": {"v": 2}, "body": "lost"})
    assert (stale.matched_count, stale.modified_count) == (0, 0)
    assert await adb.res.find_one({"_id": "r1"}) == {"_id": "r1", "_sys": {"v": 2}, "body": "two"}


async def test_find_one_and_update_counter_is_atomic(adb: AsyncDatabase[dict[str, Any]]) -> None:
    async def next_value() -> int:
        doc = await adb.counters.find_one_and_update(
            {"_id": "seq"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
        assert doc is not None
        return int(doc["value"])

    values = await asyncio.gather(*(next_value() for _ in range(50)))
    assert sorted(values) == list(range(1, 51))


async def test_find_one_and_modify_variants(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.jobs.insert_many([{"_id": i, "state": "ready", "at": i} for i in range(3)])
    before = await adb.jobs.find_one_and_update(
        {"state": "ready"}, {"$set": {"state": "leased"}}, sort=[("at", -1)], projection={"state": 1})
    assert before == {"_id": 2, "state": "ready"}
    assert await adb.jobs.find_one_and_delete({"_id": 0}) == {"_id": 0, "state": "ready", "at": 0}
    assert await adb.jobs.find_one_and_replace({"_id": 9}, {"state": "x"}) is None
    assert await adb.jobs.count_documents({}) == 2


async def test_duplicate_keys_are_reported_with_their_index(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.slots.create_index([("tenant", 1), ("slot", 1)], unique=True, name="one_booking")
    await adb.slots.insert_one({"_id": "b1", "tenant": "a", "slot": "s1"})
    with pytest.raises(DuplicateKeyError) as err:
        await adb.slots.insert_one({"_id": "b2", "tenant": "a", "slot": "s1"})
    assert err.value.code == 11000
    assert err.value.details is not None
    assert err.value.details["keyPattern"] == {"tenant": 1, "slot": 1}
    assert err.value.details["keyValue"] == {"tenant": "a", "slot": "s1"}
    assert "index: one_booking dup key" in err.value.details["errmsg"]
    with pytest.raises(DuplicateKeyError) as err:
        await adb.slots.insert_one({"_id": "b1", "tenant": "b", "slot": "s1"})
    assert err.value.details is not None and err.value.details["keyPattern"] == {"_id": 1}
    await adb.slots.insert_one({"_id": "b3", "tenant": "a", "slot": "s2"})
    with pytest.raises(DuplicateKeyError):
        await adb.slots.update_one({"_id": "b3"}, {"$set": {"slot": "s1"}})
    assert (await adb.slots.find_one({"_id": "b3"}) or {})["slot"] == "s2"  # rolled back
    await adb.slots.delete_one({"_id": "b1"})
    await adb.slots.update_one({"_id": "b3"}, {"$set": {"slot": "s1"}})  # freed by the delete


async def test_insert_many_reports_each_write_error(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.docs.insert_one({"_id": 2})
    with pytest.raises(BulkWriteError) as err:
        await adb.docs.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3}])
    assert err.value.details["nInserted"] == 1
    assert [e["index"] for e in err.value.details["writeErrors"]] == [1]
    with pytest.raises(BulkWriteError) as err:
        await adb.docs.insert_many([{"_id": 2}, {"_id": 4}], ordered=False)
    assert err.value.details["nInserted"] == 1
    assert sorted(d["_id"] for d in await adb.docs.find().to_list()) == [1, 2, 4]


async def test_unique_index_options(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.idx.create_index("code", unique=True, sparse=True)
    await adb.idx.create_index("code", unique=True, sparse=True)  # the same spec again is fine
    await adb.idx.insert_many([{"_id": 1}, {"_id": 2}])  # sparse: missing keys do not collide
    await adb.idx.insert_many([{"_id": 3, "code": ["x", "y"]}])
    with pytest.raises(DuplicateKeyError):
        await adb.idx.insert_one({"_id": 4, "code": "y"})  # multikey: each array element is a key
    with pytest.raises(OperationFailure) as err:
        await adb.idx.create_index("code", unique=False)
    assert err.value.code == 85
    await adb.part.create_index("k", unique=True, partialFilterExpression={"live": True})
    await adb.part.insert_many([{"k": 1, "live": False}, {"k": 1, "live": False}, {"k": 1, "live": True}])
    with pytest.raises(DuplicateKeyError):
        await adb.part.insert_one({"k": 1, "live": True})


async def test_aggregate_count_and_distinct(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.obs.insert_many([{"_id": i, "code": ["hr", "bp"][i % 2], "v": i, "t": ["a", "b"]}
                               for i in range(10)])
    pipeline: list[dict[str, Any]] = [{"$match": {"v": {"$gte": 2}}},
                {"$group": {"_id": "$code", "n": {"$sum": 1}, "max": {"$max": "$v"}}},
                {"$sort": {"_id": 1}}]
    assert await (await adb.obs.aggregate(pipeline)).to_list() == [{"_id": "bp", "n": 4, "max": 9},
                                                                  {"_id": "hr", "n": 4, "max": 8}]
    top = [{"$sort": {"v": -1}}, {"$limit": 1}, {"$project": {"v": 1}}]
    facet = [{"$facet": {"total": [{"$count": "n"}], "top": top}}]
    assert await (await adb.obs.aggregate(facet)).to_list() == [{"total": [{"n": 10}],
                                                                "top": [{"_id": 9, "v": 9}]}]
    assert await adb.obs.count_documents({"code": "hr"}) == 5
    assert await adb.obs.count_documents({}, skip=3, limit=4) == 4
    assert await adb.obs.estimated_document_count() == 10
    assert sorted(await adb.obs.distinct("code")) == ["bp", "hr"]
    assert sorted(await adb.obs.distinct("t", {"v": {"$lt": 2}})) == ["a", "b"]


async def test_indexes_collections_and_drops(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.a.insert_one({"x": 1})
    await adb.a.create_index([("x", 1), ("y", -1)], name="xy")
    info = await adb.a.index_information()
    assert set(info) == {"_id_", "xy"} and info["xy"]["key"] == [("x", 1), ("y", -1)]
    await adb.create_collection("b")
    assert sorted(await adb.list_collection_names()) == ["a", "b"]
    assert await adb.list_collection_names(filter={"name": "b"}) == ["b"]
    await adb.a.drop_index("xy")
    assert set(await adb.a.index_information()) == {"_id_"}
    await adb.drop_collection("a")
    assert await adb.list_collection_names() == ["b"]
    assert await adb.a.index_information() == {}  # listIndexes on a missing namespace
    assert adb.name in await adb.client.list_database_names()
    await adb.client.drop_database(adb.name)
    assert adb.name not in await adb.client.list_database_names()


async def test_unknown_command_and_transactions_fail_like_mongodb(adb: AsyncDatabase[dict[str, Any]]) -> None:
    with pytest.raises(OperationFailure) as err:
        await adb.command("frobnicate")
    assert err.value.code == 59 and "devdb supports" in str(err.value)
    with pytest.raises(OperationFailure) as err:
        await adb.client.admin.command("commitTransaction")
    assert err.value.code == 20
    with pytest.raises(OperationFailure) as err:
        await adb.docs.find_one({"$frobnicate": 1})
    assert (await adb.command("ping"))["ok"] == 1.0  # the connection survived


def test_unacknowledged_writes_still_happen(db: Database[dict[str, Any]]) -> None:
    fire_and_forget = db.get_collection("docs", write_concern=WriteConcern(w=0))
    fire_and_forget.insert_one({"_id": "w0"})
    deadline = time.monotonic() + 5
    while db.docs.find_one({"_id": "w0"}) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.docs.find_one({"_id": "w0"}) == {"_id": "w0"}


def without_gc(measure: Any) -> Any:
    """Time complexity, not the collector: client and server share this process and its 100,000 documents."""
    gc.collect()
    gc.disable()
    try:
        return measure()
    finally:
        gc.enable()


def test_read_by_id_does_not_depend_on_collection_size(db: Database[dict[str, Any]]) -> None:
    payload = {"resourceType": "Patient", "name": [{"family": "Doe"}], "_sys": {"tenant": "a"}}
    db.small.insert_many([{"_id": f"p{i}", **payload} for i in range(100)])
    for start in range(0, 100_000, 10_000):
        db.big.insert_many([{"_id": f"p{i}", **payload} for i in range(start, start + 10_000)])

    def per_op(coll: Any) -> float:
        started = time.perf_counter()
        for i in range(200):
            assert coll.find_one({"_id": f"p{i % 100}"}) is not None
        return (time.perf_counter() - started) / 200

    # Interleaved rounds, best of each: robust to a busy machine, while a scan of 100,000 documents
    # (~100 ms per read in mongomock) would be hundreds of times slower.
    rounds = [without_gc(lambda: (per_op(db.small), per_op(db.big))) for _ in range(5)]
    small, big = min(r[0] for r in rounds), min(r[1] for r in rounds)
    print(f"\nfind_one by _id: {small * 1e6:.0f} us/op at 100 docs, {big * 1e6:.0f} us/op at 100,000 docs")
    assert big / small < 3

    def page(coll: Any, size: int) -> float:  # a keyset search page: filter, sorted by _id, limit + 1
        expected = sorted(f"p{i}" for i in range(size))[:51]
        started = time.perf_counter()
        for _ in range(20):
            assert [d["_id"] for d in coll.find({"_sys.tenant": "a"}).sort("_id", 1).limit(51)] == expected
        return (time.perf_counter() - started) / 20

    page(db.big, 100_000)  # warm up: the first read in _id order sorts the keys once
    rounds = [without_gc(lambda: (page(db.small, 100), page(db.big, 100_000))) for _ in range(3)]
    small_page, big_page = min(r[0] for r in rounds), min(r[1] for r in rounds)
    print(f"page of 51 by _id: {small_page * 1e6:.0f} us at 100 docs, {big_page * 1e6:.0f} us at 100,000")
    assert big_page / small_page < 3
    started = time.perf_counter()
    for i in range(200):
        db.big.update_one({"_id": f"p{i}", "_sys.tenant": "a"}, {"$set": {"seen": True}})
    assert (time.perf_counter() - started) / 200 < 3 * small + 0.002  # a write by _id does not scan either
    assert db.big.count_documents({"_id": {"$in": ["p1", "p2", "nope"]}}) == 2


def test_writes_are_filed_in_the_indexes_while_devdb_is_idle(devdb: DevDB, db: Database[dict[str, Any]]) -> None:
    # a collection written far more often than it is queried (the audit trail): its backlog is filed when no
    # command comes for a while, in slices (store/devdb/engine.py file_idle), not all by its next query
    coll = db["audit"]
    coll.create_index([("_sys.tenant", 1), ("_sys.k.patient", 1)])
    assert coll.find_one({"_sys.tenant": "t", "_sys.k.patient": "p"}) is None  # the indexes built
    coll.insert_many([{"_id": f"t/{i}", "_sys": {"tenant": "t", "k": {"patient": f"p{i % 7}"}}} for i in range(450)])

    def backlog() -> int:
        left: list[int] = []
        devdb.engine.locked(lambda ctx: left.append(len(
            ctx.coll(db.name, "audit")._store.__dict__["_devdb_indexes"].documents.changes or {})))
        return left[0]

    deadline = time.monotonic() + 30
    while backlog() and time.monotonic() < deadline:
        time.sleep(0.05)  # (no command meanwhile: devdb is idle)
    assert backlog() == 0  # filed with no query since the inserts
    assert sorted(d["_id"] for d in coll.find({"_sys.tenant": "t", "_sys.k.patient": "p3"})) == sorted(
        f"t/{i}" for i in range(450) if i % 7 == 3)


def test_two_clients_racing_a_conditional_replace_one_wins(devdb: DevDB) -> None:
    clients: list[MongoClient[dict[str, Any]]] = [MongoClient(devdb.uri) for _ in range(2)]
    colls = [c["race"]["docs"] for c in clients]
    colls[0].insert_one({"_id": "r", "_sys": {"v": 0}})
    for base in range(20):
        barrier, wins = threading.Barrier(2), list[int]()

        def write(coll: Any, writer: int, base: int = base, barrier: threading.Barrier = barrier,
                  wins: list[int] = wins) -> None:
            barrier.wait()
            res = coll.replace_one({"_id": "r", "_sys.v": base}, {"_sys": {"v": base + 1}, "by": writer})
            wins.extend([writer] * res.modified_count)

        threads = [threading.Thread(target=write, args=(coll, n)) for n, coll in enumerate(colls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1
        assert colls[1].find_one({"_id": "r"}) == {"_id": "r", "_sys": {"v": base + 1}, "by": wins[0]}
    for c in clients:
        c.close()


def test_main_devdb_runs_as_its_own_process_until_sigterm() -> None:
    code = "from store.devdb import main_devdb; main_devdb('127.0.0.1', 0)"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "error::ResourceWarning"})
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "not for production" in line and "in-memory" in line
        port = int(re.search(r"listening on [\d.]+:(\d+)", line).group(1))  # type: ignore[union-attr]
        uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        with MongoClient[dict[str, Any]](uri) as client:
            client.x.y.insert_one({"_id": 1})
            assert client.x.y.find_one() == {"_id": 1}
            proc.send_signal(signal.SIGTERM)  # with the client still connected
            assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""  # a clean shutdown: no tracebacks, no unclosed resources
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_exclusion_projections_of_nested_paths(db: Database[dict[str, Any]]) -> None:
    db.docs.insert_many([
        {"_id": "a", "sys": {"keys": [1, 2], "v": 3, "deep": {"x": 1, "y": 2}}, "name": "A"},
        {"_id": "b", "sys": "not a document", "name": "B"},
        {"_id": "c", "sys": [{"keys": 1, "v": 1}, {"keys": 2, "v": 2}], "name": "C"},  # through an array
    ])
    got = list(db.docs.find({"_id": {"$in": ["a", "b", "c"]}}, {"sys.keys": 0, "sys.deep.y": 0, "absent.z": 0}))
    assert got == [{"_id": "a", "sys": {"v": 3, "deep": {"x": 1}}, "name": "A"},
                   {"_id": "b", "sys": "not a document", "name": "B"},
                   {"_id": "c", "sys": [{"v": 1}, {"v": 2}], "name": "C"}]
    # the stored documents are untouched
    assert (db.docs.find_one({"_id": "a"}) or {})["sys"] == {"keys": [1, 2], "v": 3, "deep": {"x": 1, "y": 2}}
    assert db.docs.find_one({"_id": "a"}, {"_id": 0, "sys": 0}) == {"name": "A"}


async def test_reads_by_id_list_come_in_id_order(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.docs.insert_many([{"_id": k} for k in ("b", "c", "a")])
    got = [d["_id"] async for d in adb.docs.find({"_id": {"$in": ["c", "a", "zz", "b", "a"]}})]
    assert got == ["a", "b", "c"]


async def test_a_filter_pinning_id_still_applies_its_other_conditions(adb: AsyncDatabase[dict[str, Any]]) -> None:
    # The store's searches send {$and: [{tenant, deleted: false}, {_id: ...}]}: found by key, still filtered.
    await adb.docs.insert_many([{"_id": "a", "t": "A"}, {"_id": "b", "t": "B"}])
    live_a = {"$and": [{"t": "A"}, {"_id": "a"}]}
    gone_a = {"$and": [{"t": "B"}, {"_id": "a"}]}
    assert [d["_id"] async for d in adb.docs.find(live_a)] == ["a"]
    assert [d["_id"] async for d in adb.docs.find(gone_a)] == []
    assert [d["_id"] async for d in adb.docs.find({"_id": {"$eq": "a", "$ne": "a"}})] == []
    assert [d["_id"] async for d in adb.docs.find({"_id": {"$in": ["a", "b"], "$nin": ["a"]}})] == ["b"]
    assert await adb.docs.count_documents(gone_a) == 0
    assert (await adb.docs.update_one(gone_a, {"$set": {"hit": True}})).matched_count == 0
    assert (await adb.docs.delete_one(gone_a)).deleted_count == 0
    assert await adb.docs.find_one({"_id": "a"}) == {"_id": "a", "t": "A"}


async def test_unsupported_options_fail_instead_of_being_ignored(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.docs.insert_one({"_id": 1, "a": [{"x": 1}]})
    with pytest.raises(OperationFailure) as err:
        await adb.docs.find_one({}, collation={"locale": "en"})
    assert err.value.code == 238
    with pytest.raises(OperationFailure):
        await adb.docs.update_one({"_id": 1}, {"$set": {"a.$[e].x": 2}}, array_filters=[{"e.x": 1}])
    assert await adb.docs.find_one({"_id": 1}) == {"_id": 1, "a": [{"x": 1}]}


async def test_ttl_index_expires_documents(adb: AsyncDatabase[dict[str, Any]]) -> None:
    await adb.leases.create_index("at", expireAfterSeconds=0)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    later = past + dt.timedelta(days=1)
    await adb.leases.insert_many([{"_id": "old", "at": past}, {"_id": "keep", "at": later}])
    for _ in range(50):  # devdb sweeps once a second (MongoDB: once a minute)
        if [d["_id"] async for d in adb.leases.find()] == ["keep"]:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the expired document is still there")


def test_pages_in_id_order_match_a_full_sort(db: Database[dict[str, Any]]) -> None:
    ids: list[Any] = [5, 2.5, "b", "a", "B", bson.ObjectId(), True, dt.datetime(2020, 1, 1, tzinfo=dt.UTC)]
    db.mixed.insert_many([{"_id": i, "even": n % 2 == 0} for n, i in enumerate(ids)])
    for direction in (1, -1):
        full = [d["_id"] for d in db.mixed.find({"even": True}).sort("_id", direction)]
        assert [d["_id"] for d in db.mixed.find({"even": True}).sort("_id", direction).limit(3)] == full[:3]
    assert [d["_id"] for d in db.mixed.find().sort("_id", 1).limit(4)] == [2.5, 5, "B", "a"]
    db.mixed.delete_one({"_id": "a"})
    db.mixed.insert_many([{"_id": "a"}, {"_id": "aa"}])  # back after a delete: listed once
    assert [d["_id"] for d in db.mixed.find({"_id": {"$type": "string"}}).sort("_id", 1).limit(9)] == \
        ["B", "a", "aa", "b"]
    db.mixed.drop()
    db.mixed.insert_many([{"_id": "z"}, {"_id": "y"}])
    assert [d["_id"] for d in db.mixed.find().sort("_id", -1).limit(5)] == ["z", "y"]
    assert [d["_id"] for d in db.mixed.find().limit(1)] == ["z"]  # natural order: as inserted


async def test_serve_forever_on_the_callers_loop_until_cancelled() -> None:
    server = DevDB()
    await server.start()
    serving = asyncio.create_task(server.serve_forever())
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri)
    await client.x.y.insert_one({"_id": 1})
    assert await client.x.y.find_one() == {"_id": 1}
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    await client.close()
