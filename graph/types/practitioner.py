from __future__ import annotations

from typing import Any

import strawberry

from resolvers import practitioner as practitioner_r
from resolvers.context import Info
from resolvers.loaders import settle
from resolvers.model import practitioner


@strawberry.federation.type(keys=["id"], description="A provider (FHIR Practitioner).")
class Practitioner(practitioner.Practitioner):
    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, practitioner.Practitioner)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> practitioner.Practitioner | None:
        found: practitioner.Practitioner | None = await settle(practitioner_r.get_practitioner(info.context, id))
        return found
