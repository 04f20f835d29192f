"""devdb's in-memory indexes follow every write (insert, update, replacement, delete, findAndModify, drop), and
the planner reads them: which index answers (explain) and how many documents a page examines."""

from __future__ import annotations

import threading
from typing import Any

import bson
import pytest

from store.devdb import index, query
from store.devdb.engine import Engine

K_CODE = {"key": {"_sys.tenant": 1, "_sys.k.code": 1}, "name": "k_code"}
S_NAME = {"key": {"_sys.tenant": 1, "_sys.s.name": 1, "_id": 1}, "name": "s_name"}


def run(engine: Engine, cmd: dict[str, Any]) -> dict[str, Any]:
    reply = engine.run("d", cmd)
    assert reply["ok"] == 1.0, reply
    assert "writeErrors" not in reply, reply
    return reply


def ids(engine: Engine, filt: dict[str, Any], sort: dict[str, int] | None = None, limit: int = 0) -> list[str]:
    cmd: dict[str, Any] = {"find": "c", "filter": filt, **({"sort": sort} if sort else {}),
                           **({"limit": limit} if limit else {})}
    return [bson.decode(raw.raw)["_id"] for raw in run(engine, cmd)["cursor"]["firstBatch"]]


def doc(i: int, codes: list[str], name: str = "n", tenant: str = "t") -> dict[str, Any]:
    return {"_id": f"{tenant}/{i:03d}", "_sys": {"tenant": tenant, "k": {"code": codes}, "s": {"name": name}}}


def explain(engine: Engine, filt: dict[str, Any], sort: dict[str, int] | None = None, limit: int = 0) -> Any:
    return query.explain(engine.context.coll("d", "c"), filt, sort, limit)


def held(engine: Engine, name: str, key: str) -> set[Any]:
    """What index ``name`` holds for the document under ``key`` (the value of its second field)."""
    ix = index.indexes_of(engine.context.coll("d", "c")._store).by_name[name]
    return {entry[3] for entry in ix.held(key)}


@pytest.fixture
def engine() -> Engine:
    engine = Engine()
    run(engine, {"createIndexes": "c", "indexes": [K_CODE, S_NAME]})
    run(engine, {"insert": "c", "documents": [doc(i, ["a", "b"] if i % 2 else ["c"], f"n{i % 10}")
                                              for i in range(100)]})
    return engine


def test_equality_is_answered_by_the_index(engine: Engine) -> None:
    filt = {"_sys.tenant": "t", "_sys.k.code": "a"}
    assert explain(engine, filt) == {"stage": "IXSCAN", "indexName": "k_code", "order": "none", "ranges": 1,
                                     "candidates": 50}
    assert len(ids(engine, filt)) == 50
    assert explain(engine, {"_sys.k.code": "a"}) == {"stage": "COLLSCAN"}  # no index starts with the key


def test_an_update_refiles_the_document(engine: Engine) -> None:
    run(engine, {"update": "c", "updates": [{"q": {"_id": "t/001"}, "u": {"$set": {"_sys.k.code": ["z"]}}}]})
    assert held(engine, "k_code", "t/001") == {"z"}
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "z"}) == ["t/001"]
    assert "t/001" not in ids(engine, {"_sys.tenant": "t", "_sys.k.code": "a"})
    # a replacement and a multi-update re-file too
    run(engine, {"update": "c", "updates": [{"q": {"_id": "t/001"}, "u": doc(1, ["y"])}]})
    run(engine, {"update": "c", "updates": [{"q": {"_sys.tenant": "t", "_sys.k.code": "c"},
                                             "u": {"$push": {"_sys.k.code": "w"}}, "multi": True}]})
    assert held(engine, "k_code", "t/001") == {"y"}
    assert held(engine, "k_code", "t/000") == {"c", "w"}
    assert len(ids(engine, {"_sys.tenant": "t", "_sys.k.code": "w"})) == 50


def test_a_delete_takes_the_document_out(engine: Engine) -> None:
    run(engine, {"delete": "c", "deletes": [{"q": {"_sys.tenant": "t", "_sys.k.code": "a"}, "limit": 0}]})
    assert explain(engine, {"_sys.tenant": "t", "_sys.k.code": "a"})["candidates"] == 0
    assert held(engine, "k_code", "t/001") == set()
    assert len(ids(engine, {"_sys.tenant": "t", "_sys.k.code": "c"})) == 50


def test_find_and_modify_keeps_the_index(engine: Engine) -> None:
    run(engine, {"findAndModify": "c", "query": {"_sys.tenant": "t", "_sys.k.code": "c"}, "sort": {"_id": -1},
                 "update": {"$set": {"_sys.k.code": ["q"]}}})
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "q"}) == ["t/098"]
    run(engine, {"findAndModify": "c", "query": {"_sys.tenant": "t", "_sys.k.code": "q"}, "remove": True})
    assert explain(engine, {"_sys.tenant": "t", "_sys.k.code": "q"})["candidates"] == 0
    run(engine, {"findAndModify": "c", "query": {"_id": "t/500"}, "update": {"$set": {"_sys.tenant": "t",
                                                                                      "_sys.k.code": ["new"]}},
                 "upsert": True})
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "new"}) == ["t/500"]


def test_a_refused_update_leaves_the_index_as_it_was(engine: Engine) -> None:
    run(engine, {"createIndexes": "c", "indexes": [{"key": {"u": 1}, "name": "u", "unique": True, "sparse": True}]})
    run(engine, {"update": "c", "updates": [{"q": {"_id": "t/002"}, "u": {"$set": {"u": 1}}}]})
    reply = engine.run("d", {"update": "c", "updates": [{"q": {"_id": "t/003"},
                                                        "u": {"$set": {"u": 1, "_sys.k.code": ["x"]}}}]})
    assert reply["writeErrors"][0]["code"] == 11000
    assert held(engine, "k_code", "t/003") == {"a", "b"}
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "x"}) == []


def test_indexes_created_late_dropped_or_with_their_collection(engine: Engine) -> None:
    run(engine, {"createIndexes": "c", "indexes": [{"key": {"_sys.s.name": 1}, "name": "name_only"}]})
    assert explain(engine, {"_sys.s.name": "n3"}) | {"candidates": 0} == {
        "stage": "IXSCAN", "indexName": "name_only", "order": "none", "ranges": 1, "candidates": 0}
    assert len(ids(engine, {"_sys.s.name": "n3"})) == 10
    run(engine, {"dropIndexes": "c", "index": "name_only"})
    assert explain(engine, {"_sys.s.name": "n3"}) == {"stage": "COLLSCAN"}
    run(engine, {"drop": "c"})
    run(engine, {"createIndexes": "c", "indexes": [K_CODE]})
    run(engine, {"insert": "c", "documents": [doc(1, ["a"]), doc(2, ["b"])]})
    assert explain(engine, {"_sys.tenant": "t", "_sys.k.code": "a"})["candidates"] == 1


def test_a_keyset_page_examines_what_it_returns(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    run(engine, {"insert": "c", "documents": [doc(i, ["a"], f"m{i:04d}") for i in range(100, 5000)]})
    # A document examined is a document decoded (query.py reads candidates as bytes, decodes each it filters).
    # Counted on this thread only: the query code is shared by every engine of the process, and the session's
    # devdb (tests/conftest.py) serves other tests' apps from a thread of its own meanwhile — their background
    # workers' queries (job claims, TTL sweeps, the webhook scan) would count too.
    examined = [0]
    decode, here = query.decode, threading.get_ident()

    def counting(raw: bytes) -> Any:
        if threading.get_ident() == here:
            examined[0] += 1
        return decode(raw)

    monkeypatch.setattr(query, "decode", counting)
    base = {"_sys.tenant": "t", "_sys.k.code": "a"}
    after = {"$or": [{"_sys.s.name": {"$gt": "m2000"}}, {"_sys.s.name": "m2000", "_id": {"$gt": "t/2000"}}]}
    sort = {"_sys.s.name": 1, "_id": 1}
    page = ids(engine, {"$and": [base, after]}, sort, 51)
    assert page == [f"t/{i}" for i in range(2001, 2052)]
    assert explain(engine, {"$and": [base, after]}, sort, 51)["order"] == "index"
    assert 51 <= examined[0] <= 51 + 2  # the walk started at the cursor and stopped at the limit
    examined[0] = 0
    assert ids(engine, base, {"_id": 1}, 51) == [f"t/{i:03d}" for i in range(1, 100, 2)] + ["t/100"]
    assert examined[0] == 0  # the walk's ranges settle the whole filter (planner.walk_settled): none decoded


def test_the_explain_command_names_the_index(engine: Engine) -> None:
    def winning(inner: dict[str, Any]) -> Any:
        return run(engine, {"explain": inner, "verbosity": "queryPlanner"})["queryPlanner"]["winningPlan"]

    page = {"find": "c", "filter": {"_sys.tenant": "t", "_sys.k.code": {"$in": ["a", "zz"]}}, "sort": {"_id": 1},
            "limit": 10}
    assert winning(page) | {"candidates": 0} == {"stage": "IXSCAN", "indexName": "k_code", "order": "index",
                                                 "ranges": 2, "candidates": 0}
    assert winning({"count": "c", "query": {"_sys.tenant": "t", "_sys.s.name": "n1"}})["indexName"] == "s_name"
    assert winning({"find": "c", "filter": {"_id": "t/001"}}) == {"stage": "IDHACK", "indexName": "_id_"}
    assert winning({"aggregate": "c", "pipeline": [{"$match": {"other": 1}}], "cursor": {}}) == {"stage": "COLLSCAN"}
    assert engine.run("d", {"explain": {"insert": "c"}})["code"] == 59


def _pending(engine: Engine) -> bool:
    """Whether the collection's indexes still have writes to file (or were never built)."""
    state = engine.context.coll("d", "c")._store.__dict__.get("_devdb_indexes")
    return state is None or bool(state.documents.changes) or len(state.by_name) < 3


def test_build_indexes_files_a_bulk_load_before_the_first_query() -> None:
    # the demo loader and a recovery send it: the first request then finds the indexes ready
    engine = Engine()
    run(engine, {"createIndexes": "c", "indexes": [K_CODE, S_NAME]})
    run(engine, {"insert": "c", "documents": [doc(i, ["a"]) for i in range(50)]})
    assert _pending(engine)  # writes are filed by the next query, not as they come
    reply = run(engine, {"fhirgraphBuildIndexes": 1})
    assert reply["collections"] == 1 and reply["seconds"] >= 0
    assert not _pending(engine)
    assert len(ids(engine, {"_sys.tenant": "t", "_sys.k.code": "a"})) == 50


def _backlog(engine: Engine) -> int:
    """How many written documents the collection's indexes have yet to file."""
    return len(engine.context.coll("d", "c")._store.__dict__["_devdb_indexes"].documents.changes or {})


def test_idle_filing_files_a_backlog_a_slice_at_a_time(engine: Engine) -> None:
    # the audit trail is written far more often than it is queried: devdb files its backlog when idle, in
    # slices, so that the next query has little left to file — and what each slice leaves stays correct
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "c"})  # the indexes built, the backlog empty
    run(engine, {"insert": "c", "documents": [doc(i, ["d"]) for i in range(100, 150)]})
    assert engine.file_idle(quiet=3) == 0  # more commands than that ran since the engine started: not idle
    assert engine.file_idle(quiet=3, calls=2) == 0  # none since: quiet, but not for two calls in a row
    run(engine, {"ping": 1})
    assert engine.file_idle(quiet=0, calls=1) == 0  # one ran since the last look
    assert _backlog(engine) == 50
    assert engine.file_idle(most=7, quiet=10**9, calls=0) == 7
    assert _backlog(engine) == 43
    # writes between slices: of a document filed already, of one still waiting, a delete of each
    run(engine, {"update": "c", "updates": [{"q": {"_id": "t/100"}, "u": {"$set": {"_sys.k.code": ["e"]}}},
                                            {"q": {"_id": "t/140"}, "u": {"$set": {"_sys.k.code": ["e"]}}}]})
    run(engine, {"delete": "c", "deletes": [{"q": {"_id": "t/101"}, "limit": 1}, {"q": {"_id": "t/141"}, "limit": 1}]})
    while engine.file_idle(most=7, quiet=10**9, calls=0):
        pass
    assert _backlog(engine) == 0
    assert held(engine, "k_code", "t/100") == held(engine, "k_code", "t/140") == {"e"}
    assert held(engine, "k_code", "t/101") == held(engine, "k_code", "t/141") == set()
    expected = [f"t/{i}" for i in range(102, 150) if i not in (140, 141)]
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "d"}) == expected
    assert explain(engine, {"_sys.tenant": "t", "_sys.k.code": "d"})["candidates"] == len(expected)
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "e"}) == ["t/100", "t/140"]


def test_idle_filing_builds_the_indexes_of_a_collection_never_queried_a_slice_at_a_time() -> None:
    engine = Engine()
    run(engine, {"createIndexes": "c", "indexes": [K_CODE, S_NAME]})
    run(engine, {"insert": "c", "documents": [doc(i, ["a"] if i % 3 else ["b"]) for i in range(25)]})
    assert engine.file_idle(most=10, quiet=10**9, calls=0) == 10
    assert _backlog(engine) == 15
    run(engine, {"insert": "c", "documents": [doc(i, ["b"]) for i in range(25, 30)]})
    run(engine, {"delete": "c", "deletes": [{"q": {"_id": "t/001"}, "limit": 1}, {"q": {"_id": "t/024"}, "limit": 1}]})
    # 15 left, 5 inserted, t/001 deleted after it was filed (t/024 before: already waiting)
    assert [engine.file_idle(most=10, quiet=10**9, calls=0) for _ in range(4)] == [10, 10, 1, 0]
    assert not _pending(engine)
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "a"}) == [
        f"t/{i:03d}" for i in range(25) if i % 3 and i not in (1, 24)]
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "b"}) == [
        f"t/{i:03d}" for i in range(30) if (i >= 25 or not i % 3) and i not in (1, 24)]
    assert explain(engine, {"_sys.tenant": "t", "_sys.k.code": "b"})["candidates"] == 13


def test_documents_filed_in_several_batches_are_all_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "FILED_TOGETHER", 3)  # a bulk load's entries go in 3 documents at a time
    engine = Engine()
    run(engine, {"createIndexes": "c", "indexes": [K_CODE, S_NAME]})
    run(engine, {"insert": "c", "documents": [doc(i, ["a", "b"] if i % 2 else ["c"], f"n{i % 4}") for i in range(40)]})
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "a"}) == [f"t/{i:03d}" for i in range(1, 40, 2)]
    run(engine, {"update": "c", "updates": [{"q": {"_sys.tenant": "t", "_sys.k.code": "c"},
                                             "u": {"$set": {"_sys.s.name": "z"}}, "multi": True}]})
    assert ids(engine, {"_sys.tenant": "t", "_sys.s.name": "z"}, sort={"_sys.s.name": 1, "_id": 1}) == [
        f"t/{i:03d}" for i in range(0, 40, 2)]
    assert explain(engine, {"_sys.tenant": "t", "_sys.k.code": "b"})["candidates"] == 20
    assert held(engine, "s_name", "t/002") == {"z"}


def test_idle_filing_looks_only_at_collections_written_since_and_forgets_them_once_filed() -> None:
    engine = Engine()
    run(engine, {"createIndexes": "c", "indexes": [K_CODE]})
    run(engine, {"insert": "c", "documents": [doc(i, ["a"]) for i in range(3)]})
    run(engine, {"insert": "gone", "documents": [{"_id": 1}]})
    run(engine, {"drop": "gone"})
    assert list(engine.unfiled) == [("d", "c"), ("d", "gone")]
    assert engine.file_idle(quiet=10**9, calls=0) == 3
    assert engine.file_idle(quiet=10**9, calls=0) == 0  # the dropped one: nothing there to file
    assert engine.unfiled == {}
    assert ids(engine, {"_sys.tenant": "t", "_sys.k.code": "a"}) == ["t/000", "t/001", "t/002"]
