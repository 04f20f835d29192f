"""Write commands as the log keeps them: with every value the server chose resolved, so that replaying them
against the same state gives the same state.

What a server chooses while it runs a write, and how each is pinned down:
- the time (``$currentDate``; ``$$NOW`` and ``$$CLUSTER_TIME`` in a pipeline update): resolved before the
  command runs, into the literal it then runs with (at MongoDB's millisecond precision);
- the ``_id`` of a document an upsert creates, when its query names none: added, after the command ran, from
  the reply (``$setOnInsert``, or the replacement document), so the replay creates the same one;
- an inserted document's missing ``_id``: the engine stores the command's own document, with the ``_id`` it
  was given, and the record is encoded from it afterwards;
- TTL expiry: swept as a delete of what is older than a literal cutoff (``expiry``), logged like any delete.
Everything else a write does depends only on the state it meets and the command, so it repeats exactly.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

from bson.timestamp import Timestamp

from store.devdb.codec import Doc

# Top-level fields of a command that say how to run it, not what it does: not kept.
_ENVELOPE = frozenset({"lsid", "txnNumber", "autocommit", "startTransaction", "writeConcern", "readConcern",
                       "comment", "maxTimeMS", "bypassDocumentValidation", "apiVersion", "apiStrict"})


def before(name: str, cmd: Doc) -> Doc:
    """``cmd`` with the current time resolved wherever an update asks for it."""
    if name == "update":
        statements = cmd.get("updates") or []
        if any(_asks_time(st.get("u")) for st in statements):
            now = _Now()
            return cmd | {"updates": [st | {"u": _resolve_time(st.get("u"), now)} for st in statements]}
    elif name == "findAndModify" and _asks_time(cmd.get("update")):
        return cmd | {"update": _resolve_time(cmd["update"], _Now())}
    return cmd


def after(name: str, cmd: Doc, reply: Doc | None) -> Doc:
    """What to log of ``cmd`` once it ran: its envelope left out, and the ``_id``s its upserts chose pinned."""
    kept = {k: v for k, v in cmd.items() if not k.startswith("$") and k not in _ENVELOPE}
    if reply is None:
        return kept
    if name == "update" and reply.get("upserted"):
        statements = list(kept.get("updates") or [])
        for upserted in reply["upserted"]:
            st = statements[upserted["index"]]
            statements[upserted["index"]] = st | {"u": _with_id(st.get("q"), st.get("u"), upserted["_id"])}
        kept["updates"] = statements
    elif name == "findAndModify" and "upserted" in (reply.get("lastErrorObject") or {}):
        kept["update"] = _with_id(kept.get("query"), kept.get("update"), reply["lastErrorObject"]["upserted"])
    return kept


def changed_nothing(name: str, reply: Doc | None) -> bool:
    """A write that matched nothing and failed nothing need not be logged (the TTL sweep's usual delete)."""
    if reply is None or reply.get("writeErrors"):
        return False
    if name in ("insert", "delete"):
        return reply.get("n") == 0
    if name == "update":
        return reply.get("n") == 0 and not reply.get("upserted")
    if name == "findAndModify":
        return (reply.get("lastErrorObject") or {}).get("n") == 0
    return False


def expiry(coll: str, index: Mapping[str, Any], now: dt.datetime) -> Doc | None:
    """The delete a TTL sweep makes of ``index`` at ``now`` (None: not a TTL index MongoDB would sweep)."""
    try:
        expire_s = int(index["expireAfterSeconds"])
    except (KeyError, TypeError, ValueError):
        return None
    key = list(index["key"].items() if isinstance(index["key"], Mapping) else index["key"])
    if len(key) != 1:
        return None  # MongoDB expires only by single-field indexes
    # A date field (or an array's earliest date) at or before the cutoff; $lte matches dates only.
    cutoff = now - dt.timedelta(seconds=expire_s)
    return {"delete": coll, "deletes": [{"q": {key[0][0]: {"$lte": cutoff}}, "limit": 0}]}


def writes_collection(pipeline: Any) -> bool:
    """Whether an aggregate pipeline writes ($out, $merge), so that it is logged like a write."""
    return isinstance(pipeline, list) and any(isinstance(s, Mapping) and ("$out" in s or "$merge" in s)
                                               for s in pipeline)


class _Now:
    """One instant for a whole command, at MongoDB's millisecond precision (naive UTC, as devdb stores dates)."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.date = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self.timestamp = Timestamp(int(time.time()), 1)


def _asks_time(update: Any) -> bool:
    if isinstance(update, Mapping):
        return "$currentDate" in update
    return isinstance(update, list) and _mentions_now(update)


def _mentions_now(value: Any) -> bool:
    if isinstance(value, str):
        return value in ("$$NOW", "$$CLUSTER_TIME")
    if isinstance(value, Mapping):
        return any(_mentions_now(v) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_now(v) for v in value)
    return False


def _resolve_time(update: Any, now: _Now) -> Any:
    if isinstance(update, list):  # a pipeline: the variables become the values they stand for
        return _replace_now(update, now)
    if not isinstance(update, Mapping) or "$currentDate" not in update:
        return update
    dates = {field: now.timestamp if isinstance(kind, Mapping) and kind.get("$type") == "timestamp" else now.date
             for field, kind in update["$currentDate"].items()}
    rest = {k: v for k, v in update.items() if k != "$currentDate"}
    return rest | {"$set": {**(rest.get("$set") or {}), **dates}}


def _replace_now(value: Any, now: _Now) -> Any:
    if value == "$$NOW":
        return {"$literal": now.date}
    if value == "$$CLUSTER_TIME":
        return {"$literal": now.timestamp}
    if isinstance(value, Mapping):
        return {k: _replace_now(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_now(v, now) for v in value]
    return value


def _with_id(query: Any, update: Any, new_id: Any) -> Any:
    """An upsert's update that creates its document with ``new_id`` (unchanged when the query names the id)."""
    if isinstance(query, Mapping) and "_id" in query:
        return update
    if isinstance(update, Mapping) and update and all(str(k).startswith("$") for k in update):
        return {**update, "$setOnInsert": {**(update.get("$setOnInsert") or {}), "_id": new_id}}
    if isinstance(update, Mapping):
        return {"_id": new_id, **update}
    if isinstance(update, list):
        return [*update, {"$set": {"_id": {"$literal": new_id}}}]
    return update
