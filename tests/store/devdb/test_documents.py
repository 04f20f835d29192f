"""devdb's documents held as BSON bytes: exclusion projections cut as bytes (as MongoDB projects), history versions
sharing their bytes, inserts keeping the bytes the wire carried."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from store.devdb import DevDB, rawbson
from store.devdb.codec import CODEC
from store.devdb.documents import Bodies, DatabaseStore, Documents, Shared, encode
from store.devdb.engine import Engine

NAMES = ("_sys", "_sy", "_sysx", "k", "e", "s", "a", "é", "k2")


def value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(10 if depth < 3 else 6)
    if kind == 0:
        return rng.choice(["x", "", "naïve", "a\x00b"])
    if kind == 1:
        return rng.randint(-3, 2**40)
    if kind == 2:
        return rng.choice([1.5, True, None])
    if kind == 3:
        return dt.datetime(2020, 1, 1) + dt.timedelta(milliseconds=rng.randint(0, 10**9))
    if kind == 4:
        return bson.ObjectId()
    if kind == 5:
        return bson.Binary(b"\x00\x01", 0)
    if kind in (6, 7):
        return document(rng, depth + 1)
    return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def document(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    return {name: value(rng, depth) for name in rng.sample(NAMES, rng.randint(0, 5))}


def excluded(doc: dict[str, Any], paths: list[str]) -> dict[str, Any] | None:
    """MongoDB's exclusion projection of ``doc`` (a path under a scalar leaves it as it is); None when a path
    crosses an array."""
    out = dict(doc)
    for path in paths:
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if isinstance(child, list):
                return None
            if not isinstance(child, dict):
                break
            node[part] = node = dict(child)
        else:
            node.pop(leaf, None)
    return out


def test_exclusions_are_cut_as_bytes() -> None:
    rng = random.Random(7)
    projections = [{"_sys.k": 0, "_sys.e": 0, "_sys.s": 0}, {"_sys": 0}, {"a.k": 0, "_sy": 0}, {"é.é": 0},
                   {"_sys.k.a": 0, "k": False}, {"a": 0, "a.k": 0}]
    cut = through_arrays = 0
    for _ in range(3000):
        doc = {"_id": rng.randint(0, 9), **document(rng)}
        raw = encode(doc)
        projection = rng.choice(projections)
        tree = rawbson.exclusion_tree(projection)
        assert tree is not None
        out = rawbson.without(raw, tree)
        if out is None:  # an excluded path through an array: the caller projects the decoded document
            assert excluded(doc, list(projection)) is None
            through_arrays += 1
            continue
        expected = excluded(bson.decode(raw, CODEC), list(projection))
        assert expected is not None and out == encode(expected), (doc, projection)
        cut += out != raw
    assert cut > 500 and through_arrays > 50  # both paths were exercised


def test_only_exclusions_are_cut_as_bytes() -> None:
    assert rawbson.exclusion_tree({"a": 1}) is None
    assert rawbson.exclusion_tree({"a": 0, "b": 1}) is None
    assert rawbson.exclusion_tree({"a.0": 0}) is None
    assert rawbson.exclusion_tree({"$meta": 0}) is None
    assert rawbson.exclusion_tree({"a.b": 0, "a.c": 0}) == {b"a": {b"b": None, b"c": None}}


def test_inclusions_of_top_level_fields_are_cut_as_bytes() -> None:
    rng = random.Random(11)
    projections = [{"k": 1, "e": 1}, {"_sys": True}, {"_id": 0, "é": 1, "a": 1}, {"k2": 1, "_id": 1}]
    for _ in range(2000):
        doc = {"_id": rng.randint(0, 9), **document(rng)}
        raw = encode(doc)
        projection = rng.choice(projections)
        names = rawbson.inclusion(projection)
        assert names is not None
        kept = {p for p, flag in projection.items() if flag} | ({"_id"} - {p for p, f in projection.items() if not f})
        assert rawbson.only(raw, names) == encode({k: v for k, v in doc.items() if k in kept}), (doc, projection)


def test_only_inclusions_of_top_level_fields_are_cut_as_bytes() -> None:
    for projection in ({"a.b": 1}, {"a": 1, "b": 0}, {"_id": 1}, {"$meta": 1}, {"a": 2}, {"a": 1.0}, {"a": "x"}):
        assert rawbson.inclusion(projection) is None, projection
    assert rawbson.inclusion({"a": 1, "_id": False}) == frozenset({b"a"})


def test_a_document_stored_with_the_same_body_shares_its_bytes() -> None:
    bodies = Bodies()
    current, history = Documents(bodies), Documents(bodies)
    doc = {"_id": "t/p1", "resourceType": "Patient", "name": [{"family": "x" * 300}], "_sys": {"v": 1}}
    current["t/p1"] = doc
    history["t/p1/1"] = {**doc, "_id": "t/p1/1"}
    held = history.held["t/p1/1"]
    assert isinstance(held, Shared) and held.source is current.held["t/p1"]
    assert history.raw("t/p1/1") == encode({**doc, "_id": "t/p1/1"})
    current["t/p1"] = {**doc, "_sys": {"v": 2}}  # the shared version outlives its change and deletion
    del current["t/p1"]
    assert history["t/p1/1"] == {**doc, "_id": "t/p1/1"}
    small = Documents(bodies)
    small["a"] = {"_id": "a", "v": 1}
    small["b"] = {"_id": "b", "v": 1}
    assert isinstance(small.held["b"], bytes)  # too small to be worth sharing


@pytest.mark.parametrize("first", ["Patient", "Patient_history"])
def test_only_a_collection_and_its_history_share_bodies(first: str) -> None:
    # What the store writes twice (a version, current and in the history) shares its bytes whichever collection
    # came first; an append-only collection (AuditEvent: one document per access, written once) does not enter
    # the recent bodies at all, so its inserts neither hash nor push the pairs' bodies out.
    db = DatabaseStore(Bodies())
    second = "Patient" if first == "Patient_history" else "Patient_history"
    audit, one, other = db["AuditEvent"], db[first], db[second]
    doc = {"_id": "t/a1", "resourceType": "AuditEvent", "entity": [{"what": "x" * 300}]}
    audit._documents["t/a1"] = doc
    assert audit.bodies is None and isinstance(audit._documents.held["t/a1"], bytes)
    assert db["AuditEvent"]._documents["t/a1"] == doc
    assert one.bodies is other.bodies is db.bodies
    patient = {"_id": "t/p1", "resourceType": "Patient", "name": [{"family": "x" * 300}]}
    db["Patient"]._documents["t/p1"] = patient
    db["Patient_history"]._documents["t/p1/1"] = {**patient, "_id": "t/p1/1"}
    assert isinstance(db["Patient_history"]._documents.held["t/p1/1"], Shared)


def raw_insert(engine: Engine, *docs: bytes) -> dict[str, Any]:
    """An insert whose documents came as the wire's document sequence (kept as bytes)."""
    return engine.run("d", {"insert": "c", "documents": [RawBSONDocument(d) for d in docs]})


def test_inserted_bytes_are_stored_and_read_back_as_they_came() -> None:
    engine = Engine()
    first = encode({"_id": "a", "x": 1.0, "when": dt.datetime(2024, 5, 1, 12, 0, 0, 123000)})
    assert raw_insert(engine, first)["n"] == 1
    coll = engine.context.coll("d", "c")
    assert coll.documents.raw("a") == first
    reply = engine.run("d", {"find": "c", "filter": {"_id": "a"}})
    assert reply["cursor"]["firstBatch"][0].raw == first
    again = raw_insert(engine, first)
    assert again["n"] == 0 and again["writeErrors"][0]["code"] == 11000


def test_an_inserted_document_without_its_id_first_gets_one_in_the_command() -> None:
    engine = Engine()
    later = rawbson.document(bson.encode({"x": 1})[4:-1] + bson.encode({"_id": "b"})[4:-1])
    none = bson.encode({"x": 2})
    cmd: dict[str, Any] = {"insert": "c", "documents": [RawBSONDocument(later), RawBSONDocument(none)]}
    assert engine.run("d", cmd)["n"] == 2
    assert cmd["documents"][0] == {"x": 1, "_id": "b"}  # what the journal logs: the _id the engine chose
    chosen = cmd["documents"][1]["_id"]
    assert isinstance(chosen, bson.ObjectId)
    coll = engine.context.coll("d", "c")
    assert coll.documents["b"] == {"_id": "b", "x": 1} and coll.documents[chosen] == {"_id": chosen, "x": 2}


def test_bulk_inserts_through_the_driver_keep_each_document_apart(tmp_path: Path) -> None:
    """Large document sequences (the driver's insert_many) come as views of one message: each stored document is
    bytes of its own, and a restart replays the same _ids."""
    devdb = DevDB(data_dir=str(tmp_path))
    devdb.start_in_thread()
    try:
        with MongoClient(devdb.uri) as client:
            client.d.c.insert_many([{"_id": i, "text": "x" * 5000} for i in range(50)])
            client.d.c.insert_many([RawBSONDocument(bson.encode({"n": i})) for i in range(3)])
            held = devdb.engine.context.coll("d", "c").documents.held
            assert all(type(h) in (bytes, Shared) for h in held.values())
            before = list(client.d.c.find({}, sort=[("n", 1)]))
    finally:
        devdb.stop()
    devdb = DevDB(data_dir=str(tmp_path))
    devdb.start_in_thread()
    try:
        with MongoClient(devdb.uri) as client:
            assert list(client.d.c.find({}, sort=[("n", 1)])) == before
    finally:
        devdb.stop()


@pytest.mark.parametrize(("projection", "expected"), [
    ({"_sys.k": 0}, [{"_id": "p", "_sys": {"v": 1}, "list": [{"k": 1, "j": 2}], "a": 1},
                     {"_id": "q", "_sys": "scalar", "a": {"k": 1}}]),
    ({"_sys.k": 0, "list.k": 0}, [{"_id": "p", "_sys": {"v": 1}, "list": [{"j": 2}], "a": 1},  # (mongomock's)
                                  {"_id": "q", "_sys": "scalar", "a": {"k": 1}}]),
    ({"a": 1}, [{"_id": "p", "a": 1}, {"_id": "q", "a": {"k": 1}}]),
    ({"list": 1, "_id": 0, "_sys": 1}, [{"_sys": {"k": [1], "v": 1}, "list": [{"k": 1, "j": 2}]},
                                        {"_sys": "scalar"}]),
    ({"a.k": 1}, [{"_id": "p"}, {"_id": "q", "a": {"k": 1}}]),
])
def test_finds_project_the_stored_bytes(projection: dict[str, int], expected: list[dict[str, Any]]) -> None:
    engine = Engine()
    docs = [{"_id": "p", "_sys": {"k": [1], "v": 1}, "list": [{"k": 1, "j": 2}], "a": 1},
            {"_id": "q", "_sys": "scalar", "a": {"k": 1}}]
    engine.run("d", {"insert": "c", "documents": docs})
    reply = engine.run("d", {"find": "c", "filter": {}, "projection": projection, "sort": {"_id": 1}})
    assert [bson.decode(d.raw, CODEC) for d in reply["cursor"]["firstBatch"]] == expected
