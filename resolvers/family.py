"""Family (seed 003): members sharing a guarantor (FHIR Account.guarantor), guardians, dependents and
relationships (records and their FHIR mapping: resolvers/model/family.py); relationship creation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from resolvers import patient as patient_r
from resolvers.context import Info, Scope
from resolvers.loaders import MISSING, Soon, ready, when_loaded
from resolvers.model import family as model
from resolvers.model.patient import Patient
from store.errors import Invalid, NotFound
from store.fhirjson import ext, ref_id
from store.naming import EXT, V3_ROLE

Resource = dict[str, Any]


def _active(res: Resource) -> bool:
    return res.get("active", True) is not False


def relationships(root: Patient, info: Info) -> Soon[list[model.Relationship]]:
    """Relationships where this patient is the source."""
    return when_loaded(info.context.loaders.relations_by_patient, str(root.id),
                       lambda rows: [model.relationship_from_fhir(r) for r in rows if _active(r)])


def relationship_patient(root: model.Relationship, info: Info) -> Soon[Patient | None]:
    return patient_r.get_patient(info.context, root.patient_id)


def related_patient(root: model.Relationship, info: Info) -> Soon[Patient | None]:
    return patient_r.get_patient(info.context, root.related_patient_id)


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
    fam = _family_ready(ctx, pid)
    own = ready(loaders.relations_by_patient, pid)
    as_related = ready(loaders.relations_by_related_patient, pid)
    if fam is MISSING or own is MISSING or as_related is MISSING:
        return _load_family(ctx, pid)
    ordered = sorted(fam[1])
    found = [ready(loaders.patients_by_id, m) for m in ordered]
    if any(f is MISSING for f in found):
        return _load_family(ctx, pid)
    return _build_family(ctx, fam[0], ordered, found, own, as_related)


async def _load_family(ctx: Scope, pid: str) -> model.Family:
    loaders = ctx.loaders
    (guarantor, members), own, as_related = await asyncio.gather(
        _family(ctx, pid), loaders.relations_by_patient.load(pid), loaders.relations_by_related_patient.load(pid))
    ordered = sorted(members)
    found = await loaders.patients_by_id.load_many(ordered)
    return _build_family(ctx, guarantor, ordered, found, own, as_related)


def _build_family(ctx: Scope, guarantor: str | None, ordered: list[str], found: list[Any], own: list[Resource],
                  as_related: list[Resource]) -> model.Family:
    nodes = {m: patient_r.node(ctx, r) for m, r in zip(ordered, found, strict=True) if r is not None}
    rels = [model.relationship_from_fhir(r) for r in own if _active(r)]
    dependents = [model.relationship_from_fhir(r, seen_from_related=True) for r in as_related
                  if _active(r) and ext(r, "is-guardian", False)]
    return model.Family(
        guarantor=nodes.get(guarantor) if guarantor else None,
        members=[nodes[m] for m in ordered if m in nodes],
        guardians=[r for r in rels if r.is_guardian],
        dependents=dependents,
        relationships=rels,
    )


async def create_relationship(ctx: Scope, pid: str, f: dict[str, Any]) -> model.Relationship:
    """Relate the patient to another patient (one direction)."""
    rtype = f["relationship_type"]
    if rtype not in model.TYPE_CODE:
        raise Invalid(f"relationshipType must be one of {', '.join(model.TYPE_CODE)}", field="relationshipType")
    other_id = str(f["related_patient_id"])
    if other_id == str(pid):
        raise Invalid("A patient cannot be related to itself", field="relatedPatientId")
    me, other = await ctx.loaders.patients_by_id.load_many([str(pid), other_id])
    if me is None:
        raise NotFound(f"Patient {pid} not found")
    if other is None:
        raise NotFound(f"Patient {other_id} not found")
    name = next((n for n in other.get("name") or () if n.get("use") in (None, "official")), None) or {}
    coding = {"system": V3_ROLE, "code": model.TYPE_CODE[rtype], "display": rtype.replace("_", " ")}
    res: Resource = {
        "resourceType": "RelatedPerson", "id": str(uuid.uuid4()), "active": True,
        "patient": {"reference": f"Patient/{pid}"},
        "relationship": [{"coding": [coding], "text": rtype.replace("_", " ")}],
        "extension": [{"url": EXT["related-patient"], "valueReference": {"reference": f"Patient/{other['id']}"}},
                      {"url": EXT["is-guardian"], "valueBoolean": bool(f.get("is_guardian"))}],
    }
    if name.get("family") or name.get("given"):
        res["name"] = [{k: v for k, v in name.items() if k in ("use", "family", "given")}]
    for key in ("gender", "birthDate"):
        if other.get(key):
            res[key] = other[key]
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return model.relationship_from_fhir(written.resource)
