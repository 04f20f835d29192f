"""What a Bulk Data export reads (FHIR Bulk Data Access IG v2, https://hl7.org/fhir/uv/bulkdata/export.html):
the resources of one type to export, in ``_id`` order (the resume point of the job's checkpoint). The job itself —
its lease, checkpoint and NDJSON files — is a job of kind ``export`` (store/jobs.py); its worker is
fhir_rest/bulk/worker.py.

``rows`` streams them from one cursor per type, reading ``batch`` documents per round trip: memory stays flat
whatever the size of the export.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from store.confinement import COMPARTMENT
from store.driver import unavailable
from store.keys import date_range
from store.layout import NO_KEYS, live, strip
from store.search import compile_params
from store.types import Resource

KIND = "export"
# The largest chunk of an NDJSON file (one job_chunks document).
CHUNK_BYTES = 512 * 1024
# A group or patient list is matched this many patients per $in (a query stays well under 16 MB).
PATIENTS_PER_QUERY = 2000


def patient_filter(rt: str, patients: list[str] | None) -> dict[str, Any] | None:
    """The resources of ``rt`` in the Patient compartment of any of ``patients`` (None: of any patient at all);
    None when ``rt`` is in no patient compartment."""
    if rt == "Patient":
        if patients is None:
            return {}
        return {"_sys.id": {"$in": patients}}
    names = COMPARTMENT.get(rt)
    if names is None:
        return None
    if patients is None:
        match: Any = {"$regex": "^Patient/"}
    else:
        match = {"$in": [f"Patient/{p}" for p in patients]}
    ors = [{f"_sys.k.{name}": match} for name in names]
    return ors[0] if len(ors) == 1 else {"$or": ors}


class ExportRows:
    def __init__(self, db: AsyncDatabase[Any]):
        self.db = db

    async def rows(self, tenant: str, rt: str, *, after: str | None, transaction_time: str, since: str | None,
                   type_filters: list[list[tuple[str, str]]], patients: list[str] | None, compartment: bool,
                   batch: int = 500) -> AsyncIterator[tuple[str, Resource]]:
        """``(_id, resource)`` of every current, not deleted ``rt`` of ``tenant`` last updated by
        ``transaction_time`` (and after ``since``), matching any of ``type_filters`` (FHIR search parameters),
        in the Patient compartment of ``patients`` when ``compartment`` (None: of any patient), after the
        ``_id`` ``after``, in ``_id`` order — from one cursor (or one per ``PATIENTS_PER_QUERY`` patients)."""
        clauses: list[dict[str, Any]] = [{"_sys.lu": {"$lte": (date_range(transaction_time) or ("",))[0]}}]
        if since:
            clauses.append({"_sys.lu": {"$gt": (date_range(since) or ("",))[0]}})
        if type_filters:
            ors = []
            for params in type_filters:
                found, _, _ = compile_params(rt, params, tenant, strict=True)
                ors.append({"$and": found} if len(found) > 1 else found[0] if found else {})
            clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
        groups: list[list[str] | None] = [None]
        if compartment and patients is not None:
            groups = [patients[i:i + PATIENTS_PER_QUERY] for i in range(0, len(patients), PATIENTS_PER_QUERY)]
            if not groups:
                return
        if len(groups) > 1:
            # Several cursors cannot resume by one _id: the resume point is per cursor, so read them as one
            # ordered stream by merging on _id (each is sorted).
            async for row in _merged([self._cursor(tenant, rt, clauses, g, compartment, after, batch)
                                      for g in groups]):
                yield row
            return
        async for row in self._cursor(tenant, rt, clauses, groups[0], compartment, after, batch):
            yield row

    async def _cursor(self, tenant: str, rt: str, clauses: list[dict[str, Any]], patients: list[str] | None,
                      compartment: bool, after: str | None, batch: int) -> AsyncIterator[tuple[str, Resource]]:
        parts = list(clauses)
        if compartment:
            found = patient_filter(rt, patients)
            if found is None:
                return
            if found:
                parts.append(found)
        if after is not None:
            parts.append({"_id": {"$gt": after}})
        filt = live(tenant, parts)
        try:
            cursor = self.db[rt].find(filt, NO_KEYS).sort([("_id", ASCENDING)]).batch_size(batch)
            async for doc in cursor:
                yield doc["_id"], strip(doc)
        except PyMongoError as exc:
            raise unavailable(exc) from exc


async def _merged(streams: list[AsyncIterator[tuple[str, Resource]]]) -> AsyncIterator[tuple[str, Resource]]:
    heads: list[tuple[str, Resource] | None] = [await anext(s, None) for s in streams]
    last: str | None = None
    while True:
        live_heads = [(h[0], i) for i, h in enumerate(heads) if h is not None]
        if not live_heads:
            return
        key, i = min(live_heads)
        head = heads[i]
        heads[i] = await anext(streams[i], None)
        if head is not None and key != last:  # a resource in two patients' compartments: once
            last = key
            yield head

