"""How a resource is stored (DESIGN.md decision 1); nothing outside store/ knows any of it.

Collection ``<Type>`` holds the current version of each resource as the FHIR JSON a client GETs, plus
``_id = "<tenant>/<id>"`` and the reserved ``_sys`` key, which never leaves the store::

    _sys.tenant, _sys.id     whose it is, and its FHIR id
    _sys.v, _sys.deleted     version number; a deletion is a version with the flag set (reads answer 410)
    _sys.created, _sys.lu    creation instant (FHIR has no element for it), lastUpdated as a sortable range start
    _sys.k, _sys.e, _sys.s   search keys, exact strings and sort keys (store/keys.py)
    _sys.sealed              secret extension values (store/writes.py), never returned by reads
    _sys.slot                ``<tenant>/Slot/<id>`` of the Slot an Appointment holds (``slot_key``): a unique
                             index refuses a second booking, whatever spelling its reference used
    _sys.uid                 ``<tenant>/<system>|<value>`` of each identifier that is unique per tenant
                             (``UNIQUE_IDENTIFIERS``, ``unique_keys``): a unique index refuses a second holder

``<Type>_history`` keeps every version (``_id = "<tenant>/<id>/<version>"``), except for the append-only types
(``APPEND_ONLY``: AuditEvent, Communication, Provenance), which are never changed once written: their only version
is the current document, so ``vread`` and ``_history`` read it from ``<Type>`` and no second copy is written (for
the audit trail, the busiest writer, that halves what every audited read costs the database). ``events`` is the
outbox (read through store/outbox.py); ``counters`` hands out per-tenant sequences.
"""

from __future__ import annotations

import functools
from typing import Any

from store.errors import Invalid
from store.fhirjson import ref_id
from store.keys import date_range, extract
from store.naming import SID
from store.params import APPEND_ONLY, param_table
from store.types import Resource

EVENTS = "events"
# The search keys (``_sys.k``, ``_sys.e``) and sort keys (``_sys.s``) are most of a stored document's bytes;
# reads that do not need them leave them behind. A search page keeps the sort keys: its cursors are made of them.
NO_KEYS = {"_sys.k": 0, "_sys.e": 0, "_sys.s": 0}
SEARCH_PROJECTION = {"_sys.k": 0, "_sys.e": 0}
# Reads that follow references on (includes with :iterate) keep the reference keys only.
KEYS_ONLY = {"_sys.e": 0, "_sys.s": 0}
# Every field of ``_sys`` but the search keys (the module's docstring lists them).
SERVER_FIELDS = ("tenant", "id", "v", "deleted", "created", "lu", "e", "s", "sealed", "slot", "uid")


@functools.cache
def keys_of(rt: str, param: str) -> dict[str, int]:
    """The projection of reverse-reference reads (DataLoaders): ``rt``'s resources with the keys of ``param``
    only — every other search key left behind, which is most of what the database would send and the driver
    decode. (An exclusion per other parameter: MongoDB projections cannot exclude ``_sys.k`` and keep one of its
    fields. A key outside the parameter table, if any, is merely sent along.) The rest of ``_sys`` and ``_id`` are
    left behind too: the caller reads the resource and those keys only. One dict per pair, never changed."""
    return {"_id": 0, **{f"_sys.{name}": 0 for name in SERVER_FIELDS},
            **{f"_sys.k.{name}": 0 for name in param_table(rt) if name != param}}


# Identifier systems whose values one resource of the type may hold per tenant (a deleted one frees its value):
# the vendor API's appointment externalId (seed 002) and a patient's chart number (seed 003: a duplicate is 409),
# refused twice by the database itself, not by read-then-write.
UNIQUE_IDENTIFIERS: dict[str, frozenset[str]] = {"Appointment": frozenset({SID["external-id"]}),
                                                 "Patient": frozenset({SID["chart-number"]})}
# An appointment in these statuses no longer holds its slot.
SLOT_RELEASING = frozenset({"cancelled", "noshow", "entered-in-error"})


def doc_id(tenant: str, rid: str) -> str:
    return f"{tenant}/{rid}"


def history(rt: str) -> str:
    """The collection of every version of ``rt`` (its own collection for an append-only type)."""
    return rt if rt in APPEND_ONLY else f"{rt}_history"


def kept_twice(rt: str) -> bool:
    """Whether a write of ``rt`` also stores its version in a history collection of its own."""
    return rt not in APPEND_ONLY


def version_doc_id(rt: str, tenant: str, rid: str, vid: str) -> str | None:
    """The ``_id`` of version ``vid`` of ``rt/rid`` in ``history(rt)``; None when no such version can exist (an
    append-only resource has version 1 only)."""
    if rt in APPEND_ONLY:
        return doc_id(tenant, rid) if vid == "1" else None
    return f"{doc_id(tenant, rid)}/{vid}"


def history_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The history entry of a stored current document (the same document under its version's ``_id``)."""
    return {**doc, "_id": f"{doc['_id']}/{doc['_sys']['v']}"}


def strip(doc: dict[str, Any]) -> Resource:
    """The FHIR resource of a stored document: everything but ``_id`` and ``_sys``."""
    return {k: v for k, v in doc.items() if k != "_id" and k != "_sys"}


def detach(doc: dict[str, Any]) -> tuple[Resource, dict[str, Any]]:
    """``strip`` of a document only the caller holds (fresh from a cursor, shared with no cache): ``_id`` and
    ``_sys`` taken off in place, no copy — the same resource, key order included; with its ``_sys``."""
    doc.pop("_id", None)
    return doc, doc.pop("_sys")


def live(tenant: str, clauses: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The filter of ``tenant``'s current, not deleted resources that meet every clause."""
    parts: list[dict[str, Any]] = [{"_sys.tenant": tenant, "_sys.deleted": False}, *clauses]
    if extra:
        parts.append(extra)
    return parts[0] if len(parts) == 1 else {"$and": parts}


def document(tenant: str, resource: Resource, version: int, created: str, *, deleted: bool = False,
             keys: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored document of ``resource`` (with server ``meta`` already set) at ``version``; ``keys``: its search
    keys when the caller has them already (``extract_all`` over a batch)."""
    sys: dict[str, Any] = {
        "tenant": tenant,
        "id": resource["id"],
        "v": version,
        "deleted": deleted,
        "created": created,
        "lu": date_range(resource["meta"]["lastUpdated"])[0],  # type: ignore[index]
        **(extract(resource) if keys is None else keys),
    }
    if resource["resourceType"] == "Appointment" and not deleted:
        slot = slot_key(tenant, resource)
        if slot and resource.get("status") not in SLOT_RELEASING:
            sys["slot"] = slot
    if not deleted and (unique := unique_keys(tenant, resource)):
        sys["uid"] = unique
    return {"_id": doc_id(tenant, resource["id"]), **resource, "_sys": sys}


def slot_key(tenant: str, appointment: Resource) -> str | None:
    """``<tenant>/Slot/<id>`` of the first Slot ``appointment`` references (None: it references none). The key is
    built from the Slot's id, not the reference as written: ``Slot/a``, ``https://base/fhir/Slot/a`` and
    ``Slot/a/_history/2`` are one slot to the unique index. A ``slot`` reference to anything but a Slot is
    ``Invalid`` (Appointment.slot is Reference(Slot):
    https://hl7.org/fhir/R4/appointment-definitions.html#Appointment.slot)."""
    key = None
    for i, entry in enumerate(appointment.get("slot") or ()):
        ref = entry.get("reference") if isinstance(entry, dict) else None
        if not ref:
            continue  # a logical reference (identifier only) names no stored Slot
        rid = ref_id(ref, "Slot")
        if rid is None:
            raise Invalid("Appointment.slot must reference a Slot (Slot/<id>)",
                          paths=[f"Appointment.slot[{i}].reference"])
        key = key or f"{tenant}/Slot/{rid}"
    return key


def unique_keys(tenant: str, resource: Resource) -> list[str]:
    """``<tenant>/<system>|<value>`` of each identifier of ``resource`` in ``UNIQUE_IDENTIFIERS`` (the index on
    ``_sys.uid`` is multikey: each entry is unique across the collection)."""
    systems = UNIQUE_IDENTIFIERS.get(str(resource.get("resourceType")))
    if not systems:
        return []
    keys = {f"{tenant}/{i['system']}|{i['value']}" for i in resource.get("identifier") or ()
            if isinstance(i, dict) and i.get("system") in systems and isinstance(i.get("value"), str)}
    return sorted(keys)


def slot_id(tenant: str, key: str) -> str | None:
    """The Slot id of a ``_sys.slot`` key (also of one stored before keys were canonical:
    ``<tenant>/<the reference as written>``)."""
    return ref_id(key.removeprefix(f"{tenant}/"), "Slot")
