"""The patient alert computed from a FHIR Flag (scope patient or family, store/naming.py)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import enum_type, opt_id
from store.fhirjson import code_of, date_part, ext, ref_id, text_of, version


class AlertStatus(Enum):
    ACTIVE = "active"
    DISABLED = "disabled"
    ARCHIVED = "archived"


enum_type(AlertStatus, description="Whether an alert is shown.", values={
    "ACTIVE": "Shown.",
    "DISABLED": "Kept, not shown.",
    "ARCHIVED": "Withdrawn; hidden unless asked for.",
})


class AlertScope(Enum):
    PATIENT = "patient"
    FAMILY = "family"


enum_type(AlertScope, description="Whom an alert concerns.", values={
    "PATIENT": "The patient alone.",
    "FAMILY": "Every member of the patient's family.",
})


# FHIR Flag.status → the alert's status.
STATUS = {"active": AlertStatus.ACTIVE, "inactive": AlertStatus.DISABLED, "entered-in-error": AlertStatus.ARCHIVED}


@dataclass(eq=False, kw_only=True)
class Alert:
    id: strawberry.ID = strawberry.field(description="Opaque id; stable for the life of the record.")
    version: int = strawberry.field(
        description="Version of the record, increasing with every change; send it back as baseVersion when you change "
                    "it.")
    name: str | None = strawberry.field(description="The alert's name, for display (e.g. Latex allergy).")
    code: str | None = strawberry.field(description="The alert definition's code.")
    category: str | None = strawberry.field(description="The alert's category (e.g. clinical, administrative).")
    status: AlertStatus = strawberry.field(description="Whether it is shown.")
    scope: AlertScope = strawberry.field(description="Whether it concerns the patient alone or the whole family.")
    is_urgent: bool = strawberry.field(description="Urgent: show it prominently.")
    note: str | None = strawberry.field(description="Free-text note.")
    start: str | None = strawberry.field(
        description="When it was raised, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    disable_on: str | None = strawberry.field(description="When it stops being shown, YYYY-MM-DD; null for no end.")
    patient_id: strawberry.ID | None = strawberry.field(description="Id of the patient the alert was raised on.")
    from_family_member: bool = strawberry.field(description="Shown here because of a family-scope alert.")


def is_family_scope(res: dict[str, Any]) -> bool:
    return bool(ext(res, "alert-scope") == "family")


def from_fhir(res: dict[str, Any], *, from_family: bool = False) -> Alert:
    period = res.get("period") or {}
    return Alert(
        id=res["id"], version=version(res), name=text_of(res.get("code")), code=code_of(res.get("code")),
        category=next((code_of(c) for c in res.get("category") or ()), None),
        status=STATUS.get(res.get("status", ""), AlertStatus.ACTIVE),
        scope=AlertScope.FAMILY if is_family_scope(res) else AlertScope.PATIENT,
        is_urgent=bool(ext(res, "alert-urgent", False)),
        note=_note(res),
        start=period.get("start"), disable_on=date_part(period.get("end")),
        patient_id=opt_id(ref_id(res.get("subject"), "Patient")), from_family_member=from_family,
    )


def _note(res: dict[str, Any]) -> str | None:
    code = res.get("code") or {}
    texts = [c.get("display") for c in code.get("coding") or ()]
    text = code.get("text")
    return text if text and text not in texts else None
