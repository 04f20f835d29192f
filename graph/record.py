"""A plain record of resolvers/model/ declared as a GraphQL object type in place (for records without
relation fields; the others are subclassed). Field descriptions given on the record with ``strawberry.field``
are kept: the record's dataclass took those fields off the class, and strawberry's own dataclass pass needs
them there again."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.types.field import StrawberryField

T = TypeVar("T", bound=type)


def object_type(record: T, **options: Any) -> T:
    for field in dataclasses.fields(record):
        if isinstance(field, StrawberryField) and field.name not in vars(record):
            setattr(record, field.name, field)
    return strawberry.type(record, **options)


E = TypeVar("E", bound=type[Enum])


def enum_type(enum: E, description: str, values: dict[str, str]) -> E:
    """A record's plain Enum declared as a GraphQL enum, with a description for itself and for each value
    (``values`` by member name): the records stay plain Python enums, usable before the schema exists."""
    strawberry.enum(enum, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.name]
    return enum
