"""Finds answered in one batch, their cursor documents remembered by their rows (store/devdb/cursor.py
``BATCHES``): every reply the one devdb makes with nothing remembered, through writes, projections and limits."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import bson
import pytest

from store.devdb import cursor
from store.devdb.engine import Engine
from store.devdb.wire import op_msg_parts

FINDS: list[dict[str, Any]] = [
    {"find": "c", "filter": {"_sys.tenant": "t", "_sys.deleted": False}, "sort": {"_id": 1}, "limit": 3,
     "batchSize": 3, "projection": {"_sys.k": 0, "_sys.e": 0}},
    {"find": "c", "filter": {"_sys.tenant": "t"}, "sort": {"_id": -1}, "limit": 50, "batchSize": 50},
    {"find": "c", "filter": {}, "projection": {"n": 1}},
    {"find": "c", "filter": {}, "projection": {"_sys": 0}, "batchSize": 2},  # more than a batch: a cursor
    {"find": "c", "filter": {"n": {"$gte": 2}}, "projection": {"name.family": 1, "_id": 0}, "limit": 10},
    {"find": "c", "filter": {"n": 3}, "sort": {"_id": 1}, "skip": 1, "limit": 5, "projection": {"_sys.k": 0}},
    {"find": "c", "filter": {"n": -1}},  # none
]


def batches(max_bytes: int) -> cursor._Batches:
    out = cursor._Batches()
    out.MAX_BYTES = max_bytes
    return out


@contextmanager
def remembering(held: cursor._Batches) -> Iterator[cursor._Batches]:
    kept, cursor.BATCHES = cursor.BATCHES, held
    try:
        yield held
    finally:
        cursor.BATCHES = kept


def replies(engine: Engine) -> list[bytes]:
    out = []
    for find in FINDS:
        reply = engine.run("d", dict(find))
        assert reply["ok"] == 1.0, reply
        if reply["cursor"]["id"]:
            engine.run("d", {"killCursors": "c", "cursors": [reply["cursor"]["id"]]})
            reply["cursor"] = bson.decode(reply["cursor"].raw) | {"id": 0}  # cursor ids differ from run to run
        out.append(b"".join(op_msg_parts(1, 1, reply)))
    return out


def doc(i: int, version: int = 0) -> dict[str, Any]:
    return {"_id": f"t/{i}", "n": i % 5, "name": [{"family": f"F{i}", "given": ["é" * version]}],
            "_sys": {"tenant": "t", "deleted": i % 7 == 3, "k": {"x": [i]}, "e": "e" * i}}


WRITES: list[dict[str, Any]] = [
    {"update": "c", "updates": [{"q": {"_id": "t/1"}, "u": {"$set": {"name.0.family": "Changed"}}}]},
    {"delete": "c", "deletes": [{"q": {"_id": "t/0"}, "limit": 1}]},
    {"insert": "c", "documents": [doc(100)]},
    {"update": "c", "updates": [{"q": {"_id": "t/2"}, "u": doc(2, version=1)}]},  # replaced
    {"createIndexes": "c", "indexes": [{"key": {"_sys.tenant": 1, "_sys.deleted": 1, "_id": 1}, "name": "tl"}]},
]


@pytest.mark.parametrize("max_bytes", [cursor._Batches.MAX_BYTES, 6000])  # 6000: evicting as it goes
def test_remembered_batches_are_the_replies_made_afresh(max_bytes: int) -> None:
    held, fresh, kept = Engine(), Engine(), batches(max_bytes)
    for engine in (held, fresh):
        assert engine.run("d", {"insert": "c", "documents": [doc(i) for i in range(12)]})["ok"] == 1.0
    for write in [None, *WRITES]:
        if write is not None:
            for engine in (held, fresh):
                assert engine.run("d", dict(write))["ok"] == 1.0
        with remembering(batches(0)):
            expected = replies(fresh)
        with remembering(kept):
            first, again = replies(held), replies(held)
        assert first == expected and again == expected
    assert kept._held


def test_a_batch_is_remembered_and_bounded() -> None:
    engine = Engine()
    assert engine.run("d", {"insert": "c", "documents": [doc(i) for i in range(12)]})["ok"] == 1.0
    with remembering(batches(cursor._Batches.MAX_BYTES)) as held:
        first = engine.run("d", dict(FINDS[0]))["cursor"]
        assert engine.run("d", dict(FINDS[0]))["cursor"] is first  # the same document: not cut again
        assert engine.run("d", dict(FINDS[0], projection={"_sys": 0}))["cursor"] is not first
        for limit in itertools.islice(itertools.count(1), 12):
            engine.run("d", dict(FINDS[0], limit=limit, batchSize=limit))
        assert 0 < held._bytes == sum(size for _, _, size in held._held.values())
    with remembering(batches(3000)) as small:
        for limit in range(1, 12):
            engine.run("d", dict(FINDS[0], limit=limit, batchSize=limit))
        assert 0 < small._bytes <= 3000 and len(small._held) < 11
