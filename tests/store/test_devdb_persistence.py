"""devdb --data-dir: what was acknowledged survives kill -9 and restarts, through the real driver."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from store.devdb import DevDB, snapshot
from store.devdb.wal import FRAME, DataDirError
from tests.processes import ROOT, AppProcess, DevdbProcess

Client = MongoClient[dict[str, Any]]


def _client(uri: str) -> Client:
    return MongoClient(uri, serverSelectionTimeoutMS=5000)


def _state(client: Client) -> dict[str, Any]:
    """Every collection of every database: its documents (in stored order) and its indexes."""
    return {f"{db}.{name}": (list(client[db][name].find()), client[db][name].index_information())
            for db in client.list_database_names() for name in sorted(client[db].list_collection_names())}


@pytest.fixture
def in_thread(tmp_path: Path) -> Iterator[list[DevDB]]:
    """Start devdbs on tmp_path (``start()``); every one still running is stopped at the end."""
    started: list[DevDB] = []
    yield started
    for devdb in started:
        devdb.stop()


def _start(started: list[DevDB], data_dir: Path) -> DevDB:
    devdb = DevDB(data_dir=str(data_dir))
    devdb.start_in_thread()
    started.append(devdb)
    return devdb


def _restart(started: list[DevDB], devdb: DevDB, data_dir: Path) -> DevDB:
    devdb.stop()
    started.remove(devdb)
    return _start(started, data_dir)


def _writes(client: Client) -> None:
    """One of each write the store makes, and the ones whose values the server chooses."""
    db = client.clinic
    db.patients.create_index("mrn", unique=True, name="mrn")
    db.patients.create_index([("name", 1), ("_id", 1)], name="name_id")
    db.patients.insert_many([{"_id": f"p{i}", "mrn": i, "name": f"n{i % 7}"} for i in range(300)])
    db.patients.update_many({"name": "n3"}, {"$set": {"flag": True}, "$inc": {"v": 1}})
    db.patients.replace_one({"_id": "p7"}, {"mrn": 7, "name": "renamed"})
    db.patients.delete_many({"name": "n5"})
    db.counters.find_one_and_update({"_id": "seq"}, {"$inc": {"n": 1}}, upsert=True,
                                    return_document=ReturnDocument.AFTER)
    db.counters.update_one({"kind": "no id in the query"}, {"$inc": {"n": 1}}, upsert=True)  # the server picks an _id
    db.counters.update_one({"_id": "seq"}, {"$currentDate": {"touched": True}})  # the server picks the time
    db.scratch.insert_one({"x": 1})
    db.scratch.drop()
    db.create_collection("empty")
    db.patients.create_index("temporary", name="temporary")
    db.patients.drop_index("temporary")
    with pytest.raises(DuplicateKeyError):
        db.patients.insert_one({"_id": "dup", "mrn": 1})
    client.dropped.things.insert_one({"a": 1})
    client.drop_database("dropped")


def test_kill_9_keeps_every_acknowledged_write_indexes_and_unique_constraints(tmp_path: Path) -> None:
    devdb = DevdbProcess(tmp_path / "data").start()
    try:
        with _client(devdb.uri) as client:
            _writes(client)
            acknowledged: list[list[int]] = [[] for _ in range(4)]

            def writer(n: int) -> None:  # concurrent connections: their writes share one sync
                with _client(devdb.uri) as own:
                    for i in range(10_000):
                        try:
                            own.clinic.stream.insert_one({"_id": n * 100_000 + i})
                        except PyMongoError:
                            return  # the process is gone: this write was not acknowledged
                        acknowledged[n].append(n * 100_000 + i)

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            while sum(map(len, acknowledged)) < 400:
                threading.Event().wait(0.01)
            before = _state(client)  # everything but the stream, which is still being written
            devdb.kill()
            for t in threads:
                t.join()
        devdb.start()
        with _client(devdb.uri) as client:
            after = _state(client)
            stream = {d["_id"] for d in client.clinic.stream.find()}
            assert {i for ids in acknowledged for i in ids} <= stream
            del before["clinic.stream"], after["clinic.stream"]
            assert after == before
            seq, upserted = after["clinic.counters"][0]  # the time and the _id the server chose, as they were
            assert isinstance(seq["touched"], dt.datetime) and upserted["kind"] == "no id in the query"
            assert "dropped" not in client.list_database_names()
            assert "clinic.scratch" not in after and "clinic.empty" in after
            with pytest.raises(DuplicateKeyError):
                client.clinic.patients.insert_one({"_id": "again", "mrn": 1})
    finally:
        devdb.stop()
    assert b"trial/test engine" in devdb.log and str(tmp_path / "data").encode() in devdb.log
    assert b"did not repeat their outcome" not in devdb.log  # every replayed command did what it did the first time


def test_a_second_process_on_the_same_data_dir_is_refused_in_one_line(tmp_path: Path) -> None:
    owner = DevdbProcess(tmp_path).start()
    try:
        other = subprocess.run([sys.executable, "-m", "app.cli", "devdb", "--port", "0", "--data-dir", str(tmp_path)],
                               cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert other.returncode == 2
        assert other.stderr.count("\n") == 1 and "in use by another devdb" in other.stderr
        with _client(owner.uri) as client:  # the owner is undisturbed
            client.t.c.insert_one({"_id": 1})
    finally:
        owner.stop()
    assert b"Traceback" not in owner.log  # a clean stop: the log synced and closed, the lock given back
    owner.start()  # ... so the next process takes the data dir over
    try:
        with _client(owner.uri) as client:
            assert client.t.c.find_one() == {"_id": 1}
    finally:
        owner.stop()


def test_a_torn_last_record_is_dropped_and_damage_elsewhere_is_one_line(tmp_path: Path,
                                                                         in_thread: list[DevDB]) -> None:
    devdb = _start(in_thread, tmp_path)
    with _client(devdb.uri) as client:
        client.t.c.insert_many([{"_id": i} for i in range(5)])
        client.t.c.insert_one({"_id": "last"})
    devdb.stop()
    in_thread.remove(devdb)
    (log,) = tmp_path.glob("log.*")
    whole = log.read_bytes()
    # A crash in the middle of an append: a header promising more than was written.
    log.write_bytes(whole + FRAME.pack(500, 0) + b"\x05partial")
    devdb = _start(in_thread, tmp_path)
    assert "torn last record" in devdb.where()
    with _client(devdb.uri) as client:
        assert [d["_id"] for d in client.t.c.find()] == [0, 1, 2, 3, 4, "last"]
        client.t.c.insert_one({"_id": "after"})  # appended after what was kept, and read back next time
    devdb = _restart(in_thread, devdb, tmp_path)
    with _client(devdb.uri) as client:
        assert client.t.c.count_documents({}) == 7
    devdb.stop()
    in_thread.remove(devdb)

    first_log = min(tmp_path.glob("log.*"))
    damaged = bytearray(first_log.read_bytes())
    damaged[len(damaged) // 3] ^= 0xFF  # inside an early record, with records after it
    first_log.write_bytes(bytes(damaged))
    with pytest.raises(DataDirError, match=r"is damaged at byte \d+ \(a checksum mismatch\)"):
        DevDB(data_dir=str(tmp_path)).start_in_thread()
    for command in ("devdb", "serve"):
        cli = subprocess.run([sys.executable, "-m", "app.cli", command, "--port", "0", "--data-dir", str(tmp_path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "MONGODB_URI"})
        assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and "is damaged at byte" in cli.stderr


def test_snapshot_then_log_replay_and_snapshots_taken_as_the_log_grows(tmp_path: Path,
                                                                       in_thread: list[DevDB]) -> None:
    devdb = _start(in_thread, tmp_path)
    with _client(devdb.uri) as client:
        _writes(client)
        assert devdb.engine.journal is not None
        covered = (tmp_path / "log.00000001").read_bytes()
        devdb.engine.journal.snapshot_now(devdb.engine)
        assert [p.name for p in tmp_path.glob("log.*")] == ["log.00000002"]  # the covered log is gone
        # A crash just after the snapshot's rename (its covered log not yet deleted), and one while the next
        # snapshot was being written: neither leftover is read.
        (tmp_path / "log.00000001").write_bytes(covered)
        (tmp_path / "snapshot.tmp").write_bytes(b"half a snapshot")
        client.clinic.patients.update_one({"_id": "p1"}, {"$set": {"after": "snapshot"}})
        client.clinic.patients.create_index("after", name="after")
        before = _state(client)
    devdb = _restart(in_thread, devdb, tmp_path)
    assert "snapshot and 2 logged commands read" in devdb.where()
    assert not (tmp_path / "log.00000001").exists()
    with _client(devdb.uri) as client:
        assert _state(client) == before
        assert devdb.engine.journal is not None
        devdb.engine.journal.snapshot_min_bytes = 20_000
        for i in range(200):  # each insert ~100 bytes logged: several snapshots on the way
            client.clinic.bulk.insert_one({"_id": i, "pad": "x" * 60})
        devdb.engine.journal.snapshot_now(devdb.engine)  # waits for any snapshot still being written
        assert [p.name for p in tmp_path.glob("log.*")] > ["log.00000004"]  # it moved on several times
        before = _state(client)
    devdb = _restart(in_thread, devdb, tmp_path)
    with _client(devdb.uri) as client:
        assert _state(client) == before


def test_ttl_expiry_is_logged_so_a_replay_removes_the_same_documents(tmp_path: Path,
                                                                    in_thread: list[DevDB]) -> None:
    devdb = _start(in_thread, tmp_path)
    past, future = dt.datetime(2000, 1, 1), dt.datetime(2999, 1, 1)
    with _client(devdb.uri) as client:
        codes = client.t.codes
        codes.create_index("expires", expireAfterSeconds=0, name="ttl")
        codes.create_index("code", unique=True, name="code")
        codes.insert_one({"_id": 1, "code": "A", "expires": past})
        devdb.engine._last_ttl_sweep = 0.0  # the next command sweeps
        codes.insert_one({"_id": 2, "code": "B", "expires": future})
        codes.insert_one({"_id": 3, "code": "A", "expires": future})  # A is free again: the expired one is gone
        before = _state(client)
    devdb = _restart(in_thread, devdb, tmp_path)
    with _client(devdb.uri) as client:
        assert _state(client) == before
        assert [d["_id"] for d in client.t.codes.find()] == [2, 3]


def test_serve_with_a_data_dir_keeps_resources_across_kill_9(tmp_path: Path) -> None:
    app = AppProcess(None, "fhirgraph", args=("--data-dir", str(tmp_path)))
    try:
        app.start()
        created = httpx.post(f"{app.url}/fhir/r4/Patient", json={"resourceType": "Patient", "gender": "female"},
                             timeout=30)
        assert created.status_code == 201
        location = created.headers["location"].split("/_history")[0]
        app.kill()
        app.start()
        read = httpx.get(location, timeout=30)
        assert read.status_code == 200 and read.json()["gender"] == "female"
    finally:
        app.stop()


def test_writes_while_a_snapshot_is_written_are_served_and_survive_a_crash_at_any_point(
        tmp_path: Path, in_thread: list[DevDB], monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    devdb = _start(in_thread, data)
    journal = devdb.engine.journal
    assert journal is not None
    # The snapshot's records are encoded in its background thread: held there until the writes below are done.
    encoding, release = threading.Event(), threading.Event()
    record = snapshot._record

    def held_record(db: str, cmd: dict[str, Any]) -> bytes:
        if threading.current_thread().name == "fhirgraph-devdb-snapshot":
            encoding.set()
            assert release.wait(60)
        return record(db, cmd)

    monkeypatch.setattr(snapshot, "_record", held_record)

    def crashed_now(name: str) -> dict[str, Any]:
        """The state a restart reads from the data dir's files as they are at this instant (a kill -9 now)."""
        copy = tmp_path / name
        shutil.copytree(data, copy, ignore=shutil.ignore_patterns("LOCK"))
        other = _start(in_thread, copy)
        try:
            with _client(other.uri) as client:
                return _state(client)
        finally:
            other.stop()
            in_thread.remove(other)

    with _client(devdb.uri) as client:
        _writes(client)
        captured = _state(client)
        devdb.engine.locked(journal._snapshot)  # captured and the log moved on; its writer waits in the background
        assert encoding.wait(30)
        # The store serves while the snapshot is being written: writes to what it captured, and new ones.
        patients = client.clinic.patients
        patients.update_one({"_id": "p1"}, {"$set": {"during": "snapshot"}})
        patients.delete_one({"_id": "p2"})
        patients.insert_one({"_id": "new", "mrn": 10_000, "name": "during"})
        client.clinic.fresh.insert_one({"_id": 1})
        patients.create_index("during", name="during")
        with pytest.raises(DuplicateKeyError):
            patients.insert_one({"_id": "dup", "mrn": 1})
        acknowledged = _state(client)
        assert acknowledged != captured and acknowledged["clinic.patients"][0][1]["during"] == "snapshot"
        assert not (data / "snapshot").exists() and (data / "log.00000001").exists()
        assert crashed_now("before-rename") == acknowledged  # the old log and the new one

        release.set()
        assert journal._snapshotting is not None
        journal._snapshotting.join(60)
        assert (data / "snapshot").exists() and [p.name for p in data.glob("log.*")] == ["log.00000002"]
        assert crashed_now("after-rename") == acknowledged  # the snapshot, then the writes made during it
    devdb = _restart(in_thread, devdb, data)
    assert "snapshot and 6 logged commands read" in devdb.where()
    with _client(devdb.uri) as client:
        assert _state(client) == acknowledged


def test_a_recovered_store_has_its_indexes_built_before_it_listens(tmp_path: Path, in_thread: list[DevDB]) -> None:
    started = in_thread
    devdb = _start(started, tmp_path)
    with _client(devdb.uri) as client:
        _writes(client)
    devdb = _restart(started, devdb, tmp_path)
    store = devdb.engine.context.coll("clinic", "patients")._store
    state = store.__dict__.get("_devdb_indexes")  # built from the recovered documents, none left to file
    assert state is not None and not state.documents.changes
    assert {"_id_", "mrn", "name_id"} <= set(state.by_name)
