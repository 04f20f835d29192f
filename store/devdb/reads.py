"""The read commands: find and its cursor (getMore, killCursors), aggregate, count, distinct."""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from typing import Any

from mongomock import aggregate as mm_aggregate

from store.devdb import index, planner
from store.devdb.codec import Doc
from store.devdb.context import Context
from store.devdb.cursor import Cursor
from store.devdb.errors import CommandError, reject
from store.devdb.query import count as count_matching
from store.devdb.query import explain as explain_query
from store.devdb.query import matching, rows


def find(ctx: Context, db: str, cmd: Doc) -> Doc:
    reject(cmd, "collation", "tailable", "awaitData")
    coll = ctx.coll(db, cmd["find"])
    skip, limit = cmd.get("skip") or 0, abs(cmd.get("limit") or 0)
    found = matching(coll, cmd.get("filter") or {}, cmd.get("sort"), skip + limit if limit else 0)[skip:]
    single = bool(cmd.get("singleBatch")) or (cmd.get("limit") or 0) < 0
    cursor = Cursor(coll.full_name, [raw for raw, _ in found], coll, cmd.get("projection") or None)
    return ctx.cursors.reply(cursor, cmd.get("batchSize"), single)


def get_more(ctx: Context, db: str, cmd: Doc) -> Doc:
    ns = f"{db}.{cmd.get('collection')}"
    return ctx.cursors.get_more(ns, int(cmd["getMore"]), cmd.get("batchSize") or 0)


def kill_cursors(ctx: Context, db: str, cmd: Doc) -> Doc:
    return ctx.cursors.kill([int(i) for i in cmd.get("cursors") or []])


def aggregate(ctx: Context, db: str, cmd: Doc) -> Doc:
    if not isinstance(cmd["aggregate"], str):
        raise NotImplementedError("database-level aggregate")
    coll = ctx.coll(db, cmd["aggregate"])
    pipeline = list(cmd.get("pipeline") or [])
    match = pipeline.pop(0)["$match"] if pipeline and list(pipeline[0]) == ["$match"] else {}
    counted = _counting(pipeline)
    if counted is not None:  # count_documents: nothing to group
        key, fields = counted
        n = count_matching(coll, match)
        result = [{"_id": key, **dict.fromkeys(fields, n)}] if n else []
        return ctx.cursors.reply(Cursor(coll.full_name, result), (cmd.get("cursor") or {}).get("batchSize"))
    docs = [doc for _, doc in rows(coll, match)]  # each decoded afresh: the stages may change them
    result = list(mm_aggregate.process_pipeline(docs, coll.database, pipeline, None))
    batch_size = (cmd.get("cursor") or {}).get("batchSize")
    return ctx.cursors.reply(Cursor(coll.full_name, result), batch_size)


def _counting(pipeline: list[Doc]) -> tuple[Any, list[str]] | None:
    """(the group's constant ``_id``, its fields) when ``pipeline`` only counts its input (count_documents'
    ``$group`` of ``{$sum: 1}`` by a constant), else None."""
    if len(pipeline) != 1 or list(pipeline[0]) != ["$group"] or not isinstance(pipeline[0]["$group"], dict):
        return None
    group = pipeline[0]["$group"]
    key = group.get("_id")
    if isinstance(key, (dict, list)) or (isinstance(key, str) and key.startswith("$")):
        return None
    fields = {k: v for k, v in group.items() if k != "_id"}
    if not fields or any(v != {"$sum": 1} for v in fields.values()):
        return None
    return key, list(fields)


def count(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["count"])
    n = count_matching(coll, cmd.get("query") or {})
    n = max(0, n - (cmd.get("skip") or 0))
    limit = abs(cmd.get("limit") or 0)
    return {"n": min(n, limit) if limit else n}


def distinct(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["distinct"])
    return {"values": coll.find(cmd.get("query") or {}).distinct(cmd["key"])}


def explain(ctx: Context, db: str, cmd: Doc) -> Doc:
    """Which access path answers a find, count, findAndModify or aggregate's first ``$match``: IDHACK, IXSCAN
    (with the index's name), COUNT_SCAN (a count from an index alone) or COLLSCAN (https://www.mongodb.com/docs/manual/reference/command/explain/)."""
    inner = cmd["explain"]
    name = next(iter(inner), "") if isinstance(inner, dict) else ""
    if name == "find":
        filt, sort, limit = inner.get("filter") or {}, inner.get("sort"), abs(inner.get("limit") or 0)
    elif name == "count":
        filt, sort, limit = inner.get("query") or {}, None, 0
    elif name == "findAndModify":
        filt, sort, limit = inner.get("query") or {}, inner.get("sort"), 1
    elif name == "aggregate":
        first = (inner.get("pipeline") or [{}])[0]
        filt, sort, limit = (first.get("$match") or {}) if list(first) == ["$match"] else {}, None, 0
    else:
        raise CommandError(59, f"devdb explains find, count, findAndModify and aggregate, not '{name}'")
    coll = ctx.coll(db, inner[name])
    counting = planner.count_access(index.indexes_of(coll._store), filt) if name == "count" else None
    plan = ({"stage": "COUNT_SCAN", "indexName": counting.index.name} if counting is not None
            else explain_query(coll, filt, sort, limit))
    return {"queryPlanner": {"namespace": coll.full_name, "parsedQuery": filt, "winningPlan": plan},
            "explainVersion": "1"}
