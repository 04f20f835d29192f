"""Confinements (store/types.py ``Confinement``): the Patient compartment and SMART v2 granular restrictions,
as a filter on the search keys for queries and as a check of a resource's own content for reads by id and writes.

The Patient compartment is FHIR R4's CompartmentDefinition ``patient``
(https://hl7.org/fhir/R4/compartmentdefinition-patient.html), reduced to the types this server keeps and to the
reference parameters it indexes (store/params.py): a resource is in Patient/<id>'s compartment when one of its
type's parameters below references ``Patient/<id>``; the Patient itself is in it by its id. A type with no entry
(Practitioner, Organization, Location, Slot, Device, Subscription …) is in no patient's compartment; a
Binary is in the compartment of the Patient its ``securityContext`` names (a fhirgraph addition).
"""

from __future__ import annotations

from typing import Any

from store.fhirjson import parse_reference
from store.keys import fold, values_of
from store.layout import doc_id
from store.params import param_table
from store.search import compile_params, split_values
from store.types import Confinement, Resource, Slice

# Type → the reference parameters that put a resource of it in a Patient compartment (the definition's
# "param" column; the ones this server does not index — performer, recorder, sender … — are left out).
COMPARTMENT: dict[str, tuple[str, ...]] = {
    "Account": ("subject",),
    "AllergyIntolerance": ("patient",),
    "Appointment": ("actor",),
    "AuditEvent": ("agent", "entity"),
    "Basic": ("subject",),
    "Binary": ("security-context",),  # not in R4's definition: Binary has no search parameters there
    "Claim": ("patient",),
    "Communication": ("subject",),
    "Condition": ("patient",),
    "DiagnosticReport": ("subject",),
    "DocumentReference": ("subject", "author"),
    "Encounter": ("patient",),
    "EpisodeOfCare": ("patient",),
    "Flag": ("patient",),
    "Group": ("member",),
    "MedicationRequest": ("subject",),
    "MedicationStatement": ("subject",),
    "MolecularSequence": ("patient",),
    "Observation": ("subject",),
    "Provenance": ("patient",),
    "QuestionnaireResponse": ("subject",),
    "RelatedPerson": ("patient",),
    "Schedule": ("actor",),
    "ServiceRequest": ("subject",),
}

# A filter no document meets.
NOTHING: dict[str, Any] = {"_id": {"$in": []}}


def has_compartment(rt: str) -> bool:
    """Whether resources of ``rt`` can be in a Patient compartment (the Patient itself included)."""
    return rt == "Patient" or rt in COMPARTMENT


# ---------------------------------------------------------------------------------------------- queries


def clause(rt: str, within: Confinement, tenant: str, *, versions: bool = False) -> dict[str, Any] | None:
    """The filter clause of ``within`` on the collection of ``rt`` (``versions``: on its history collection);
    None when it confines nothing (a slice admitting everything)."""
    ors: list[dict[str, Any]] = []
    for part in within.any_of:
        parts: list[dict[str, Any]] = []
        if part.patient is not None:
            found = _compartment(rt, part.patient, tenant, versions)
            if found is None:
                continue
            parts.append(found)
        if part.params:
            clauses, _applied, ignored = compile_params(rt, list(part.params), tenant, strict=False)
            if ignored:  # a parameter this type does not have: the slice admits none of it
                continue
            parts.extend(clauses)
        if not parts:
            return None
        ors.append(parts[0] if len(parts) == 1 else {"$and": parts})
    if not ors:
        return NOTHING
    return ors[0] if len(ors) == 1 else {"$or": ors}


def clauses(rt: str, within: Confinement | None, tenant: str, *, versions: bool = False) -> list[dict[str, Any]]:
    """``clause`` as a list of clauses to AND with a query's (empty when nothing is confined)."""
    if within is None:
        return []
    found = clause(rt, within, tenant, versions=versions)
    return [] if found is None else [found]


def _compartment(rt: str, patient: str, tenant: str, versions: bool) -> dict[str, Any] | None:
    if rt == "Patient":
        return {"_sys.id": patient} if versions else {"_id": doc_id(tenant, patient)}
    names = COMPARTMENT.get(rt)
    if names is None:
        return None
    ref = f"Patient/{patient}"
    ors = [{f"_sys.k.{name}": ref} for name in names]
    return ors[0] if len(ors) == 1 else {"$or": ors}


# ---------------------------------------------------------------------------------------------- one resource


def admits(rt: str, resource: Resource, within: Confinement | None) -> bool:
    """Whether ``within`` lets its caller see (or write) ``resource`` of type ``rt``, judged on its content.

    Granular parameters are matched as search would match them for token and reference parameters, and as a
    prefix for string ones; other kinds (dates, numbers) and modifiers cannot be judged here and admit
    nothing (a read refused rather than a read too many)."""
    if within is None:
        return True
    for part in within.any_of:
        if part.patient is not None and not in_compartment(rt, resource, part.patient):
            continue
        if all(_matches(rt, resource, name, value) for name, value in part.params):
            return True
    return False


def in_compartment(rt: str, resource: Resource, patient: str) -> bool:
    """Whether ``resource`` is in the compartment of Patient/``patient``."""
    if rt == "Patient":
        return resource.get("id") == patient
    names = COMPARTMENT.get(rt)
    if names is None:
        return False
    table = param_table(rt)
    ref = f"Patient/{patient}"
    return any(ref in values_of(resource, table[name]) for name in names)


def _matches(rt: str, resource: Resource, raw_name: str, value: str) -> bool:
    name, _, modifier = raw_name.partition(":")
    p = param_table(rt).get(name)
    if p is None or modifier:
        return False
    if p.name == "_id":
        return resource.get("id") in split_values(value)
    keys = values_of(resource, p)
    if p.type == "token":
        return any(v in keys for v in split_values(value))
    if p.type == "reference":
        for v in split_values(value):
            parsed = parse_reference(v)
            if (f"{parsed[0]}/{parsed[1]}" if parsed else v) in keys:
                return True
        return False
    if p.type == "string":
        return any(k.startswith(fold(v)) for v in split_values(value) for k in keys)
    return False


def compartment_types() -> tuple[str, ...]:
    """The types a Patient compartment holds: the Patient first, then the others by name."""
    return ("Patient", *sorted(COMPARTMENT))


def narrowed(within: Confinement | None, patient: str) -> Confinement:
    """``within`` further confined to the compartment of Patient/``patient``: each slice kept with that
    compartment (a slice of another patient's compartment admits none of it)."""
    slices = (within or Confinement((Slice(),))).any_of
    return Confinement(tuple(Slice(patient, s.params) for s in slices if s.patient in (None, patient)))


def only(patient: str | None = None, params: tuple[tuple[str, str], ...] = ()) -> Confinement:
    """A confinement of one slice (for tests and the store's own callers)."""
    return Confinement((Slice(patient, params),))
