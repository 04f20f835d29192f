"""The provider computed from a FHIR Practitioner."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION
from store.fhirjson import ident

NPI = "http://hl7.org/fhir/sid/us-npi"


@dataclass(eq=False, kw_only=True)
class Practitioner:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    name: str = strawberry.field(
        description="Name for display, with prefix and credentials, e.g. Dr. Amelia Howard, DO.")
    first_name: str | None = strawberry.field(description="First (given) name.")
    last_name: str | None = strawberry.field(description="Last (family) name.")
    prefix: str | None = strawberry.field(description="Name prefix, e.g. Dr.")
    npi: str | None = strawberry.field(description="US National Provider Identifier (10 digits).")
    email: str | None = strawberry.field(description="Work email address.")
    phone: str | None = strawberry.field(description="Work phone number.")
    active: bool = strawberry.field(description="The practitioner is active (can be booked).")


def _parts(res: dict[str, Any]) -> tuple[str | None, str | None, str | None, str]:
    """Prefix, first and last name, and the full name as the practice shows it (its text, else the parts)."""
    name = (res.get("name") or [{}])[0]
    given = name.get("given") or []
    prefix = (name.get("prefix") or [None])[0]
    first, last = (given[0] if given else None), name.get("family")
    return prefix, first, last, name.get("text") or " ".join(x for x in (prefix, first, last) if x)


def full_name(res: dict[str, Any]) -> str:
    """A practitioner's name wherever it is shown: ``Practitioner.name``, and every ``provider {name}``."""
    return _parts(res)[3]


def from_fhir(res: dict[str, Any]) -> Practitioner:
    prefix, first, last, full = _parts(res)
    tel = {t.get("system"): t.get("value") for t in reversed(res.get("telecom") or [])}
    return Practitioner(
        id=res["id"], name=full, first_name=first, last_name=last, prefix=prefix, npi=ident(res, NPI),
        email=tel.get("email"), phone=tel.get("phone"), active=res.get("active", True) is not False)
