"""The patient alert computed from a FHIR Flag (scope patient or family, store/naming.py)."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import opt_id
from store.fhirjson import code_of, date_part, ext, ref_id, text_of, version


class AlertStatus(Enum):
    ACTIVE = "active"
    DISABLED = "disabled"
    ARCHIVED = "archived"


class AlertScope(Enum):
    PATIENT = "patient"
    FAMILY = "family"


# FHIR Flag.status → the alert's status.
STATUS = {"active": AlertStatus.ACTIVE, "inactive": AlertStatus.DISABLED, "entered-in-error": AlertStatus.ARCHIVED}


@dataclass(eq=False, kw_only=True)
class Alert:
    id: strawberry.ID
    version: int
    name: str | None
    code: str | None
    category: str | None
    status: AlertStatus
    scope: AlertScope
    is_urgent: bool
    note: str | None
    start: str | None
    disable_on: str | None
    patient_id: strawberry.ID | None
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
