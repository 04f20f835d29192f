"""Unique indexes checked from an insert's BSON (store/devdb/unique.py ``entries``): only the indexes' fields are
decoded, and what they find must be what the whole decoded document gives — generated documents against the plain
path, and inserts over the wire with the bytes path and without it."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import bson
import pytest
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

from store.devdb import DevDB, rawbson, unique
from store.devdb.codec import CODEC
from store.devdb.collection import Collection
from store.devdb.documents import decode

INDEXES: list[dict[str, Any]] = [
    {"key": [("a", 1)]},
    {"key": [("a", 1)], "sparse": True},
    {"key": [("tenant", 1), ("seq", 1)]},
    {"key": [("_sys.uid", 1)], "sparse": True},
    {"key": [("_sys.k.code", 1), ("a.b", 1)]},
    {"key": [("a.b.c", 1)]},
    {"key": [("a.0", 1)]},
    {"key": [("a", 1), ("a.b", 1)]},
    {"key": [("seq", 1)], "partialFilterExpression": {"live": True}},
    {"key": [("a.b", 1)], "partialFilterExpression": {"$and": [{"a": {"$exists": True}}, {"seq": {"$gt": 1}}]}},
    {"key": [("seq", 1)], "partialFilterExpression": {"$or": [{"_sys.deleted": False}, {"a.b": {"$in": [1, "x"]}}]}},
]
# A partial filter that reads more than fields: the whole document is decoded (mongomock's $expr needs ``seq``).
EXPR = {"key": [("seq", 1)], "partialFilterExpression": {"$expr": {"$gt": ["$seq", 1]}}}


def value(rng: random.Random, depth: int = 0) -> Any:
    """Any value a stored document might hold at a path: scalars of every kind, documents, arrays of them."""
    kinds: list[Any] = [lambda: rng.choice(["x", "y", ""]), lambda: rng.randint(0, 2), lambda: rng.choice([1.0, 2.5]),
                        lambda: bson.Int64(rng.randint(0, 2)), lambda: rng.choice([True, False]), lambda: None,
                        lambda: dt.datetime(2020, 1, rng.randint(1, 3)), lambda: bson.ObjectId("0" * 24)]
    if depth < 3:
        kinds += [lambda: {name: value(rng, depth + 1) for name in rng.sample(["b", "c", "0"], rng.randint(0, 3))},
                  lambda: [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]]
    return rng.choice(kinds)()


def document(rng: random.Random, n: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": n}
    for name in ("a", "tenant", "seq", "live"):
        if rng.random() < 0.7:
            doc[name] = value(rng)
    if rng.random() < 0.8:
        sys: dict[str, Any] = {"k": {"code": [value(rng) for _ in range(rng.randint(0, 2))], "name": ["n" * 50]},
                               "deleted": rng.choice([True, False])}
        if rng.random() < 0.5:
            sys["uid"] = [f"t/sys|{rng.randint(0, 3)}" for _ in range(rng.randint(0, 2))]
        doc["_sys"] = sys if rng.random() < 0.9 else value(rng)
    return doc


def test_entries_from_bson_are_those_of_the_decoded_document() -> None:
    rng = random.Random(16)
    checked = 0
    for n in range(3000):
        raw = bson.encode(document(rng, n), codec_options=CODEC)
        for index in INDEXES:
            plain = unique._index_entries(decode(raw), index)
            fast = unique.entries(raw, index)
            assert fast == plain, (decode(raw), index)
            assert [[(k, type(x)) for k, x in v.items()] for v in fast.values()] == [  # Int64 stays Int64
                [(k, type(x)) for k, x in v.items()] for v in plain.values()]
            checked += bool(plain)
        if "seq" in (doc := decode(raw)):
            assert unique.entries(raw, EXPR) == unique._index_entries(doc, EXPR)
    assert unique._paths(EXPR) is None
    assert checked > 10_000  # most documents have entries (the rest: sparse, partial, or their values missing)


def test_picked_decodes_only_the_paths_asked_for() -> None:
    doc = {"_id": 1, "_sys": {"k": {"big": ["v"] * 100}, "uid": ["t/a|1"], "s": {"x": 1}}, "a": [{"b": 1}], "z": 2}
    raw = bson.encode(doc, codec_options=CODEC)
    assert rawbson.picked(raw, ["_sys.uid"]) == {"_sys": {"uid": ["t/a|1"]}}
    assert rawbson.picked(raw, ["a.b", "_sys.s.x", "missing.b", "z.y"]) == {"a": [{"b": 1}], "_sys": {"s": {"x": 1}},
                                                                              "z": 2}
    assert rawbson.picked(raw, ["_sys.s.x", "_sys"]) == {"_sys": doc["_sys"]}  # a shorter path: the whole value
    assert rawbson.picked(raw, ["_sys", "_sys.s.x"]) == {"_sys": doc["_sys"]}


def inserts(devdb: DevDB, name: str) -> list[Any]:
    """What a run of inserts over unique indexes answers: each insert_many's write errors, then what is stored."""
    seen: list[Any] = []
    with MongoClient(devdb.uri) as client:
        db = client[name]
        db.c.create_index([("tenant", 1), ("seq", 1)], unique=True, name="tenant_seq")
        db.c.create_index("uid", unique=True, sparse=True, name="uid_unique")
        db.c.create_index("k", unique=True, partialFilterExpression={"live": True}, name="live_k")
        db.c.create_index("plain", unique=True, name="plain_unique")
        batches: list[list[dict[str, Any]]] = [
            [{"_id": 1, "tenant": "t", "seq": 1, "plain": 1}, {"_id": 2, "tenant": "t", "seq": 2, "plain": 2},
             {"_id": 3, "tenant": "t", "seq": 1, "plain": 3}],  # a duplicate within one insert
            [{"_id": 4, "tenant": "t", "seq": 2, "plain": 4},  # against a stored one
             {"_id": 5, "tenant": "u", "seq": 2, "plain": 5}],
            [{"_id": 6, "plain": 6}, {"_id": 7, "plain": 7}],  # missing fields: null entries of tenant_seq
            [{"_id": 8, "uid": ["t/a|1", "t/a|2"], "tenant": "v", "plain": 8},
             {"_id": 9, "uid": "t/a|2", "tenant": "w", "plain": 9},  # an array's element
             {"_id": 10, "uid": [], "tenant": "x", "plain": 10}],
            [{"_id": 11, "k": 1, "live": False, "tenant": "y", "plain": 11},
             {"_id": 12, "k": 1, "live": True, "tenant": "z", "plain": 12},
             {"_id": 13, "k": 1, "live": True, "tenant": "z2", "plain": 13}],  # partial: only live ones collide
            [{"_id": 14, "tenant": "a", "seq": dt.datetime(2020, 1, 1), "plain": [14, 1]},  # the stored plain 1
             {"_id": 15, "tenant": "a", "seq": 1.0, "plain": {"n": 1}},
             {"_id": 16, "tenant": "a", "seq": 1, "plain": {"n": 2}},  # 1 == 1.0
             {"_id": 17, "tenant": "b", "plain": {"n": 1}}],  # the same subdocument
        ]
        for batch in batches:
            try:
                db.c.insert_many(batch, ordered=False)
                seen.append([])
            except BulkWriteError as exc:
                seen.append([(e["index"], e["code"], e["keyPattern"], e["keyValue"], e["errmsg"])
                             for e in exc.details["writeErrors"]])
        seen.append(sorted(d["_id"] for d in db.c.find()))
        client.drop_database(db.name)
    return seen


def test_inserts_answer_what_the_decoded_path_answers(devdb: DevDB, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"u_{uuid.uuid4().hex[:8]}"
    fast = inserts(devdb, name)
    monkeypatch.setattr(Collection, "insert_raw", lambda self, raw: None)  # every insert decoded first
    assert inserts(devdb, name) == fast
    errors = [[(index, key_value) for index, _, _, key_value, _ in batch] for batch in fast[:-1]]
    assert errors == [[(2, {"tenant": "t", "seq": 1})], [(0, {"tenant": "t", "seq": 2})],
                      [(1, {"tenant": None, "seq": None})], [(1, {"uid": "t/a|2"})], [(2, {"k": 1})],
                      [(0, {"plain": 1}), (2, {"tenant": "a", "seq": 1}), (3, {"plain": {"n": 1}})]]
    index, code, pattern, _, message = fast[0][0]
    assert (code, pattern) == (11000, {"tenant": 1, "seq": 1})
    assert message.endswith(' index: tenant_seq dup key: { tenant: "t", seq: 1 }')
    assert fast[-1] == [1, 2, 5, 6, 8, 10, 11, 12, 15]
