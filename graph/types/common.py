"""Small shared GraphQL types: lightweight references and tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.record import object_type
from resolvers import catalog as catalog_r
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

__all__ = ["EntityRef", "Tag"]
