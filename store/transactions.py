"""FHIR R4 transactions (https://hl7.org/fhir/R4/http.html#transaction): many writes, all or nothing, with
``urn:uuid`` references resolved across them; and the conditional update and delete (§3.1.0.9.2, §3.1.0.12.1)
that single requests use too.

A transaction runs in two steps, so that nothing is written unless everything can be:

1. **Plan** — every entry's target is resolved against the state before the transaction, in FHIR's order
   (DELETE, POST, PUT/PATCH): a conditional create, update or delete searches once; a create gets its id. Then
   every resource's references to another entry's ``fullUrl`` (``urn:uuid:…``, or an absolute URL) and
   conditional references (``Patient?identifier=…``) are rewired to ``Type/id``, and each write is prepared as a
   single write would be (the caller's confinement, ``If-Match``, append-only types, FHIR validity, the write
   guards). The first entry that fails raises its error, its message and paths naming ``Bundle.entry[i]``.
2. **Commit** — the prepared writes are applied together (store/writes.py ``Writer.commit``): one MongoDB
   transaction on a replica set; on a standalone server the staged order with compensation documented there.
   Each write keeps its own version, history, provenance and one outbox event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jsonpatch

from store.confinement import admits
from store.errors import DomainError, Forbidden, Invalid, NotAllowed, NotFound, PreconditionFailed
from store.fhirjson import parse_reference
from store.layout import strip
from store.params import APPEND_ONLY, PARAMS, READ_ONLY, check_type, type_of
from store.types import Confinement, PrincipalLike, Resource, WriteResult
from store.validation import check_id, check_shape

if TYPE_CHECKING:
    from store.repository import Repository
    from store.writes import _Writes

# FHIR's processing order of a transaction's interactions (http.html#trules).
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2}


@dataclass
class Entry:
    """One write of a transaction, as the door parsed it from ``Bundle.entry[index]``."""

    index: int
    method: str  # POST | PUT | PATCH | DELETE
    rt: str
    rid: str | None = None
    conditions: list[tuple[str, str]] | None = None  # PUT/DELETE [type]?<conditions>
    resource: Resource | None = None
    patch: Any = None  # PATCH: a JSON Patch document
    if_match: str | None = None
    if_none_exist: list[tuple[str, str]] | None = None
    full_url: str | None = None
    within: Confinement | None = None


@dataclass
class Outcome:
    """What became of an entry: 201 created, 200 updated (or the match of a conditional create), 204 deleted
    (or nothing to delete); ``result`` the written or matched resource (None for a deletion)."""

    status: int
    result: WriteResult | None = None
    rt: str = ""
    rid: str | None = None


@dataclass
class _Plan:
    entry: Entry
    action: str  # create | update | delete | none
    rid: str | None = None
    found: Resource | None = None  # the match of a conditional create (nothing is written)
    old: dict[str, Any] | None = None
    writes: _Writes | None = field(default=None, repr=False)


def _same(error: DomainError, entry: Entry) -> DomainError:
    return error


def at_entry(error: DomainError, entry: Entry) -> DomainError:
    """``error`` naming the entry that caused it (its message, and its paths under ``Bundle.entry[i]``)."""
    where = f"Bundle.entry[{entry.index}]"
    error.message = f"{where} ({entry.method} {entry.rt}): {error.message}"
    error.args = (error.message,)
    error.paths = [where, *(f"{where}.resource.{p}" if not p.startswith(("Bundle", "If-", "_")) else p
                            for p in error.paths)]
    return error


async def run(repo: Repository, principal: PrincipalLike, entries: list[Entry], *, bundle: bool = True
              ) -> list[Outcome]:
    """Plan and commit ``entries`` (module docstring); their outcomes in the entries' order. ``bundle``: errors
    name the entry (not for a single conditional request)."""
    name = at_entry if bundle else _same
    plans: dict[int, _Plan] = {}
    ordered = sorted(entries, key=lambda e: (ORDER.get(e.method, 9), e.index))
    for entry in ordered:
        try:
            plans[entry.index] = await _target(repo, principal, entry)
        except DomainError as exc:
            raise name(exc, entry) from None
    targets: dict[str, int] = {}
    ids: dict[str, str] = {}
    for plan in (plans[e.index] for e in ordered):
        rid = plan.rid or (plan.found or {}).get("id")
        if rid is None:
            continue
        key = f"{plan.entry.rt}/{rid}"
        if key in targets and plan.action != "none":
            raise name(Invalid(f"{key} is the target of two entries (also entry {targets[key]})"), plan.entry)
        targets.setdefault(key, plan.entry.index)
        url = plan.entry.full_url
        if url:
            ids[url] = key
            # A RESTful fullUrl (``http://other/fhir/Patient/a2``): the Bundle's relative references to
            # ``Patient/a2`` mean this entry too (Bundle §2.36.4.1), whatever id it gets here.
            tail = parse_reference(url) if "://" in url else None
            if tail is not None and tail[0] == plan.entry.rt:
                ids.setdefault(f"{tail[0]}/{tail[1]}", key)
    for entry in ordered:
        plan = plans[entry.index]
        try:
            await _prepare(repo, principal, plan, ids)
        except DomainError as exc:
            raise name(exc, entry) from None
    batch = [p.writes for p in (plans[e.index] for e in ordered) if p.writes is not None]
    if batch:
        await repo._writer.commit(batch)
    return [_outcome(plans[e.index]) for e in entries]


def _outcome(plan: _Plan) -> Outcome:
    entry = plan.entry
    if plan.found is not None:
        return Outcome(200, WriteResult(plan.found, created=False), entry.rt, plan.found.get("id"))
    if plan.writes is None:
        return Outcome(204, None, entry.rt, plan.rid)
    result = plan.writes.result()
    if plan.action == "delete":
        return Outcome(204, None, entry.rt, plan.rid)
    return Outcome(201 if result.created else 200, result, entry.rt, plan.rid)


async def _target(repo: Repository, principal: PrincipalLike, entry: Entry) -> _Plan:
    """Which resource ``entry`` writes, judged on the state before the transaction."""
    check_type(entry.rt)
    if entry.method == "POST":
        if entry.resource is None:
            raise Invalid("A create needs a resource")
        if entry.if_none_exist:
            found = await match(repo, principal, entry.rt, entry.if_none_exist, entry.within, "If-None-Exist")
            if found is not None:
                return _Plan(entry, "none", found=found)
        return _Plan(entry, "create", rid=str(uuid.uuid4()))
    if entry.conditions is not None:
        found = await match(repo, principal, entry.rt, entry.conditions, entry.within, "condition")
        if entry.method == "DELETE":
            return _Plan(entry, "delete" if found else "none", rid=found["id"] if found else None)
        if found is None:
            if entry.method == "PATCH":
                raise NotFound(f"No {entry.rt} matches the conditional patch")
            body_id = (entry.resource or {}).get("id")
            return _Plan(entry, "update", rid=body_id if isinstance(body_id, str) else str(uuid.uuid4()))
        body_id = (entry.resource or {}).get("id")
        if body_id not in (None, found["id"]):
            raise Invalid("The body's id is not the id of the resource the condition matched", paths=["id"])
        return _Plan(entry, "update", rid=found["id"])
    if entry.rid is None:
        raise Invalid(f"{entry.method} needs [type]/[id] or [type]?[conditions]")
    check_id(entry.rid)
    return _Plan(entry, "delete" if entry.method == "DELETE" else "update", rid=entry.rid)


async def match(repo: Repository, principal: PrincipalLike, rt: str, params: list[tuple[str, str]],
                within: Confinement | None, what: str) -> Resource | None:
    """The one resource ``params`` match (None: none); ``PreconditionFailed`` when several do (FHIR: 412)."""
    if not [p for p in params if not p[0].startswith("_") or p[0] in ("_id", "_lastUpdated", "_tag")]:
        raise Invalid(f"The {what} holds no search parameters")
    page = await repo.search(principal, rt, params, count=2, within=within)
    if len(page.resources) > 1:
        raise PreconditionFailed(f"The {what} matches more than one {rt}")
    return page.resources[0] if page.resources else None


async def _prepare(repo: Repository, principal: PrincipalLike, plan: _Plan, ids: dict[str, str]) -> None:
    entry = plan.entry
    if plan.action == "none":
        return
    rt, rid = entry.rt, plan.rid
    if rid is None:
        raise Invalid("No target")
    old = await repo._current(principal, rt, rid)
    if old is not None and entry.within is not None and not admits(rt, old, entry.within):
        # What the caller's confinement does not admit is absent to it (404), and may not be written over.
        raise NotFound(f"{rt}/{rid} not found")
    if plan.action == "delete":
        if rt in APPEND_ONLY:
            raise NotAllowed(f"{rt} is append-only", allow=READ_ONLY)
        if old is None or old["_sys"].get("deleted"):
            return  # deleting nothing is not an error
        check_version(rt, rid, old, entry.if_match)
        plan.writes = await repo._writer.staged(principal, rt, strip(old), old=old, action="delete")
        return
    resource = entry.resource
    if entry.method == "PATCH":
        if old is None or old["_sys"].get("deleted"):
            raise NotFound(f"{rt}/{rid} not found")
        resource = apply_patch(strip(old), entry.patch, rt, rid)
    if resource is None:
        raise Invalid("The entry has no resource")
    check_shape(resource)
    if type_of(resource) != rt:
        raise Invalid(f"The resource is a {resource.get('resourceType')}, the request's URL names {rt}",
                      paths=["resourceType"])
    if plan.action == "update" and entry.rid is not None and resource.get("id") not in (None, rid):
        raise Invalid(f"The resource's id '{str(resource.get('id'))[:64]}' is not the URL's '{rid}'", paths=["id"])
    resource = rewire({**resource, "id": rid}, ids)
    dangling = list(_urn_references(resource, rt, []))
    if dangling:
        # Bundle §2.36.4.1: a urn: reference means another entry of this Bundle; left unresolved it would be
        # stored pointing at nothing.
        raise Invalid(f"{', '.join(ref[:80] for _, ref in dangling[:5])} matches no entry's fullUrl",
                      paths=[path for path, _ in dangling])
    resource = await _conditional_references(repo, principal, resource)
    check_within(rt, resource, entry.within)
    if plan.action == "create":
        if old is not None:
            raise PreconditionFailed(f"{rt}/{rid} already exists")
        plan.writes = await repo._writer.staged(principal, rt, resource, old=None, action="create")
        return
    check_update(rt, rid, old, entry.if_match)
    plan.old = old
    plan.writes = await repo._writer.staged(principal, rt, resource, old=old,
                                            action="create" if old is None else "update")


def check_update(rt: str, rid: str, old: dict[str, Any] | None, if_match: str | None) -> None:
    """Whether an update of ``rt/rid`` over the stored ``old`` (None: none; it becomes a create) may go ahead:
    ``If-Match`` must name the stored version, and append-only types are never changed."""
    if old is None:
        if if_match is not None:
            raise NotFound(f"{rt}/{rid} not found")
        return
    if rt in APPEND_ONLY:
        # Append-only logs (AuditEvent, Communication, Provenance) may be created with a client id but never
        # changed afterwards.
        raise NotAllowed(f"{rt} is append-only: {rt}/{rid} cannot be changed", allow=READ_ONLY)
    check_version(rt, rid, old, if_match)


def check_version(rt: str, rid: str, old: dict[str, Any], if_match: str | None) -> None:
    """``If-Match`` (a version) must name the stored one: RFC 9110 §13.1.1, a write it does not match is not made."""
    if if_match is not None and str(old["_sys"]["v"]) != if_match:
        raise PreconditionFailed(f"{rt}/{rid} is at version {old['_sys']['v']}, not {if_match}",
                                 current=str(old["_sys"]["v"]))


def check_within(rt: str, resource: Resource, within: Confinement | None) -> None:
    """A write must put its resource inside the caller's confinement."""
    if within is not None and not admits(rt, resource, within):
        raise Forbidden(f"insufficient_scope: this {rt} is outside the patient compartment or the granular scope "
                        "the credentials may write")


def apply_patch(current: Resource, operations: Any, rt: str, rid: str) -> Resource:
    """FHIR R4 §3.1.0.10 patch with JSON Patch (RFC 6902): ``current`` patched, still ``rt/rid``."""
    if not isinstance(operations, list):
        raise Invalid("A JSON Patch document is an array of operations")
    try:
        patched = jsonpatch.apply_patch(current, operations)
    except jsonpatch.JsonPatchTestFailed:  # its text quotes the stored value: not for the caller to see
        raise Invalid("A 'test' operation of the patch does not hold", unprocessable=True) from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError) as exc:
        raise Invalid(f"JSON Patch could not be applied: {str(exc)[:200]}", unprocessable=True) from None
    if not isinstance(patched, dict) or patched.get("resourceType") != rt or patched.get("id") != rid:
        raise Invalid("A patch may not change resourceType or id", unprocessable=True)
    return patched


def rewire(node: Any, ids: dict[str, str]) -> Any:
    """``node`` with every ``reference`` to one of ``ids`` (another entry's fullUrl) replaced by its
    ``Type/id``; the rest as it was (unchanged parts are shared, not copied)."""
    if not ids:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in ids:
                out[key] = ids[value]
            else:
                out[key] = rewire(value, ids) if isinstance(value, (dict, list)) else value
        return out
    if isinstance(node, list):
        return [rewire(v, ids) if isinstance(v, (dict, list)) else v for v in node]
    return node


def _urn_references(node: Any, path: str, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(element path, reference) of every ``urn:`` reference left in ``node`` (after ``rewire``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value.startswith("urn:"):
                found.append((f"{path}.reference", value))
            elif isinstance(value, (dict, list)):
                _urn_references(value, f"{path}.{key}", found)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _urn_references(v, f"{path}[{i}]", found)
    return found


def _conditional_refs(node: Any, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and "?" in value:
                found.append(value)
            elif isinstance(value, (dict, list)):
                _conditional_refs(value, found)
    elif isinstance(node, list):
        for v in node:
            _conditional_refs(v, found)
    return found


async def _conditional_references(repo: Repository, principal: PrincipalLike, resource: Resource) -> Resource:
    """FHIR R4 §3.1.0.11.2 conditional references (``Patient?identifier=x|1``): each must match exactly one
    resource of the tenant, which it then names."""
    refs = _conditional_refs(resource, [])
    if not refs:
        return resource
    from urllib.parse import parse_qsl

    ids: dict[str, str] = {}
    for ref in dict.fromkeys(refs):
        rt, _, query = ref.partition("?")
        if rt not in PARAMS or parse_reference(rt + "/x") is None:
            raise Invalid(f"Conditional reference to an unsupported type '{rt[:64]}'")
        params = parse_qsl(query, keep_blank_values=True)
        found = await match(repo, principal, rt, params, None, "conditional reference")
        if found is None:
            raise PreconditionFailed(f"The conditional reference {rt}?… matches no {rt}")
        ids[ref] = f"{rt}/{found['id']}"
    rewired: Resource = rewire(resource, ids)
    return rewired
