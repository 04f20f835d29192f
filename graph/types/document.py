from __future__ import annotations

from graph.record import object_type
from resolvers.model.document import Document

object_type(Document, description="A patient document or signed note (FHIR DocumentReference).")

__all__ = ["Document"]
