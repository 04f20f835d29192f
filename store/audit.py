"""The audit trail's write (DESIGN.md decision 13): AuditEvents appended in batches, off the request path.

The recorder (auth/audit.py) builds the AuditEvents (IHE BALP shape, auth/balp.py) and hands one batch per tenant
to ``AuditLog.append``: one bulk insert into ``AuditEvent`` (an append-only type: its one version is its history,
store/layout.py, so ``vread`` and ``_history`` answer as for any resource), each document keyed for search like
any write (store/keys.py), so the trail is searched through the normal FHIR search (``date``, ``agent``,
``agent-name``, ``altid``, ``patient``, ``entity``, ``type``, ``subtype``, ``action``, ``outcome``: store/params.py;
the ones without an index of their own: store/indexes.py ``UNINDEXED``). The audit writer process
(app/audit_writer.py) hands it documents already encoded (``append_encoded``: each equal to ``Batch.encoded`` of
its AuditEvent).

What this write does not do, on purpose:

- **No outbox event** (the batch bypasses the writer, store/writes.py): the audit trail is the record of
  accesses, not a clinical act. An event per record would feed the relay and the webhooks a stream nobody
  subscribes to, and a consumer that audited what it delivers would audit its own audit writes, for ever.
- **No Provenance**: an AuditEvent is not a clinical write.
- **No per-record FHIR model validation**: the records are the server's own, built by one function whose output
  the tests validate against the FHIR models (tests/auth/test_audit.py); running pydantic over thousands of records
  a second on the event loop would cost the reads it audits. The shape is still checked (``resourceType``, ids).

A batch is idempotent: ids are assigned by the recorder when it builds the records, and the inserts are unordered,
so a batch retried after a failure part-way (a lost reply, a primary stepping down) stores what is missing and
counts the rest (duplicate keys, code 11000) as already stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from store.clock import now_instant
from store.driver import unavailable
from store.errors import Invalid
from store.keys import audit_agent_ids, date_keys, date_range, extract, fold, reference_keys, token_keys
from store.layout import document
from store.types import Resource
from store.validation import check_id
from store.writes import server_meta

AUDIT = "AuditEvent"
CHUNK = 100  # records keyed between two turns of the event loop


class Batch:
    """One batch's stored documents: they share its instant (``meta.lastUpdated``, the creation time) and the keys
    of what their records share (``audit_keys``' memo)."""

    def __init__(self, tenant: str):
        self.tenant = tenant
        self.stamp = now_instant()
        self.meta = server_meta({}, 1, self.stamp, self.stamp)  # one batch, one instant: shared, never changed
        self._memo: dict[tuple[str, object], list[Any]] = {}
        self._held: list[Resource] = []  # what the memo knows by identity lives as long as the batch

    def document(self, event: Resource) -> dict[str, Any]:
        """The stored document of ``event`` (an AuditEvent with its id) as version 1."""
        if not isinstance(event, dict) or event.get("resourceType") != AUDIT:
            raise Invalid("The audit trail takes AuditEvents only")
        check_id(str(event.get("id")))
        resource = {"resourceType": AUDIT, "id": event["id"], "meta": self.meta, **event}  # the order of FHIR's JSON
        resource["meta"] = self.meta  # the server's, whatever the event held
        self._held.append(resource)
        return document(self.tenant, resource, 1, self.stamp, keys=audit_keys(resource, self._memo))

    def encoded(self, event: Resource) -> bytes:
        """``document(event)`` as the BSON the driver sends (``append_encoded``)."""
        return bson.encode(self.document(event))


class AuditLog:
    def __init__(self, db: AsyncDatabase[Any]):
        self.db = db

    def batch(self, tenant: str) -> Batch:
        return Batch(tenant)

    async def append(self, tenant: str, events: list[Resource]) -> int:
        """Store ``events`` (AuditEvents with ids) in ``tenant``'s trail as version 1 each; returns how many were
        new. ``Unavailable`` when the database cannot take them now (the caller keeps them and retries)."""
        if not events:
            return 0
        batch = self.batch(tenant)
        docs: list[dict[str, Any]] = []
        for start in range(0, len(events), CHUNK):
            if start:
                await asyncio.sleep(0)  # let requests run between chunks: a batch is milliseconds of CPU
            docs += [batch.document(e) for e in events[start:start + CHUNK]]
        return await self._insert(AUDIT, docs)

    async def append_encoded(self, tenant: str, encoded: list[bytes]) -> int:
        """``append`` of documents already encoded, each ``Batch.encoded`` of an AuditEvent of ``tenant`` (or
        bytes equal to it: app/audit_template.py) — stored as they are."""
        if not encoded:
            return 0
        return await self._insert(AUDIT, [RawBSONDocument(raw) for raw in encoded])

    async def _insert(self, collection: str, docs: list[Any]) -> int:
        try:
            await self.db[collection].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if errors and all(e.get("code") == 11000 for e in errors):
                return len(docs) - len(errors)  # stored by an earlier attempt of this batch
            raise unavailable(exc) from exc
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        return len(docs)  # unordered and no error: every one (the driver lists no ids for raw documents)


# What the recorder's AuditEvents hold (auth/balp.py): ``audit_keys`` knows where each search parameter of
# AuditEvent (store/params.py) finds its values in them.
_TOP = frozenset({"resourceType", "id", "meta", "type", "subtype", "action", "recorded", "outcome", "outcomeDesc",
                  "agent", "source", "entity"})
_META = frozenset({"versionId", "lastUpdated", "extension"})


def audit_keys(event: Resource, memo: dict[tuple[str, object], list[Any]] | None = None) -> dict[str, Any]:
    """The search keys of an AuditEvent, as ``store.keys.extract`` computes them, at a fraction of its cost: every
    audited request pays for one. Read straight from the elements each parameter's path names (``date`` =
    ``recorded``, ``agent`` = ``agent.who`` and the bare ids of agents known by identifier, ``agent-name`` =
    ``agent.name``, ``entity`` = ``entity.what``, ``patient`` = ``entity.what`` and ``agent.who`` when a Patient …)
    instead of walking the paths of the parameter table; an AuditEvent with anything else in it (meta.tag, say)
    takes the general ``extract``. tests/store/test_audit_keys.py holds the two equal over every shape the recorder
    makes.

    ``memo`` (one per batch): the keys of an element by the element itself — the same object (the recorder
    shares a batch's ``meta``, each client's agents, each interaction's type and subtype) or the same code — so a
    batch computes them once. Only elements the records hold are memoized by identity: they outlive the batch."""
    meta = event.get("meta")
    if not _TOP.issuperset(event) or not isinstance(meta, dict) or not _META.issuperset(meta):
        return extract(event)
    memo = {} if memo is None else memo

    def kept(name: str, value: Any, keys: Callable[[Any], list[Any]]) -> list[Any]:
        sig = (name, _code_or_id(value))
        found = memo.get(sig)
        if found is None:
            found = memo[sig] = keys(value)
        return found

    whats = [w for e in _each(event.get("entity")) if isinstance(e, dict) for w in _each(e.get("what"))]
    agent, kind, subtype, action, outcome = (event.get(name) for name in ("agent", "type", "subtype", "action",
                                                                          "outcome"))
    # What a record shares with the batch's others of its client and interaction, keyed once for all of them.
    sig = ("shared", (id(meta), id(agent), id(kind), id(subtype), _code_or_id(action), _code_or_id(outcome)))
    shared = memo.get(sig)
    if shared is None:
        shared = memo[sig] = [
            kept("_lastUpdated", meta, lambda m: date_keys(_each(m.get("lastUpdated")))),
            kept("agent", agent, _agent_keys),
            kept("agent-name", agent, _agent_names),
            kept("agent-name folded", agent, lambda a: list(dict.fromkeys(fold(n) for n in _agent_names(a)))),
            kept("patient agents", agent, _patient_agent_keys),
            kept("altid", agent, lambda a: token_keys([i for x in _agents(a) for i in _each(x.get("altId"))])),
            kept("type", kind, lambda v: token_keys(_each(v))),
            kept("subtype", subtype, lambda v: token_keys(_each(v))),
            kept("action", action, lambda v: token_keys(_each(v))),
            kept("outcome", outcome, lambda v: token_keys(_each(v))),
        ]
    last_updated, agents, names, folded, patients, altids, kinds, subtypes, actions, outcomes = shared
    recorded = event.get("recorded")
    lineup: tuple[tuple[str, list[Any]], ...] = (
        ("_lastUpdated", last_updated),
        ("date", _instant_keys(recorded) if isinstance(recorded, str) else date_keys(_each(recorded))),
        ("agent", agents),
        ("agent-name", folded),
        ("altid", altids),
        ("entity", _entity_keys(whats)),
        ("type", kinds),
        ("subtype", subtypes),
        ("action", actions),
        ("outcome", outcomes),
    )
    k = {name: vals for name, vals in lineup if vals}
    if "entity" in k or patients:
        k["patient"] = list(dict.fromkeys([*k.get("entity", ()), *patients])) if patients else k["entity"]
    sort = {"_id": str(event["id"]), "_lastUpdated": _earliest(k.get("_lastUpdated")), "date": _earliest(k.get("date"))}
    return {"k": k, "e": {"agent-name": names} if names else {}, "s": sort}


def _agent_keys(agents: Any) -> list[str]:
    """``agent``: the agents' references and identifiers (``reference_keys``), then the ids of those known by an
    identifier only (``audit_agent_ids``), as ``extract`` keys them."""
    found = reference_keys([w for x in _agents(agents) for w in _each(x.get("who"))])
    return list(dict.fromkeys([*found, *audit_agent_ids(agents)]))


def _patient_agent_keys(agents: Any) -> list[str]:
    """``patient``'s keys from the agents: those that are a Patient (``agent.who[Patient]``)."""
    whos = [w for x in _agents(agents) for w in _each(x.get("who"))
            if isinstance(w, dict) and str(w.get("reference", "")).startswith("Patient/")]
    return reference_keys(whos)


def _agent_names(agents: Any) -> list[str]:
    return list(dict.fromkeys(n for x in _agents(agents) for n in _each(x.get("name")) if isinstance(n, str)))


def _instant_keys(text: str) -> list[dict[str, str]]:
    """``date_keys([text])``; for the recorder's instants (``2026-12-02T07:35:43.123Z``, auth/balp.py) from the
    range of their second, which a batch's records share (``date_range`` is cached), and their milliseconds."""
    if len(text) == 24 and text[19] == "." and text[23] == "Z" and text[20:23].isdigit():
        second = date_range(text[:19] + "Z")
        if second is not None:
            at = f"{second[0][:20]}{text[20:23]}000"
            return [{"lo": at, "hi": at}]
    return date_keys([text])


@lru_cache(maxsize=8192)
def _reference_keys(ref: str) -> tuple[str, ...]:
    return tuple(reference_keys([{"reference": ref}]))


def _entity_keys(whats: list[Any]) -> list[Any]:
    """``reference_keys(whats)``, each plain reference's keys computed once (the same patients recur)."""
    if not all(type(w) is dict and len(w) == 1 and type(w.get("reference")) is str for w in whats):
        return reference_keys(whats)
    if len(whats) == 1:
        return list(_reference_keys(whats[0]["reference"]))
    return list(dict.fromkeys(k for w in whats for k in _reference_keys(w["reference"])))


def _code_or_id(value: Any) -> object:
    return value if isinstance(value, str) else id(value)


def _agents(value: Any) -> list[dict[str, Any]]:
    return [a for a in _each(value) if isinstance(a, dict)]


def _earliest(ranges: list[dict[str, str]] | None) -> str:
    return min(r["lo"] for r in ranges) if ranges else ""


def _each(value: Any) -> list[Any]:
    """An element's values as a path step finds them: a list's items, one value, or none."""
    return value if isinstance(value, list) else [] if value is None else [value]
