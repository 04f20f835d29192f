"""A plain record of resolvers/model/ declared as a GraphQL object type in place (for records without
relation fields; the others are subclassed). Field descriptions given on the record with ``strawberry.field``
are kept: the record's dataclass took those fields off the class (or left their default there), and
strawberry's own dataclass pass needs them there again. Enums are declared with
``resolvers.model.common.enum_type``."""

from __future__ import annotations

import dataclasses
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
