"""The disease or problem computed from a FHIR Condition."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from store.fhirjson import code_of, date_part, text_of, version
from store.naming import SNOMED


class ProblemStatus(Enum):
    ACTIVE = "active"
    RESOLVED = "resolved"
    INACTIVE = "inactive"


_STATUS = {s.value: s for s in ProblemStatus}
# Condition clinical statuses shown as active problems.
ACTIVE_STATUSES = ("active", "recurrence", "relapse")


@dataclass(eq=False, kw_only=True)
class Problem:
    id: strawberry.ID
    version: int
    name: str | None
    snomed_code: str | None
    status: ProblemStatus | None
    category: str | None
    date_start: str | None
    date_stop: str | None
    note: str | None


def from_fhir(res: dict[str, Any]) -> Problem:
    status = code_of(res.get("clinicalStatus"))
    return Problem(
        id=res["id"], version=version(res), name=text_of(res.get("code")),
        snomed_code=code_of(res.get("code"), SNOMED),
        status=_STATUS.get(status or "", ProblemStatus.ACTIVE if status in ACTIVE_STATUSES else None),
        category=next((code_of(c) for c in res.get("category") or ()), None),
        date_start=date_part(res.get("onsetDateTime")), date_stop=date_part(res.get("abatementDateTime")),
        note=next((n.get("text") for n in res.get("note") or () if n.get("text")), None),
    )
