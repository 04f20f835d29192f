"""Bulk loads (``Repository.bulk_load``: demo data, imports) in two halves: ``prepare`` makes every document a
batch of resources is stored as, ``write`` stores them.

``prepare`` is pure CPU work — the validity gate, server meta, search keys, provenance — and needs no database,
so a loader may run it in another process for the next batch while this one's documents are written (the demo
loader does: app/demo/loader.py); what it returns pickles. Given the same resources and ``stamp`` it returns the
same documents (the provenances' ids derive from the stamp), which is what makes a repeated load safe: ``write``
takes documents already stored with that stamp, by an earlier try that failed part-way, as written.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

import bson
from bson.raw_bson import RawBSONDocument
from pymongo.errors import BulkWriteError, PyMongoError

from store import panels
from store.driver import unavailable
from store.errors import Conflict, Invalid
from store.layout import document, history, history_doc, kept_twice
from store.params import CLINICAL_TYPES, type_of
from store.types import PrincipalLike, Resource
from store.validation import check_shape, validate
from store.writes import Writer, meta_of, provenance, server_meta


class Bulk(NamedTuple):
    """The documents of one bulk load: (collection, documents) in the order they are inserted, the resource
    type each batch counts as (for a conflict's message), the stamp, and the patients each panel gains."""

    batches: list[tuple[str, str, list[dict[str, Any]]]]
    stamp: str
    panel_adds: dict[str, list[str]]


def prepare(principal: PrincipalLike, resources: list[Resource], stamp: str, *, as_bson: bool = False) -> Bulk:
    """Every resource validated and keyed as a write would (no events): the documents to store, stamped
    ``stamp`` (their ``meta.lastUpdated``). Raises what the validity gate raises for the first bad resource.
    ``as_bson``: the documents already encoded, as the driver would encode them (``RawBSONDocument``s, which it
    sends as they are): they cross to another process as bytes, a tenth of the cost of pickled dicts."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for res in resources:
        check_shape(res)
        rt = type_of(res)
        if not isinstance(res.get("id"), str):
            raise Invalid("bulk_load needs resources with ids", paths=["id"])
        res = {"resourceType": rt, "id": res["id"], "meta": server_meta(meta_of(res), 1, stamp, stamp),
               **{k: v for k, v in res.items() if k not in ("resourceType", "id", "meta")}}
        validate(res)
        by_type.setdefault(rt, []).append(document(principal.tenant, res, 1, stamp))
        if rt in CLINICAL_TYPES:
            prov = provenance(principal, res, "create")
            prov["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{principal.tenant}/{rt}/{res['id']}/{stamp}"))
            by_type.setdefault("Provenance", []).append(document(principal.tenant, prov, 1, stamp))
    panel_adds: dict[str, list[str]] = {}
    for res in resources:
        for practitioner, (patient, _add) in panels.changes(res["resourceType"], "create", None, res).items():
            panel_adds.setdefault(practitioner, []).extend([patient] if patient else [])
    batches: list[tuple[str, str, list[dict[str, Any]]]] = []
    for rt, docs in by_type.items():
        batches.append((rt, rt, _encoded(docs) if as_bson else docs))
        if kept_twice(rt):
            versions = [history_doc(d) for d in docs]
            batches.append((history(rt), rt, _encoded(versions) if as_bson else versions))
    return Bulk(batches, stamp, panel_adds)


def _encoded(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The store's codec options differ from the defaults only in decoding (tz_aware): the bytes are the driver's.
    return [RawBSONDocument(bson.encode(d)) for d in docs]  # type: ignore[misc]


async def write(writer: Writer, principal: PrincipalLike, bulk: Bulk) -> None:
    """Store ``bulk``'s documents with one ``insert_many`` per collection, then the panels they join
    (store/panels.py). Documents already stored with the bulk's stamp are taken as written (module docstring);
    any other of the same id is a ``Conflict``."""
    for collection, rt, docs in bulk.batches:
        try:
            await writer.db[collection].insert_many(docs, ordered=False)
        except PyMongoError as exc:
            errors = exc.details.get("writeErrors", []) if isinstance(exc, BulkWriteError) else []
            if not errors or any(e.get("code") != 11000 for e in errors):
                raise unavailable(exc) from exc
            if not await _loaded_before(writer, collection, [docs[e["index"]]["_id"] for e in errors], bulk.stamp):
                raise Conflict(f"{len(errors)} {rt} resource(s) already exist") from None
    for practitioner, patients in bulk.panel_adds.items():
        try:
            await writer.set_panel(principal, None, practitioner, patients, [])
        except PyMongoError as exc:
            raise unavailable(exc) from exc


async def _loaded_before(writer: Writer, collection: str, ids: list[Any], stamp: str) -> bool:
    """Whether every one of ``ids`` is stored in ``collection`` stamped ``stamp``: the same bulk load, tried
    before, wrote them."""
    try:
        found = await writer.db[collection].find({"_id": {"$in": ids}}, {"meta.lastUpdated": 1}).to_list(None)
    except PyMongoError as exc:
        raise unavailable(exc) from exc
    return len(found) == len(set(ids)) and all((d.get("meta") or {}).get("lastUpdated") == stamp for d in found)
