from __future__ import annotations

import strawberry

from graph.record import object_type
from graph.types.common import chart_refs
from resolvers import chart as chart_r
from resolvers.model.catalog import COMMUNICATION_TYPE_KIND
from resolvers.model.common import EntityRef
from resolvers.model.communication_log import CommunicationDirection, CommunicationLog

chart_refs(CommunicationLog, "this communication was with", definition=(
    "communication_type", COMMUNICATION_TYPE_KIND, "CommunicationTypeDefinition",
    "The org communication type it was logged with (archived ones included); null when logged without one."))
CommunicationLog.created_by = strawberry.field(  # type: ignore[attr-defined]
    resolver=chart_r.created_by, graphql_type=EntityRef | None,
    description="Who logged it: the staff member (their practitioner record's id and current name) or the "
                "patient who was signed in; for an API client without a user record, its client name as both id "
                "and name. For an entry written by another system, the practitioner who sent it, when one did; "
                "else null.")
object_type(CommunicationLog, description="A communication log entry (FHIR Communication; append-only).")

__all__ = ["CommunicationDirection", "CommunicationLog"]
