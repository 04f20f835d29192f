from __future__ import annotations

import strawberry

from graph.entity import Entity
from resolvers import practitioner as practitioner_r
from resolvers.model import practitioner


@strawberry.federation.type(keys=["id"], description="A provider (FHIR Practitioner).")
class Practitioner(practitioner.Practitioner, Entity):
    record = practitioner.Practitioner
    find = practitioner_r.get_practitioner
