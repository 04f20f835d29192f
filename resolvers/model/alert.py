"""The patient alert computed from a FHIR Flag (scope patient or family, store/naming.py)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import created_at, enum_type, opt_id, recorded_by
from store.fhirjson import code_of, date_part, ext, ref_id, text_of, version


class AlertStatus(Enum):
    """ACTIVE: shown on the chart; DISABLED: hidden from the chart, kept; ARCHIVED: dismissed, left out of
    default listings (ask for status ARCHIVED to see them)."""

    ACTIVE = "active"
    DISABLED = "disabled"
    ARCHIVED = "archived"


enum_type(AlertStatus, "Lifecycle status of a patient alert.", {
    AlertStatus.ACTIVE: "Shown on the chart.",
    AlertStatus.DISABLED: "Hidden from the chart but kept (disableAlert, or status DISABLED in updateAlert).",
    AlertStatus.ARCHIVED: "Dismissed: left out of default listings; list with status: ARCHIVED to see them.",
})


class AlertScope(Enum):
    """Where an alert shows: PATIENT (this chart only) or FAMILY (all family members' charts)."""

    PATIENT = "patient"
    FAMILY = "family"


enum_type(AlertScope, "Where a patient alert is shown.", {
    AlertScope.PATIENT: "On this patient's chart only.",
    AlertScope.FAMILY: "On the charts of every family member (patients sharing the guarantor).",
})


# FHIR Flag.status → the alert's status.
STATUS = {"active": AlertStatus.ACTIVE, "inactive": AlertStatus.DISABLED, "entered-in-error": AlertStatus.ARCHIVED}


def status_of(res: dict[str, Any]) -> AlertStatus:
    """An archived (dismissed) alert is an inactive Flag with EXT["archived-at"] — not ``entered-in-error``,
    which FHIR means as "recorded by mistake" (alerts archived before that extension are read as archived)."""
    if res.get("status") == "inactive" and ext(res, "archived-at"):
        return AlertStatus.ARCHIVED
    return STATUS.get(res.get("status", ""), AlertStatus.ACTIVE)


@dataclass(eq=False, kw_only=True)
class Alert:
    id: strawberry.ID = strawberry.field(description="Unique identifier of the patient alert.")
    version: int = strawberry.field(
        description="Optimistic-concurrency version: pass it as baseVersion to update or disable the alert.")
    name: str | None = strawberry.field(description="The alert definition's name, e.g. \"Latex allergy\".")
    code: str | None = strawberry.field(
        description="Code of the alert type: the alert definition's id for alerts created from a definition.")
    category: str | None = strawberry.field(description="Alert category (e.g. clinical, administrative), if any.")
    status: AlertStatus = strawberry.field(description="Lifecycle status: ACTIVE, DISABLED or ARCHIVED.")
    scope: AlertScope = strawberry.field(
        description="PATIENT: this chart only; FAMILY: shown on every family member's chart (same guarantor).")
    is_urgent: bool = strawberry.field(description="Display prominently as an urgent warning.")
    note: str | None = strawberry.field(description="Free-text note staff added to this patient's alert.")
    start: str | None = strawberry.field(description="When the alert was created (ISO 8601 date-time).")
    disable_on: str | None = strawberry.field(
        description="Date (YYYY-MM-DD) from which the alert no longer applies, if set.")
    patient_id: strawberry.ID | None = strawberry.field(description="Id of the patient whose chart holds the alert.")
    from_family_member: bool = strawberry.field(description="Shown here because of a family-scope alert.")
    alert_definition_id: strawberry.ID | None = strawberry.field(
        description="Id of the org alert definition this alert instantiates (null for alerts recorded before "
                    "definitions existed).")
    date_disabled: str | None = strawberry.field(
        description="When the alert was disabled (ISO 8601 instant); null while active.")
    created_at: str | None = strawberry.field(description="When the alert was created (ISO 8601 instant, UTC).")
    created_by: str | None = strawberry.field(
        description="Who created it through this API: the signed-in user's FHIR record (e.g. `Practitioner/123`) "
                    "or, for an API client, its name. Null for alerts written by other systems.")
    updated_at: str | None = strawberry.field(description="When the alert was last changed (ISO 8601 instant).")


@dataclass(eq=False, kw_only=True)
class BulkDismissResult:
    alerts: list[Alert] = strawberry.field(description="Every alert asked for, as it is now (all ARCHIVED).")
    archived_count: int = strawberry.field(description="How many alerts this call archived.")
    skipped_count: int = strawberry.field(description="How many were already archived and left as they were.")


def is_family_scope(res: dict[str, Any]) -> bool:
    return bool(ext(res, "alert-scope") == "family")


def from_fhir(res: dict[str, Any], *, from_family: bool = False) -> Alert:
    period = res.get("period") or {}
    return Alert(
        id=res["id"], version=version(res), name=_name(res.get("code")), code=code_of(res.get("code")),
        category=next((code_of(c) for c in res.get("category") or ()), None),
        status=status_of(res),
        scope=AlertScope.FAMILY if is_family_scope(res) else AlertScope.PATIENT,
        is_urgent=bool(ext(res, "alert-urgent", False)),
        note=_note(res),
        start=period.get("start"), disable_on=date_part(period.get("end")),
        patient_id=opt_id(ref_id(res.get("subject"), "Patient")), from_family_member=from_family,
        alert_definition_id=opt_id(ref_id(ext(res, "alert-definition"), "Basic")),
        date_disabled=ext(res, "alert-disabled-at"), created_at=created_at(res),
        created_by=recorded_by(ext(res, "alert-created-by")),
        updated_at=(res.get("meta") or {}).get("lastUpdated"),
    )


def _name(code: Any) -> str | None:
    # The coding's display is the definition's name; the text held the note in alerts written before the note
    # had its own extension.
    for c in (code or {}).get("coding") or ():
        if c.get("display"):
            return str(c["display"])
    return text_of(code)


def _note(res: dict[str, Any]) -> str | None:
    note = ext(res, "alert-note")
    if note:
        return str(note)
    # Alerts written before the note had its own extension kept it as the code's text.
    code = res.get("code") or {}
    texts = [c.get("display") for c in code.get("coding") or ()]
    text = code.get("text")
    return text if text and text not in texts else None
