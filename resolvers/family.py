"""Family (seed 003): members sharing a guarantor (FHIR Account.guarantor), guardians, dependents and
relationships (records and their FHIR mapping: resolvers/model/family.py); creating, updating and archiving a
relationship.

A relationship goes from a source patient to a target: "the source is the target's parent (and guardian)".
Patient X's relationships and dependents are those where X is the source (RelatedPerson with
related-patient = X: ``relations_by_related_patient``); its guardians are the guardian relationships whose
target is X (RelatedPerson.patient = X: ``relations_by_patient``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from graphql import FieldNode

from resolvers import chart
from resolvers import patient as patient_r
from resolvers.context import Info, Scope
from resolvers.loaders import MISSING, Soon, ready, when_loaded
from resolvers.model import family as model
from resolvers.model import patient as patient_model
from resolvers.model.patient import Patient
from resolvers.pagination import DEFAULT_PAGE_SIZE, NumberedPage, PageNumber, PageSize, numbered
from store.errors import Invalid, NotFound
from store.fhirjson import extension, ref_id, reference

Resource = dict[str, Any]


def relationships(root: Patient, info: Info) -> Soon[list[model.Relationship]]:
    """Relationships where this patient is the source."""
    return when_loaded(info.context.loaders.relations_by_related_patient, str(root.id), _listed)


def relationship_page(root: Patient, info: Info, page: PageNumber = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
                      ) -> Soon[NumberedPage[model.Relationship]]:
    """One numbered page of the relationships where this patient is the source, in the same order."""
    paging = numbered(info.context, page, page_size)
    return when_loaded(info.context.loaders.relations_by_related_patient, str(root.id), lambda rows: paging(
        [r for r in rows if model.is_current(r)], key=lambda r: "", rid=lambda r: r["id"],
        node=model.lazy_relationship))


def _listed(rows: list[Resource]) -> list[model.Relationship]:
    return [model.lazy_relationship(r) for r in sorted(rows, key=lambda r: r["id"]) if model.is_current(r)]


def relationship_patient(root: model.Relationship, info: Info) -> Soon[Patient | None]:
    return _person(info.context, root.patient_id, _names_only(_field_nodes(info)))


def related_patient(root: model.Relationship, info: Info) -> Soon[Patient | None]:
    return _person(info.context, root.related_patient_id, _names_only(_field_nodes(info)))


# The fields of a patient that a family's lists of names select: read from the Patient's id and names alone
# (``loaders.patient_names_by_id``, ~a tenth of a demo Patient's bytes; a chart reads ~90 family members).
NAME_FIELDS = frozenset({"id", "firstName", "lastName", "__typename"})


def _field_nodes(info: Info) -> Any:
    """The resolved field's nodes in the query: graphql-core's info carries them (graph/schema.py gives relation
    resolvers graphql-core's, not strawberry's); none (so: not known) on another."""
    return getattr(info, "field_nodes", None)


def _selected(node: FieldNode) -> Any:
    return node.selection_set.selections if node.selection_set else ()


def _names_only(nodes: Any) -> bool:
    """Whether these patient-valued fields select names only (a fragment, or no nodes: not known, so no)."""
    return nodes is not None and all(isinstance(s, FieldNode) and s.name.value in NAME_FIELDS
                                     for n in nodes for s in _selected(n))


def _member_ready(ctx: Scope, pid: str, names: bool) -> Any:
    """The record of patient ``pid`` (None when absent) when its batch is loaded, else ``MISSING``: the whole
    patient when the request has it, else — ``names`` — the one read for its names."""
    res = ready(ctx.loaders.patients_by_id, pid)
    if res is MISSING and names:
        return _named(ready(ctx.loaders.patient_names_by_id, pid))
    return res if res is MISSING or res is None else patient_r.node(ctx, res)


def _named(res: Any) -> Any:
    return res if res is MISSING or res is None else patient_model.NamedPatient(res)


def _person(ctx: Scope, pid: str | None, names: bool) -> Soon[Patient | None]:
    if not pid:
        return None
    found = _member_ready(ctx, str(pid), names)
    if found is not MISSING:
        return found  # type: ignore[no-any-return]
    if names:
        return when_loaded(ctx.loaders.patient_names_by_id, str(pid), _named)
    return patient_r.get_patient(ctx, pid)


def display_name(res: Resource | None) -> str | None:
    """A patient's name as lists show it: first and last name."""
    if res is None:
        return None
    official, _ = patient_model.names(res)
    return " ".join(x for x in ((official.get("given") or [None])[0], official.get("family")) if x) or None


def patient_name(root: model.Relationship, info: Info) -> Soon[str | None]:
    return _name(info, root.patient_id, root.patient_display)


def related_patient_name(root: model.Relationship, info: Info) -> Soon[str | None]:
    return _name(info, root.related_patient_id, root.related_display)


def _name(info: Info, pid: str | None, written: str | None) -> Soon[str | None]:
    # Read from the patient (batched with the other patients of the operation), so that it is never stale;
    # the name written on the relationship when the patient cannot be read.
    if not pid:
        return written
    loaders = info.context.loaders
    res = ready(loaders.patients_by_id, str(pid))
    if res is not MISSING:
        return display_name(res) or written
    return when_loaded(loaders.patient_names_by_id, str(pid), lambda res: display_name(res) or written)


def _ordered(guarantor: str | None, members: set[str], pid: str) -> list[str]:
    ordered = ([guarantor] if guarantor and guarantor in members else []) + sorted(members - {guarantor})
    return ordered or [pid]


async def family_member_ids(ctx: Scope, pid: str) -> list[str]:
    """Patients sharing ``pid``'s guarantor (``pid`` included), guarantor first when it is a patient."""
    guarantor, members = await _family(ctx, pid)
    return _ordered(guarantor, members, pid)


def family_member_ids_ready(ctx: Scope, pid: str) -> Any:
    """``family_member_ids`` when every batch it needs is already loaded, else ``MISSING``."""
    found = _family_ready(ctx, pid)
    return found if found is MISSING else _ordered(found[0], found[1], pid)


def _family_ready(ctx: Scope, pid: str) -> Any:
    """(guarantor, members) of ``pid`` from loaded batches, or ``MISSING`` when one is still to load."""
    loaders = ctx.loaders
    accounts = ready(loaders.accounts_by_subject, pid)
    if accounts is MISSING:
        return MISSING
    guarantors: list[str] = []
    members: set[str] = {pid}
    for acc in accounts:
        for g in acc.get("guarantor") or ():
            gid = ref_id(g.get("party"), "Patient")
            if gid and gid not in guarantors:
                guarantors.append(gid)
        members.update(s for s in (ref_id(x, "Patient") for x in acc.get("subject") or ()) if s)
    for gid in guarantors:
        accs = ready(loaders.accounts_by_guarantor, gid)
        if accs is MISSING:
            return MISSING
        for acc in accs:
            members.update(s for s in (ref_id(x, "Patient") for x in acc.get("subject") or ()) if s)
    members.update(guarantors)
    return (guarantors[0] if guarantors else None), members


async def _family(ctx: Scope, pid: str) -> tuple[str | None, set[str]]:
    """(guarantor, members): the patient's accounts, then the accounts of their guarantors (two batches)."""
    loaders = ctx.loaders
    accounts = await loaders.accounts_by_subject.load(pid)
    guarantors = list(dict.fromkeys(gid for acc in accounts for g in acc.get("guarantor") or ()
                                    if (gid := ref_id(g.get("party"), "Patient"))))
    if guarantors:
        await loaders.accounts_by_guarantor.load_many(guarantors)
    found: tuple[str | None, set[str]] = _family_ready(ctx, pid)
    return found


def family(root: Patient, info: Info) -> Soon[model.Family]:
    """Financial family (same guarantor), guardians, dependents, relationships — synchronously when its
    batches are loaded, else an awaitable of it."""
    ctx = info.context
    pid = str(root.id)
    loaders = ctx.loaders
    names = _family_names_only(info)
    fam = _family_ready(ctx, pid)
    as_target = ready(loaders.relations_by_patient, pid)
    as_source = ready(loaders.relations_by_related_patient, pid)
    if fam is MISSING or as_target is MISSING or as_source is MISSING:
        return _load_family(ctx, pid, names)
    ordered = sorted(fam[1])
    found = [_member_ready(ctx, m, names) for m in ordered]
    if any(f is MISSING for f in found):
        return _load_family(ctx, pid, names)
    return _build_family(fam[0], ordered, found, as_target, as_source)


def _family_names_only(info: Info) -> bool:
    """Whether the family's patients (guarantor, members) are selected for their names only."""
    nodes = _field_nodes(info)
    return nodes is not None and all(
        isinstance(s, FieldNode) and (s.name.value not in ("guarantor", "members") or _names_only([s]))
        for n in nodes for s in _selected(n))


async def _load_family(ctx: Scope, pid: str, names: bool) -> model.Family:
    loaders = ctx.loaders
    (guarantor, members), as_target, as_source = await asyncio.gather(
        _family(ctx, pid), loaders.relations_by_patient.load(pid), loaders.relations_by_related_patient.load(pid))
    ordered = sorted(members)
    if names:  # the patients the request has whole as they are, the others for their names
        await loaders.patient_names_by_id.load_many([m for m in ordered if ready(loaders.patients_by_id, m)
                                                     is MISSING])
    else:
        await loaders.patients_by_id.load_many(ordered)
    found = [_member_ready(ctx, m, names) for m in ordered]
    return _build_family(guarantor, ordered, found, as_target, as_source)


def _build_family(guarantor: str | None, ordered: list[str], found: list[Any], as_target: list[Resource],
                  as_source: list[Resource]) -> model.Family:
    nodes = {m: r for m, r in zip(ordered, found, strict=True) if r is not None}
    rels = _listed(as_source)
    return model.Family(
        guarantor=nodes.get(guarantor) if guarantor else None,
        members=[nodes[m] for m in ordered if m in nodes],
        guardians=[r for r in _listed(as_target) if r.is_guardian],
        dependents=[r for r in rels if r.is_guardian],
        relationships=rels,
    )


def _check_type(f: dict[str, Any]) -> None:
    if "relationship_type" in f and f["relationship_type"] not in model.TYPE_CODE:
        raise Invalid(f"relationshipType must be one of {', '.join(model.TYPE_CODE)}", field="input.relationshipType")


async def create_relationship(ctx: Scope, pid: str, f: dict[str, Any], idempotency_key: str | None = None
                              ) -> model.Relationship:
    """Relate the patient (the source) to another patient (the target), in that one direction: the source is
    the target's ``relationship_type``, and its legal guardian when ``is_guardian``."""
    _check_type(f)
    return await chart.once(ctx, "createRelationship", "RelatedPerson", pid, idempotency_key, f,
                            lambda: _create_relationship(ctx, pid, f), model.relationship_from_fhir)


async def _create_relationship(ctx: Scope, pid: str, f: dict[str, Any]) -> model.Relationship:
    other_id = str(f["related_patient_id"])
    if other_id == str(pid):
        raise Invalid("A patient cannot be related to itself", field="input.relatedPatientId")
    me, other = await ctx.loaders.patients_by_id.load_many([str(pid), other_id])
    if me is None:
        raise NotFound(f"Patient {pid} not found", field="patientId")
    if other is None:
        raise NotFound(f"Patient {other_id} not found", field="input.relatedPatientId")
    official, _ = patient_model.names(me)
    res: Resource = {
        "resourceType": "RelatedPerson", "id": str(uuid.uuid4()), "active": True,
        "patient": reference("Patient", other["id"], display_name(other)),
        "extension": [extension("related-patient", "valueReference", reference("Patient", me["id"], display_name(me)))],
    }
    if official.get("family") or official.get("given"):
        res["name"] = [{k: v for k, v in official.items() if k in ("use", "family", "given")}]
    for key in ("gender", "birthDate"):
        if me.get(key):
            res[key] = me[key]
    guardian = f.get("is_guardian")
    model.apply_fields(res, {"relationship_type": f["relationship_type"], "note": f.get("note"),
                             "is_guardian": f["relationship_type"] == "guardian" if guardian is None else guardian})
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return _written(ctx, written.resource)


async def _relationship_of(ctx: Scope, pid: str, rid: str) -> Resource:
    res = await chart.record_of(ctx, "RelatedPerson", pid, rid, owner=model.source_of)
    if not model.is_current(res):
        raise NotFound(f"Relationship {rid} not found", field="id")
    return res


async def update_relationship(ctx: Scope, pid: str, rid: str, base_version: int,
                              f: dict[str, Any]) -> model.Relationship:
    """PATCH a relationship's type, guardian flag or note; ``base_version`` must be the current version."""
    if "relationship_type" in f and f["relationship_type"] is None:
        raise Invalid("relationshipType cannot be cleared", field="input.relationshipType")
    _check_type(f)
    res = await _relationship_of(ctx, pid, rid)
    return _written(ctx, await chart.save(ctx, model.apply_fields(res, f), base_version))


async def archive_relationship(ctx: Scope, pid: str, rid: str, base_version: int | None) -> model.Relationship:
    """Soft-delete a relationship (``active`` false, ``archived-at``): it leaves every list."""
    res = await _relationship_of(ctx, pid, rid)
    res["active"] = False
    return _written(ctx, await chart.archive(ctx, res, base_version))


def _written(ctx: Scope, res: Resource) -> model.Relationship:
    """After a write: both patients' relationship lists are read afresh later in the operation."""
    loaders = ctx.loaders
    loaders.forget(loaders.relations_by_related_patient, model.source_of(res) or "")
    loaders.forget(loaders.relations_by_patient, ref_id(res.get("patient"), "Patient") or "")
    return model.relationship_from_fhir(res)
