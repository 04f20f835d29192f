from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.record import object_type
from resolvers import alert as alert_r
from resolvers.model.alert import Alert, AlertScope, AlertStatus, BulkDismissResult

if TYPE_CHECKING:
    from graph.types.catalog import AlertDefinition


# The alert's definition, resolved through the per-request loader of catalog entries (one read per depth);
# declared on the record in place, so that every list of alerts (the patient's, the medical summary's) has it.
Alert.alert_definition = strawberry.field(  # type: ignore[attr-defined]
    resolver=alert_r.alert_definition,
    graphql_type=Annotated["AlertDefinition", strawberry.lazy("graph.types.catalog")] | None,
    description="The org alert definition this alert instantiates (archived definitions included); null for "
                "alerts recorded without one.")
object_type(Alert, description="A patient alert (FHIR Flag) instantiating an org alert definition.")
object_type(BulkDismissResult, description="What bulkDismissAlerts did.")

__all__ = ["Alert", "AlertScope", "AlertStatus", "BulkDismissResult"]
