"""Family (seed 003): members sharing a guarantor (FHIR Account.guarantor), guardians, dependents and
relationships (FHIR RelatedPerson with the related-patient and is-guardian extensions, store/naming.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from graph.types import family as family_t
from resolvers.fhir import ext, ref_id, version
from resolvers.loaders import MISSING, ready, then
from store.errors import Invalid, NotFound
from store.naming import EXT, V3_ROLE

if TYPE_CHECKING:
    from graph.context import Info

Resource = dict[str, Any]

# seed 003 relationship type ↔ v3 RoleCode (what the related patient is to the patient)
TYPE_CODE = {"spouse": "SPS", "life_partner": "DOMPART", "parent": "PRN", "child": "CHILD", "sibling": "SIB",
             "guardian": "GUARD", "grandparent": "GRPRN", "grandchild": "GRNDCHILD", "stepparent": "STPPRN",
             "stepchild": "STPCHLD", "foster_child": "CHLDFOST", "caregiver": "CAREGIVER",
             "other_family": "FAMMEMB", "merge": "MERGE", "clone": "CLONE"}
CODE_TYPE = {v: k for k, v in TYPE_CODE.items()} | {
    "MTH": "parent", "FTH": "parent", "NMTH": "parent", "NFTH": "parent", "HUSB": "spouse", "WIFE": "spouse",
    "SON": "child", "DAU": "child", "NCHILD": "child", "BRO": "sibling", "SIS": "sibling", "NSIB": "sibling",
    "GRMTH": "grandparent", "GRFTH": "grandparent", "STPMTH": "stepparent", "STPFTH": "stepparent",
}


def relationship_from_fhir(res: Resource, *, seen_from_related: bool = False) -> family_t.Relationship:
    """``seen_from_related``: show the relationship from the related patient's side (a dependent as seen by
    its guardian): the ``relatedPatient`` is then the RelatedPerson's patient."""
    codes = [c.get("code") for r in res.get("relationship") or () for c in r.get("coding") or ()]
    rtype = next((CODE_TYPE[c] for c in codes if c in CODE_TYPE), "other_family")
    patient = ref_id(res.get("patient"), "Patient") or ""
    related_ref = ext(res, "related-patient")
    related = ref_id(related_ref, "Patient")
    name = (res.get("name") or [{}])[0]
    related_name = (related_ref or {}).get("display") or " ".join(
        [*(name.get("given") or []), name.get("family") or ""]).strip() or None
    if seen_from_related:
        patient, related = related or "", patient
        related_name = (res.get("patient") or {}).get("display")
    return family_t.Relationship(
        id=res["id"], version=version(res), relationship_type=rtype,
        is_guardian=bool(ext(res, "is-guardian", False)) or "GUARD" in codes,
        note=None,
        patient_id=patient, related_patient_id=related, related_patient_name=related_name)


def get_relationships(info: Info, pid: str) -> Any:
    loader = info.context.loaders.relations_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_relationships, info, pid)
    return [relationship_from_fhir(r) for r in rows if r.get("active", True) is not False]


def _ordered(guarantor: str | None, members: set[str], pid: str) -> list[str]:
    ordered = ([guarantor] if guarantor and guarantor in members else []) + sorted(members - {guarantor})
    return ordered or [pid]


async def family_member_ids(info: Info, pid: str) -> list[str]:
    """Patients sharing ``pid``'s guarantor (``pid`` included), guarantor first when it is a patient."""
    guarantor, members = await _family(info, pid)
    return _ordered(guarantor, members, pid)


def family_member_ids_ready(info: Info, pid: str) -> Any:
    """``family_member_ids`` when every batch it needs is already loaded, else ``MISSING``."""
    found = _family_ready(info, pid)
    return found if found is MISSING else _ordered(found[0], found[1], pid)


def _family_ready(info: Info, pid: str) -> Any:
    """(guarantor, members) of ``pid`` from loaded batches, or ``MISSING`` when one is still to load."""
    loaders = info.context.loaders
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


async def _family(info: Info, pid: str) -> tuple[str | None, set[str]]:
    """(guarantor, members): the patient's accounts, then the accounts of their guarantors (two batches)."""
    loaders = info.context.loaders
    accounts = await loaders.accounts_by_subject.load(pid)
    guarantors = list(dict.fromkeys(gid for acc in accounts for g in acc.get("guarantor") or ()
                                    if (gid := ref_id(g.get("party"), "Patient"))))
    if guarantors:
        await loaders.accounts_by_guarantor.load_many(guarantors)
    found: tuple[str | None, set[str]] = _family_ready(info, pid)
    return found


def get_family(info: Info, patient: Any) -> Any:
    """The family node, synchronously when its batches are loaded, else an awaitable of it."""
    pid = str(patient.id)
    loaders = info.context.loaders
    fam = _family_ready(info, pid)
    own = ready(loaders.relations_by_patient, pid)
    as_related = ready(loaders.relations_by_related_patient, pid)
    if fam is MISSING or own is MISSING or as_related is MISSING:
        return _load_family(info, patient)
    ordered = sorted(fam[1])
    found = [ready(loaders.patients_by_id, m) for m in ordered]
    if any(f is MISSING for f in found):
        return _load_family(info, patient)
    return _build_family(info, fam[0], ordered, found, own, as_related)


async def _load_family(info: Info, patient: Any) -> family_t.Family:
    pid = str(patient.id)
    loaders = info.context.loaders
    (guarantor, members), own, as_related = await asyncio.gather(
        _family(info, pid), loaders.relations_by_patient.load(pid), loaders.relations_by_related_patient.load(pid))
    ordered = sorted(members)
    found = await loaders.patients_by_id.load_many(ordered)
    return _build_family(info, guarantor, ordered, found, own, as_related)


def _build_family(info: Info, guarantor: str | None, ordered: list[str], found: list[Any], own: list[Resource],
                  as_related: list[Resource]) -> family_t.Family:
    from resolvers import patient as patient_r

    nodes = {m: patient_r.node(info, r) for m, r in zip(ordered, found, strict=True) if r is not None}
    relationships = [relationship_from_fhir(r) for r in own if r.get("active", True) is not False]
    dependents = [relationship_from_fhir(r, seen_from_related=True) for r in as_related
                  if r.get("active", True) is not False and ext(r, "is-guardian", False)]
    return family_t.Family(
        guarantor=nodes.get(guarantor) if guarantor else None,
        members=[nodes[m] for m in ordered if m in nodes],
        guardians=[r for r in relationships if r.is_guardian],
        dependents=dependents,
        relationships=relationships,
    )


async def create_relationship(info: Info, pid: str, inp: Any) -> family_t.Relationship:
    loaders = info.context.loaders
    rtype = inp.relationship_type
    if rtype not in TYPE_CODE:
        raise Invalid(f"relationshipType must be one of {', '.join(TYPE_CODE)}", field="relationshipType")
    if str(inp.related_patient_id) == str(pid):
        raise Invalid("A patient cannot be related to itself", field="relatedPatientId")
    me, other = await loaders.patients_by_id.load_many([str(pid), str(inp.related_patient_id)])
    if me is None:
        raise NotFound(f"Patient {pid} not found")
    if other is None:
        raise NotFound(f"Patient {inp.related_patient_id} not found")
    name = next((n for n in other.get("name") or () if n.get("use") in (None, "official")), None) or {}
    coding = {"system": V3_ROLE, "code": TYPE_CODE[rtype], "display": rtype.replace("_", " ")}
    res: Resource = {
        "resourceType": "RelatedPerson", "id": str(uuid.uuid4()), "active": True,
        "patient": {"reference": f"Patient/{pid}"},
        "relationship": [{"coding": [coding], "text": rtype.replace("_", " ")}],
        "extension": [{"url": EXT["related-patient"], "valueReference": {"reference": f"Patient/{other['id']}"}},
                      {"url": EXT["is-guardian"], "valueBoolean": bool(inp.is_guardian)}],
    }
    if name.get("family") or name.get("given"):
        res["name"] = [{k: v for k, v in name.items() if k in ("use", "family", "given")}]
    for key in ("gender", "birthDate"):
        if other.get(key):
            res[key] = other[key]
    ctx = info.context
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return relationship_from_fhir(written.resource)
