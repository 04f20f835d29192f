"""The disease or problem computed from a FHIR Condition."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION, enum_type
from store.fhirjson import code_of, date_part, text_of, version
from store.naming import SNOMED


class ProblemStatus(Enum):
    ACTIVE = "active"
    RESOLVED = "resolved"
    INACTIVE = "inactive"


enum_type(ProblemStatus, description="Clinical status of a problem or diagnosis.", values={
    ProblemStatus.ACTIVE: "Current.",
    ProblemStatus.RESOLVED: "Resolved.",
    ProblemStatus.INACTIVE: "No longer active, not resolved.",
})


_STATUS = {s.value: s for s in ProblemStatus}
# Condition clinical statuses shown as active problems.
ACTIVE_STATUSES = ("active", "recurrence", "relapse")


@dataclass(eq=False, kw_only=True)
class Problem:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    name: str | None = strawberry.field(description="The problem or diagnosis, as text.")
    snomed_code: str | None = strawberry.field(description="SNOMED CT code of the problem.")
    status: ProblemStatus | None = strawberry.field(description="Clinical status; null when not recorded.")
    category: str | None = strawberry.field(description="problem-list-item or encounter-diagnosis.")
    date_start: str | None = strawberry.field(description="Onset date, YYYY-MM-DD.")
    date_stop: str | None = strawberry.field(description="Resolution date, YYYY-MM-DD; null while active.")
    note: str | None = strawberry.field(description="Free-text note.")


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
