"""Small shared records: lightweight references and tags."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=Enum)


@dataclass(eq=False, kw_only=True)
class EntityRef:
    id: strawberry.ID = strawberry.field(description="Id of the referenced record (a location, provider, …).")
    name: str | None = strawberry.field(default=None, description="Its display name, when known.")


@dataclass(eq=False, kw_only=True)
class Tag:
    code: str = strawberry.field(description="The tag's code, e.g. vip.")
    display: str | None = strawberry.field(
        default=None, description="The tag's label for display, when the practice gave one.")


def provided(fields: dict[str, object]) -> dict[str, object]:
    """The entries a client actually sent (the door leaves the others out or as ``strawberry.UNSET``)."""
    return {k: v for k, v in fields.items() if v is not strawberry.UNSET}


def opt_id(value: str | None) -> strawberry.ID | None:
    """An id field's value: a GraphQL ID, or None for a missing or empty one."""
    return strawberry.ID(value) if value else None


def enum_type(enum: type[E], *, description: str, values: dict[str, str]) -> type[E]:
    """``strawberry.enum`` with a description of each value, by member name: every member needs one (the schema
    test checks that nothing is left undescribed). Registered here, beside the enum: a type declared before it
    would meet the enum undescribed."""
    strawberry.enum(enum, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.name]
    return enum
