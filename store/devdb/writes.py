"""The write commands: insert, update, delete, findAndModify, with MongoDB's per-statement writeErrors."""

# mongomock has no type annotations; everything else here is checked strictly.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bson.raw_bson import RawBSONDocument

from store.devdb.codec import Doc
from store.devdb.context import Context
from store.devdb.documents import decode
from store.devdb.errors import CommandError, error_fields, reject
from store.devdb.query import matching, rows, store_key


def insert(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["insert"])
    documents = cmd.get("documents") or []
    inserted = []

    def apply(i: int, doc: Any) -> None:
        if isinstance(doc, RawBSONDocument):  # as the wire carried it (store/devdb/wire.py)
            _id = coll.insert_raw(bytes(doc.raw))
            if _id is not None:
                inserted.append(_id)
                return
            # Without an _id first: decoded, and given one in the command itself (which the journal logs).
            doc = documents[i] = decode(bytes(doc.raw))
        inserted.append(coll.insert_one(doc))

    errors = _each(documents, cmd.get("ordered", True), apply)
    return _write_reply(len(inserted), errors)


def update(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["update"])
    totals = {"n": 0, "nModified": 0}
    upserted: list[Doc] = []

    def apply(index: int, st: Doc) -> None:
        reject(st, "arrayFilters", "collation")
        if st.get("multi") and _is_replacement(st["u"]):
            raise CommandError(9, "multi update is not supported for replacement-style update")
        result = coll._update(st.get("q") or {}, st["u"], upsert=bool(st.get("upsert")),
                              multi=bool(st.get("multi")))
        totals["n"] += result["n"]
        totals["nModified"] += result["nModified"]
        if result["upserted"] is not None:
            upserted.append({"index": index, "_id": result["upserted"]})

    errors = _each(cmd.get("updates") or [], cmd.get("ordered", True), apply)
    extra = {"nModified": totals["nModified"]} | ({"upserted": upserted} if upserted else {})
    return _write_reply(totals["n"], errors, **extra)


def delete(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["delete"])
    deleted = [0]

    def apply(index: int, st: Doc) -> None:
        reject(st, "collation")
        found = [doc["_id"] for _, doc in rows(coll, st.get("q") or {})]
        for _id in found[:1] if st.get("limit") else found:
            coll.delete_key(store_key(_id))
            deleted[0] += 1

    errors = _each(cmd.get("deletes") or [], cmd.get("ordered", True), apply)
    return _write_reply(deleted[0], errors)


def find_and_modify(ctx: Context, db: str, cmd: Doc) -> Doc:
    coll = ctx.coll(db, cmd["findAndModify"])
    query, update, fields = cmd.get("query") or {}, cmd.get("update"), cmd.get("fields") or None
    remove, upsert = bool(cmd.get("remove")), bool(cmd.get("upsert"))
    if remove == (update is not None):
        raise CommandError(9, "Either an update or remove=true must be specified")
    reject(cmd, "arrayFilters", "collation")
    matches = matching(coll, query, cmd.get("sort"), 1)
    old = None if not matches else matches[0][1] if matches[0][1] is not None else decode(matches[0][0])
    last_error: Doc = {"n": 0}
    value = None
    if remove:
        if old is not None:
            coll.delete_key(store_key(old["_id"]))
            last_error, value = {"n": 1}, old
    elif old is not None or upsert:
        before = old if not cmd.get("new") else None  # (a copy of its own: the update changes another one)
        # Re-target the matched document by _id: the query may not match it any more after the update.
        target = {"_id": old["_id"]} if old is not None else query
        result = coll._update(target, update, upsert=old is None)
        last_error = {"n": 1, "updatedExisting": old is not None}
        if result["upserted"] is not None:
            last_error["upserted"] = result["upserted"]
        new_id = old["_id"] if old is not None else result["upserted"]
        value = coll._store._documents.get(store_key(new_id)) if cmd.get("new") else before
    else:
        last_error["updatedExisting"] = False
    if value is not None and fields:
        value = coll._copy_only_fields(value, dict(fields), dict)
    return {"lastErrorObject": last_error, "value": value}


def _each(statements: list[Doc], ordered: bool, apply: Callable[[int, Doc], None]) -> list[Doc]:
    """Apply each write statement; collect MongoDB-style writeErrors, stop at the first if ordered."""
    errors = []
    for index, statement in enumerate(statements):
        try:
            apply(index, statement)
        except Exception as exc:
            errors.append({"index": index, **error_fields(exc)})
            if ordered:
                break
    return errors


def _write_reply(n: int, errors: list[Doc], **extra: Any) -> Doc:
    return {"n": n, **extra, **({"writeErrors": errors} if errors else {})}


def _is_replacement(update: Any) -> bool:
    return isinstance(update, Mapping) and not any(str(k).startswith("$") for k in update)
