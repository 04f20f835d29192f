"""A plain record of resolvers/model/ declared as a GraphQL object type in place (for records without
relation fields; the others are subclassed). Field descriptions given on the record with ``strawberry.field``
are kept: the record's dataclass took those fields off the class, and strawberry's own dataclass pass needs
them there again."""

from __future__ import annotations

import dataclasses
from enum import EnumMeta
from typing import Any, TypeVar

import strawberry
from strawberry.types.field import StrawberryField

T = TypeVar("T", bound=type)


def object_type(record: T, **options: Any) -> T:
    for field in dataclasses.fields(record):
        # (a field with a default left the default there instead: put the field back all the same)
        if isinstance(field, StrawberryField) and not isinstance(vars(record).get(field.name), StrawberryField):
            setattr(record, field.name, field)
    return strawberry.type(record, **options)


E = TypeVar("E", bound=EnumMeta)


def enum_type(enum: E, description: str, values: dict[Any, str]) -> E:
    """A Python enum of resolvers/model/ declared as a GraphQL enum in place, with a description for the type
    and for each of its values (keyed by member), which strawberry otherwise only takes from ``enum_value``
    members — and those would change the records' plain enums."""
    strawberry.enum(enum, description=description)
    by_value = {member.value: text for member, text in values.items()}
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = by_value[value.value]
    return enum
