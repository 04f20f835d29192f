"""The index path against the plain scan: thousands of generated store-like queries over generated documents
(arrays, nulls, missing fields, mixed types), with writes in between, must return what a scan returns."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from typing import Any

import bson
import pytest
from mongomock import filtering

from store.devdb import index, planner, query
from store.devdb.engine import Engine

TENANTS = ("t1", "t2", "t3")
CODES = ("a", "b", "c", "sys|a", "sys|b", "|c", "d")
WORDS = ("smith", "smythe", "jones", "jo", "renée", "zed", "", "smith jr")
INDEXES = [
    {"key": {"_sys.tenant": 1, "_sys.lu": -1}, "name": "tenant_lu"},
    {"key": {"_sys.tenant": 1, "_sys.deleted": 1}, "name": "tenant_live"},
    {"key": {"_sys.tenant": 1, "_sys.deleted": 1, "_id": 1}, "name": "tenant_live_id"},
    {"key": {"_sys.tenant": 1, "_sys.k.code": 1}, "name": "k_code"},
    {"key": {"_sys.tenant": 1, "_sys.k.name": 1}, "name": "k_name"},
    {"key": {"_sys.tenant": 1, "_sys.k.date.lo": 1}, "name": "k_date"},
    {"key": {"_sys.tenant": 1, "_sys.k.num": 1}, "name": "k_num"},
    {"key": {"_sys.tenant": 1, "_sys.s.name": 1, "_id": 1}, "name": "s_name"},
    {"key": {"_sys.tenant": 1, "x": 1}, "name": "tenant_x"},
    {"key": {"x": 1}, "name": "x"},
    {"key": {"tenant": 1, "seq": 1}, "name": "tenant_seq", "unique": True},
]


def mixed(rng: random.Random) -> Any:
    """A value of any kind the store or a client might leave at a path."""
    return rng.choice([
        lambda: rng.choice(WORDS), lambda: rng.randint(-3, 3), lambda: rng.choice([1.0, 2.5, -0.5]),
        lambda: rng.choice([True, False]), lambda: None, lambda: [rng.choice(WORDS), rng.randint(0, 3)],
        lambda: {"a": 1}, lambda: dt.datetime(2020, 1, rng.randint(1, 28)), lambda: [[1, 2]], lambda: [],
        lambda: bson.ObjectId(), lambda: [None, "jo"],
    ])()  # (no NaN: mongomock sorts it inconsistently, so the order of a sort by it depends on the input's)


def date(rng: random.Random) -> str:
    return f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T00:00:00.000000"


def document(rng: random.Random, n: int) -> dict[str, Any]:
    tenant = rng.choice(TENANTS)
    k: dict[str, Any] = {}
    if rng.random() < 0.8:
        k["code"] = rng.sample(CODES, rng.randint(0, 3))
    if rng.random() < 0.8:
        k["name"] = rng.sample(WORDS, rng.randint(1, 2))
    if rng.random() < 0.7:
        k["date"] = [{"lo": (lo := date(rng)), "hi": max(lo, date(rng))} for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.7:
        k["num"] = [float(rng.randint(0, 9)) for _ in range(rng.randint(1, 2))] + ([math.nan] * (rng.random() < 0.1))
    if rng.random() < 0.05:
        k["code"] = rng.choice(["a", 5, [["a"]], None])  # not the shape the store writes, but stored all the same
    doc: dict[str, Any] = {
        "_id": f"{tenant}/{n:05d}",
        "_sys": {"tenant": tenant, "deleted": rng.random() < 0.1, "lu": date(rng), "k": k,
                 "s": {"name": rng.choice(WORDS)} if rng.random() < 0.95 else {}},
        "tenant": tenant, "seq": n,
    }
    if rng.random() < 0.7:
        doc["x"] = mixed(rng)
    return doc


def clause(rng: random.Random) -> dict[str, Any]:
    """One conjunct, in the shapes store/search.py, store/queries.py and store/outbox.py send (and a few more)."""
    kind = rng.randrange(14)
    if kind == 0:
        return {"_sys.k.code": rng.choice(CODES)}
    if kind == 1:
        return {"_sys.k.code": {"$in": rng.sample(CODES, rng.randint(1, 3))}}
    if kind == 2:
        return {"$or": [{"_sys.k.code": c} for c in rng.sample(CODES, 2)]}
    if kind == 3:
        return {"_sys.k.name": {"$regex": "^" + rng.choice(["smi", "jo", "ren", "z", "", "smith\\ j", "sm.th"])}}
    if kind == 4:
        op = rng.choice(["$gt", "$gte", "$lt", "$lte"])
        return {"_sys.k.date": {"$elemMatch": {"lo": {op: date(rng)}} | (
            {"hi": {"$lte": date(rng)}} if rng.random() < 0.5 else {})}}
    if kind == 5:
        bounds = dict(rng.sample([("$gt", rng.randint(0, 9)), ("$gte", 2.5), ("$lt", rng.randint(0, 9)),
                                  ("$lte", 7)], rng.randint(1, 2)))
        return {"_sys.k.num": bounds}
    if kind == 6:
        return {"_sys.k.num": rng.choice([3, 3.0, 7.5, True])}
    if kind == 7:
        return {"x": mixed(rng) if rng.random() < 0.5 else {"$in": [rng.choice(WORDS), rng.randint(-3, 3)]}}
    if kind == 8:
        return {"x": {rng.choice(["$gt", "$gte", "$lt", "$lte"]): rng.choice([0, "m", 1.5, dt.datetime(2020, 1, 9)])}}
    if kind == 9:
        return {"_sys.s.name": {rng.choice(["$gt", "$lt"]): rng.choice(WORDS)}}
    if kind == 10:
        return {"_sys.lu": {"$gte": date(rng)}}
    if kind == 11:
        return {"_sys.k.code": {"$exists": rng.random() < 0.5}}
    if kind == 12:
        return {"seq": {"$gt": rng.randint(0, 400)}}
    return {"_sys.k.code": {"$ne": rng.choice(CODES)}}


def keyset(rng: random.Random, sort: list[tuple[str, int]], docs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """store/search.py's keyset_filter after a random stored row."""
    if not docs:
        return None
    row = rng.choice(docs)
    ors: list[dict[str, Any]] = []
    for i, (path, direction) in enumerate(sort):
        value = filtering.resolve_key(path, row)
        if not isinstance(value, str):
            return None
        earlier = {sort[j][0]: filtering.resolve_key(sort[j][0], row) for j in range(i)}
        ors.append({**earlier, path: {"$gt" if direction == 1 else "$lt": value}})
    return ors[0] if len(ors) == 1 else {"$or": ors}


SORTS: list[list[tuple[str, int]] | None] = [
    None, [("_id", 1)], [("_id", -1)], [("_sys.s.name", 1), ("_id", 1)], [("_sys.s.name", -1), ("_id", -1)],
    [("_sys.lu", -1), ("_id", -1)], [("x", 1), ("_id", 1)], [("seq", 1)], [("_sys.s.name", 1), ("_id", -1)],
    [("_sys.s.name", 1), ("x", -1), ("_id", 1)], [("_sys.lu", -1), ("_sys.s.name", -1), ("_id", -1)],
    [("tenant", 1), ("seq", -1)],
]


def generated_query(rng: random.Random, docs: list[dict[str, Any]]) -> tuple[dict[str, Any], Any, int]:
    sort = rng.choice(SORTS)
    parts: list[dict[str, Any]] = []
    if rng.random() < 0.08:  # reads by id, as read_many's: _id pinned, equalities beside it (and other clauses)
        pool = [d["_id"] for d in docs] + ["t1/99999"]
        pin = rng.choice([{"$in": rng.sample(pool, rng.randint(1, 8))}, rng.choice(pool), {"$eq": rng.choice(pool)}])
        beside = rng.sample([{"_sys.deleted": rng.choice([False, True])}, {"x": rng.choice([*WORDS, True, False])},
                             {"$or": [{"_sys.k.code": c} for c in rng.sample(CODES, 2)]},
                             {"_sys.tenant": rng.choice(TENANTS)}, clause(rng)], rng.randint(1, 3))
        if rng.random() < 0.5:
            return {"$and": [{"_id": pin}, *beside]}, sort, rng.choice([0, 1, 5])
        return {"_id": pin, **{k: v for part in beside for k, v in part.items()}}, sort, rng.choice([0, 1, 5])
    if rng.random() < 0.12:  # equalities alone, as the store's counts of a tenant's resources (and mixed values)
        x = rng.choice([mixed(rng), {"$in": [rng.choice(WORDS), rng.choice([True, 1, "jo"])]}, {"$eq": "zed"}])
        parts = [{"_sys.tenant": rng.choice(TENANTS)}, {"x": x}]
        if rng.random() < 0.5:  # and a negated token, as a ``:not`` search (patients not archived)
            parts.append({rng.choice(["_sys.k.code", "x"]): {"$ne": rng.choice(CODES + WORDS)}})
        return {"$and": parts}, sort, 0
    if rng.random() < 0.85:
        parts.append({"_sys.tenant": rng.choice(TENANTS), "_sys.deleted": False} if rng.random() < 0.8
                     else {"tenant": rng.choice(TENANTS)})
    parts += [clause(rng) for _ in range(rng.randint(0, 2))]
    if sort and sort[-1][0] == "_id" and rng.random() < 0.4:
        after = keyset(rng, sort, docs)
        if after is not None:
            parts.append(after)
    filt = {} if not parts else parts[0] if len(parts) == 1 else {"$and": parts}
    limit = rng.choice([0, 1, 2, 5, 21, 51])
    return filt, sort, limit


def scan(docs: list[dict[str, Any]], filt: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in docs if filtering.filter_applies(filt, d)]


def ids(found: list[dict[str, Any]], sort: Any, limit: int) -> list[Any]:
    return [d["_id"] for d in query.sort_documents(list(found), dict(sort) if sort else None)[: limit or None]]


def found_by_engine(engine: Engine, filt: dict[str, Any], sort: Any, limit: int) -> list[Any]:
    cmd: dict[str, Any] = {"find": "c", "filter": filt, "batchSize": 10_000}
    if sort:
        cmd["sort"] = dict(sort)
    if limit:
        cmd["limit"] = limit
    reply = engine.run("d", cmd)
    assert reply["ok"] == 1.0, reply
    return [bson.decode(raw.raw)["_id"] for raw in reply["cursor"]["firstBatch"]]


def write(engine: Engine, rng: random.Random, n: int) -> None:
    """A random write, as the store would send it: changes search keys, sort keys, tenants; deletes; inserts."""
    target = {"_id": f"{rng.choice(TENANTS)}/{rng.randrange(n):05d}"}
    kind = rng.randrange(5)
    if kind == 0:
        cmd: dict[str, Any] = {"update": "c", "updates": [{"q": target, "u": {"$set": {
            "_sys.k.code": rng.sample(CODES, rng.randint(0, 3)), "_sys.s.name": rng.choice(WORDS)}}}]}
    elif kind == 1:
        cmd = {"update": "c", "updates": [{"q": {"_sys.tenant": rng.choice(TENANTS), "_sys.k.code": rng.choice(CODES)},
                                           "u": {"$set": {"x": mixed(rng), "_sys.lu": date(rng)}}, "multi": True}]}
    elif kind == 2:
        cmd = {"delete": "c", "deletes": [{"q": {"_sys.tenant": rng.choice(TENANTS), "x": rng.choice(WORDS)},
                                           "limit": 1}]}
    elif kind == 3:
        cmd = {"findAndModify": "c", "query": {"_sys.tenant": rng.choice(TENANTS)}, "sort": {"_sys.lu": -1, "_id": -1},
               "update": {"$set": {"_sys.deleted": rng.random() < 0.5, "_sys.k.num": [float(rng.randint(0, 9))]}}}
    else:  # a replacement (or an upsert) of that very _id, as the store's versioned writes send
        replacement = document(rng, int(target["_id"][3:]))
        replacement.pop("_id")
        cmd = {"update": "c", "updates": [{"q": target, "u": replacement, "upsert": True}]}
    assert engine.run("d", cmd)["ok"] == 1.0


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_queries_find_what_a_scan_finds(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    engine = Engine()
    n = 400
    assert engine.run("d", {"createIndexes": "c", "indexes": INDEXES})["ok"] == 1.0
    assert engine.run("d", {"insert": "c", "documents": [document(rng, i) for i in range(n)]})["ok"] == 1.0
    coll = engine.context.coll("d", "c")
    stages: Counter[str] = Counter()
    from_index = by_negation = 0  # counts answered from the index alone, or so less a negated equality
    settled = 0  # pages taken from a walk's entries with no document tested (planner.walk_settled)
    residues = 0  # walks whose documents had only equalities left, tested on their bytes (planner.walk_residue)
    either = 0  # ... one of them an $or of equalities (a token search of several codes)
    refused = 0  # index walks refused before the whole check (planner._walks_none)
    remembered = 0  # finds answered with a plan remembered (query.planned)
    by_key = 0  # reads by _id whose other clauses were tested on the documents' bytes (planner.id_residue)
    in_groups = 0  # walks in groups whose candidates were tested on their bytes
    by_bytes: Counter[bool] = Counter()  # walks in groups sorted on their bytes (True), or decoded (False)
    sorted_by_bytes = query._sorted_by_bytes

    def counted_sort(rows: list[Any], spec: list[tuple[str, int]]) -> Any:
        found = sorted_by_bytes(rows, spec)
        by_bytes[found is not None] += 1
        return found

    monkeypatch.setattr(query, "_sorted_by_bytes", counted_sort)
    one_range = 0  # walks of one range, read off its entries (planner._walked)
    candidates = planner.candidates

    def checked_candidates(p: planner.Plan, fetch: Any) -> Any:  # each as grouped's documents of the plan
        nonlocal one_range
        found = list(candidates(p, fetch))
        assert found == [raw for _, raw in planner.grouped(p, fetch)]
        one_range += p.walk and len(p.accesses[0].ranges) == 1
        return iter(found)

    monkeypatch.setattr(planner, "candidates", checked_candidates)
    last: tuple[dict[str, Any], Any, int] | None = None
    for round_ in range(1500):
        if round_ % 10 == 0:
            write(engine, rng, n)
            if last is not None:  # the query before the write again: its remembered plan must not outlive it
                docs = list(coll._store._documents.values())
                assert found_by_engine(engine, *last) == found_by_engine(engine, *last)
                if last[1] is not None:
                    assert found_by_engine(engine, *last) == ids(scan(docs, last[0]), *last[1:]), last
        docs = list(coll._store._documents.values())
        filt, sort, limit = generated_query(rng, docs)
        last = filt, sort, limit
        matches = scan(docs, filt)
        expected = ids(matches, sort, limit)
        got = found_by_engine(engine, filt, sort, limit)
        # The same find again (its plan remembered) and with no plan remembered: the same answer, the same plan.
        indexes = index.indexes_of(coll._store)
        held = dict(indexes.plans)
        assert found_by_engine(engine, filt, sort, limit) == got
        remembered += len(indexes.plans) == len(held) > 0
        with monkeypatch.context() as m:
            m.setattr(index, "MAX_PLANS", 0)
            indexes.plans.clear()
            assert found_by_engine(engine, filt, sort, limit) == got
            spec = list(sort or [])
            fresh = query.planned(indexes, filt, spec, limit, len(docs))
            assert not indexes.plans
        indexes.plans.update(held)
        assert query.planned(indexes, filt, spec, limit, len(docs)) == fresh
        if query.id_lookup(filt) is None:  # (a read by _id is planned by no one: nothing remembered)
            assert len(indexes.plans) == len(held), (filt, sort, limit)  # (that was the remembered plan)
        else:
            indexes.plans.clear()
            indexes.plans.update(held)
        plan = query.explain(coll, filt, dict(sort) if sort else None, limit)
        stages[f"{plan['stage']}/{plan.get('order', '')}"] += 1
        context = f"filter={filt} sort={sort} limit={limit} plan={plan}"
        if sort is None and limit:  # any `limit` of the matches (MongoDB: unspecified which)
            assert len(got) == min(limit, len(matches)) and set(got) <= {d["_id"] for d in matches}, context
        elif sort is None:
            assert sorted(got) == sorted(expected), context
        else:
            assert got == expected, context
        indexes = index.indexes_of(coll._store)
        if sort:  # the planner's quick refusal of an index's walk is what the whole check would find
            con = planner.conjunction(filt)
            for ix in indexes.by_name.values():
                pinned_at = planner._depth(ix, con)[0]
                if not ix.odd and planner._walks_none(ix.fields, pinned_at, sort):
                    refused += 1
                    assert planner._walk_at(ix, con, sort, limit, pinned_at) is None, (ix.name, context)
        walked = planner.plan(indexes, filt, sort, limit, len(docs)) if sort else None
        settled += walked is not None and walked.order == "index" and planner.walk_settled(walked, filt)
        residue = planner.walk_residue(walked, filt) if walked is not None and walked.order == "index" else None
        residues += residue is not None
        by_key += planner.id_residue(filt) is not None
        in_groups += walked is not None and walked.order == "groups" and planner.walk_residue(walked, filt) is not None
        either += residue is not None and any(len(alternatives) > 1 for alternatives in residue)
        from_index += planner.counted(indexes, filt) is not None
        split = planner.negation(filt)
        by_negation += split is not None and planner.counted(indexes, split[0]) is not None
        count = engine.run("d", {"count": "c", "query": filt})
        assert count["n"] == len(matches), context
        pipeline = [{"$match": filt}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]  # count_documents
        counted = engine.run("d", {"aggregate": "c", "pipeline": pipeline, "cursor": {}})["cursor"]["firstBatch"]
        assert [bson.decode(r.raw) for r in counted] == ([{"_id": 1, "n": len(matches)}] if matches else []), context
    # The index path really answered most of them, walks included (else this test proves nothing).
    assert stages["IXSCAN/index"] > 200 and stages["IXSCAN/sort"] + stages["IXSCAN/none"] > 300, stages
    assert stages["IXSCAN/groups"] > 30, stages
    assert from_index > 100 and by_negation > 10, (from_index, by_negation)
    assert settled > 20 and residues > 10 and either > 3, (settled, residues, either)
    assert by_key > 20, by_key
    assert in_groups > 10 and by_bytes[True] > 20 and by_bytes[False] > 5, (in_groups, by_bytes)
    assert refused > 1000, refused
    assert remembered > 1000, remembered
    assert one_range > 200, one_range


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_of_a_negated_token_match_a_scan(seed: int) -> None:
    """The store's count of a tenant's patients not archived: from tenant_live, less the intersection of its keys
    with those of the status index (arrays of statuses included), through writes that change both."""
    rng = random.Random(seed)
    engine = Engine()
    indexes = [{"key": {"_sys.tenant": 1, "_sys.deleted": 1}, "name": "tenant_live"},
               {"key": {"_sys.tenant": 1, "_sys.k.status": 1}, "name": "k_status"}]
    assert engine.run("d", {"createIndexes": "c", "indexes": indexes})["ok"] == 1.0
    statuses = ("active", "archived", "inactive", "sys|archived")

    def doc(n: int) -> dict[str, Any]:
        k = {"status": rng.sample(statuses, rng.randint(0, 2))} if rng.random() < 0.9 else {}
        return {"_id": f"{n:04d}", "_sys": {"tenant": rng.choice(TENANTS), "deleted": rng.random() < 0.2, "k": k}}

    assert engine.run("d", {"insert": "c", "documents": [doc(i) for i in range(300)]})["ok"] == 1.0
    coll = engine.context.coll("d", "c")
    for round_ in range(60):
        target = f"{rng.randrange(300):04d}"
        replacement = doc(int(target))
        replacement.pop("_id")
        assert engine.run("d", {"update": "c", "updates": [{"q": {"_id": target}, "u": replacement}]})["ok"] == 1.0
        filt = {"$and": [{"_sys.tenant": rng.choice(TENANTS), "_sys.deleted": False},
                         {"_sys.k.status": {"$ne": rng.choice(statuses)}}]}
        split = planner.negation(filt)
        assert split is not None
        assert planner.both(index.indexes_of(coll._store), *split) is not None  # the path under test
        docs = list(coll._store._documents.values())
        assert engine.run("d", {"count": "c", "query": filt})["n"] == len(scan(docs, filt)), (round_, filt)
        live = filt["$and"][0]
        assert engine.run("d", {"count": "c", "query": live})["n"] == len(scan(docs, live))
        plan = engine.run("d", {"explain": {"count": "c", "query": live}})["queryPlanner"]["winningPlan"]
        assert plan == {"stage": "COUNT_SCAN", "indexName": "tenant_live"}
