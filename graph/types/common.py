"""Small shared GraphQL types: lightweight references and tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from graph.record import object_type
from resolvers import catalog as catalog_r
from resolvers import chart as chart_r
from resolvers.model.common import EntityRef, Tag

if TYPE_CHECKING:
    from graph.types.catalog import TagDefinition

_TagDefinition = Annotated["TagDefinition", strawberry.lazy("graph.types.catalog")]

object_type(EntityRef, description="A lightweight reference to a related entity: its id and, when known, its name.")
# A patient tag's definition, resolved through the per-request loader of catalog entries (one read per depth).
Tag.definition = strawberry.field(  # type: ignore[attr-defined]
    resolver=catalog_r.tag_definition, graphql_type=_TagDefinition | None,
    description="The org tag definition (archived ones included); null for a free code without one.")
Tag.name = strawberry.field(  # type: ignore[attr-defined]
    resolver=catalog_r.tag_name, graphql_type=str | None,
    description="The tag definition's current name (else the name it had when assigned).")
Tag.color = strawberry.field(  # type: ignore[attr-defined]
    resolver=catalog_r.tag_color, graphql_type=str | None,
    description="The tag definition's display colour, CSS hex (#RGB or #RRGGBB), when set.")
object_type(Tag, description="A tag assigned to a patient, referring to an org tag definition.")



def chart_refs(record: type, what: str, *, provider: str | None = None,
               definition: tuple[str, str, str, str] | None = None) -> None:
    """Declare on a chart record, in place, ``patient`` (and, given its description, ``provider``) as ``{id
    name}`` beside its ``patientId`` / ``providerId``, and, given ``definition`` (field name, catalog kind, GraphQL
    type, description), the org definition it was recorded from: read through the operation's batched loaders
    (one read per depth), in every list holding the record."""
    fields: dict[str, Any] = {"patient": strawberry.field(
        resolver=chart_r.patient_ref, graphql_type=EntityRef | None,
        description=f"The patient {what}, with their first and last name (its id is patientId).")}
    if provider is not None:
        fields["provider"] = strawberry.field(resolver=chart_r.provider_ref, graphql_type=EntityRef | None,
                                              description=f"{provider}, with their name (its id is providerId).")
    if definition is not None:
        name, kind, type_name, description = definition
        fields[name] = strawberry.field(
            resolver=catalog_r.record_definition(kind), description=description,
            graphql_type=Annotated[type_name, strawberry.lazy("graph.types.catalog")] | None)
    for name, field in fields.items():
        setattr(record, name, field)


__all__ = ["EntityRef", "Tag", "chart_refs"]
