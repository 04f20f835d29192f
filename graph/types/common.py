"""Small shared GraphQL types: lightweight references and tags."""

from __future__ import annotations

from graph.record import object_type
from resolvers.model.common import EntityRef, Tag

object_type(EntityRef, description="A lightweight reference to a related entity: its id and, when known, its name.")
object_type(Tag, description="A tag the practice put on a patient (e.g. vip).")

__all__ = ["EntityRef", "Tag"]
