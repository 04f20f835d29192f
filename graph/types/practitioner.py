from __future__ import annotations

import strawberry

from graph.context import Info
from resolvers.loaders import settle


@strawberry.federation.type(keys=["id"], description="A provider (FHIR Practitioner).")
class Practitioner:
    id: strawberry.ID
    name: str
    first_name: str | None
    last_name: str | None
    prefix: str | None
    npi: str | None
    email: str | None
    phone: str | None
    active: bool

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Practitioner | None:
        from resolvers import practitioner as practitioner_r

        return await settle(practitioner_r.get_practitioner(info, id))
