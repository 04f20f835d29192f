"""The medication-list entry computed from a FHIR MedicationStatement, and the mutation fields written back
to it."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import (
    ID_DESCRIPTION,
    VERSION_DESCRIPTION,
    created_at,
    deleted_at,
    opt_id,
    put,
    updated_at,
)
from resolvers.model.interaction import InteractionWarning
from store.fhirjson import code_of, concept, date_part, ext, ref_id, set_ext, text_of, version
from store.naming import RXNORM

Resource = dict[str, Any]
STATUS_OUT = {"stopped": "discontinued", "on-hold": "on_hold"}
STATUS_IN = {"active": "active", "discontinued": "stopped", "on_hold": "on-hold", "completed": "completed"}
# A CPOE entry's MedicationRequest (the order) follows its MedicationStatement's status.
ORDER_STATUS = {"active": "active", "on-hold": "on-hold", "stopped": "stopped", "completed": "completed"}
# The seed's medical-summary lists: current = active; past = stopped or completed. On hold is neither.
PAST_STATUSES = ("stopped", "completed")


@dataclass(eq=False, kw_only=True)
class Medication:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    patient_id: strawberry.ID | None = strawberry.field(description="The patient whose chart holds this medication.")
    name: str | None = strawberry.field(description="Medication name, e.g. Lisinopril 10 mg tablet.")
    rx_cui: str | None = strawberry.field(description="RxNorm concept id (RXCUI).")
    medication_definition_id: strawberry.ID | None = strawberry.field(
        description="Id of the org medication definition it was recorded from; null for a free-text entry.")
    status: str = strawberry.field(description="active, discontinued, on_hold, completed, ...")
    is_active: bool = strawberry.field(description="The status is active (on-hold ones are not).")
    dosage: str | None = strawberry.field(description="Dosage instructions as text, e.g. 1 tablet by mouth daily.")
    frequency: str | None = strawberry.field(description="How often it is taken, as entered (e.g. `twice daily`).")
    route: str | None = strawberry.field(description="How it is taken, as entered (e.g. `oral`).")
    patient_note: str | None = strawberry.field(description="Free-text note about this medication for the patient.")
    provider_id: strawberry.ID | None = strawberry.field(
        description="The prescribing or recording provider (a Practitioner id), when known.")
    is_cpoe: bool = strawberry.field(
        description="Entered through Computerized Provider Order Entry: the medication has an order (FHIR "
                    "MedicationRequest) whose status follows this entry's.")
    date_start: str | None = strawberry.field(description="Start date, YYYY-MM-DD.")
    date_stop: str | None = strawberry.field(description="Stop date, YYYY-MM-DD; null while ongoing.")
    discontinuation_reason: str | None = strawberry.field(
        description="Why it was discontinued; null unless discontinued.")
    created_at: str | None = strawberry.field(description="When the record was first written (ISO 8601 instant, UTC).")
    updated_at: str | None = strawberry.field(
        description="When this version was written (ISO 8601 instant, UTC).")
    deleted_at: str | None = strawberry.field(
        description="When the medication was archived (ISO 8601 date-time); null while it is on the chart.")
    interaction_warnings: list[InteractionWarning] = strawberry.field(
        default_factory=list,
        description="Drug–allergy interactions with the patient's active allergies, found when the medication "
                    "was recorded; empty on every later read.")


def from_fhir(res: Resource) -> Medication:
    period = res.get("effectivePeriod") or {}
    status = res.get("status", "unknown")
    concept_ = res.get("medicationCodeableConcept")
    dosage = (res.get("dosage") or [{}])[0]
    return Medication(
        id=res["id"], version=version(res), patient_id=opt_id(ref_id(res.get("subject"), "Patient")),
        name=text_of(concept_), rx_cui=code_of(concept_, RXNORM),
        medication_definition_id=opt_id(ref_id(ext(res, "medication-definition"), "Basic")),
        status=str(STATUS_OUT.get(status, status)), is_active=status == "active",
        dosage=next((d.get("text") for d in res.get("dosage") or () if d.get("text")), None),
        frequency=text_of((dosage.get("timing") or {}).get("code")), route=text_of(dosage.get("route")),
        patient_note=next((n.get("text") for n in res.get("note") or () if n.get("text")), None),
        provider_id=opt_id(ref_id(res.get("informationSource"), "Practitioner")),
        is_cpoe=ext(res, "medication-cpoe") is True or order_id(res) is not None,
        date_start=date_part(period.get("start") or res.get("effectiveDateTime")),
        date_stop=date_part(period.get("end")),
        discontinuation_reason=next((text_of(s) for s in res.get("statusReason") or ()), None),
        created_at=created_at(res), updated_at=updated_at(res), deleted_at=deleted_at(res),
    )


def order_id(res: Resource) -> str | None:
    """The MedicationRequest (order) a MedicationStatement is based on, when it was prescribed here."""
    return next((i for i in (ref_id(b, "MedicationRequest") for b in res.get("basedOn") or ()) if i), None)


def order_of(statement: Resource) -> Resource:
    """The MedicationRequest of a CPOE entry: the order the MedicationStatement is based on."""
    order: Resource = {"resourceType": "MedicationRequest", "intent": "order",
                       "status": ORDER_STATUS.get(statement.get("status", ""), "active"),
                       "medicationCodeableConcept": statement["medicationCodeableConcept"],
                       "subject": statement["subject"]}
    for src, dst in (("dateAsserted", "authoredOn"), ("informationSource", "requester"),
                     ("dosage", "dosageInstruction")):
        if statement.get(src):
            order[dst] = statement[src]
    if statement.get("statusReason"):
        order["statusReason"] = order_reason(statement)
    return order


def order_reason(statement: Resource) -> Any:
    """The statement's first status reason, as the order's one (MedicationRequest.statusReason is 0..1)."""
    return (statement.get("statusReason") or [None])[0]


def apply_fields(res: Resource, f: dict[str, Any]) -> Resource:
    """Write the mutation fields present in ``f`` onto the MedicationStatement ``res`` (PATCH semantics:
    absent fields are left alone, None clears). ``status`` is the seed's word (active, discontinued, ...);
    ``definition``: the link to the medication definition (resolvers/catalog.py ``with_definition``)."""
    if "definition" in f:
        set_ext(res, "medication-definition", "valueReference", f["definition"])
    if {"name", "rx_cui"} & f.keys():
        was = res.get("medicationCodeableConcept")
        name = f.get("name", text_of(was))
        cui = f.get("rx_cui", code_of(was, RXNORM) if "name" not in f else None)
        res["medicationCodeableConcept"] = concept(RXNORM, cui, name, name) if cui else {"text": name}
    if f.get("status"):
        res["status"] = STATUS_IN[f["status"]]
    if {"date_start", "date_stop"} & f.keys():
        period = {**(res.get("effectivePeriod") or {})}
        for key, field in (("start", "date_start"), ("end", "date_stop")):
            if field in f:
                put(period, key, f[field])
        put(res, "effectivePeriod", period)
    if {"dosage", "frequency", "route"} & f.keys():
        dosage = {**(res.get("dosage") or [{}])[0]}
        if "dosage" in f:
            put(dosage, "text", f["dosage"])
        if "frequency" in f:
            put(dosage, "timing", {"code": {"text": f["frequency"]}} if f["frequency"] else None)
        if "route" in f:
            put(dosage, "route", {"text": f["route"]} if f["route"] else None)
        put(res, "dosage", [dosage, *(res.get("dosage") or [])[1:]] if dosage else None)
    if "patient_note" in f:
        put(res, "note", [{"text": f["patient_note"]}] if f["patient_note"] else None)
    if "provider_id" in f:
        put(res, "informationSource", {"reference": f"Practitioner/{f['provider_id']}"} if f["provider_id"] else None)
    if "discontinuation_reason" in f:
        put(res, "statusReason", [{"text": f["discontinuation_reason"]}] if f["discontinuation_reason"] else None)
    if "is_cpoe" in f:
        set_ext(res, "medication-cpoe", "valueBoolean", True if f["is_cpoe"] else None)
    return res
