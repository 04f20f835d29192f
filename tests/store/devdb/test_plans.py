"""Plans remembered between writes (store/devdb/query.py ``planned``): forgotten when the indexes change."""

from __future__ import annotations

from typing import Any

import bson

from store.devdb import index
from store.devdb.engine import Engine

PAGE: dict[str, Any] = {"find": "c", "filter": {"_sys.tenant": "t", "_sys.deleted": False}, "sort": {"_id": 1},
                        "limit": 3}


def ids(engine: Engine, cmd: dict[str, Any]) -> list[str]:
    reply = engine.run("d", cmd)
    assert reply["ok"] == 1.0, reply
    return [bson.decode(raw.raw)["_id"] for raw in reply["cursor"]["firstBatch"]]


def chosen(engine: Engine) -> Any:
    (held,) = index.indexes_of(engine.context.coll("d", "c")._store).plans.values()
    return held[1]


def test_a_plan_is_remembered_until_a_write_or_an_index_changes() -> None:
    engine = Engine()
    docs = [{"_id": f"t/{i}", "_sys": {"tenant": "t", "deleted": i == 2}} for i in range(5)]
    assert engine.run("d", {"insert": "c", "documents": docs})["ok"] == 1.0
    assert ids(engine, PAGE) == ["t/0", "t/1", "t/3"]  # _id_ walked: no index holds the tenant yet
    plans = index.indexes_of(engine.context.coll("d", "c")._store).plans
    first = chosen(engine)
    assert first.plan.accesses[0].index.name == "_id_" and not first.settled
    assert ids(engine, PAGE) == ["t/0", "t/1", "t/3"] and chosen(engine) is first  # not planned again
    assert len(plans) == 1

    spec = {"key": {"_sys.tenant": 1, "_sys.deleted": 1, "_id": 1}, "name": "tenant_live_id"}
    assert engine.run("d", {"createIndexes": "c", "indexes": [spec]})["ok"] == 1.0
    assert ids(engine, PAGE) == ["t/0", "t/1", "t/3"]
    walked = chosen(engine)
    assert walked.plan.accesses[0].index.name == "tenant_live_id" and walked.settled

    assert engine.run("d", {"update": "c", "updates": [{"q": {"_id": "t/0"}, "u": {"$set": {"_sys.deleted": True}}}]}
                      )["ok"] == 1.0
    assert ids(engine, PAGE) == ["t/1", "t/3", "t/4"] and chosen(engine) is not walked
    assert engine.run("d", {"dropIndexes": "c", "index": "tenant_live_id"})["ok"] == 1.0
    assert ids(engine, PAGE) == ["t/1", "t/3", "t/4"]
    assert chosen(engine).plan.accesses[0].index.name == "_id_"


def test_filters_alike_in_bson_but_not_in_python_are_planned_apart() -> None:
    engine = Engine()
    assert engine.run("d", {"insert": "c", "documents": [{"_id": "a", "x": 1}, {"_id": "b", "x": True}]})["ok"] == 1.0
    spec = {"key": {"x": 1}, "name": "x"}
    assert engine.run("d", {"createIndexes": "c", "indexes": [spec]})["ok"] == 1.0
    one = {"find": "c", "filter": {"x": 1}, "sort": {"_id": 1}}
    yes = {"find": "c", "filter": {"x": True}, "sort": {"_id": 1}}
    assert ids(engine, one) == ids(engine, yes)  # mongomock's == equates 1 and True, as before
    assert len(index.indexes_of(engine.context.coll("d", "c")._store).plans) == 2
