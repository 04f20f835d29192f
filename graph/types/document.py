from __future__ import annotations

import strawberry


@strawberry.type(description="A patient document or signed note (FHIR DocumentReference).")
class Document:
    id: strawberry.ID
    version: int
    title: str | None
    description: str | None
    type: str | None
    status: str | None
    doc_status: str | None
    date: str | None
    signed: bool
    content_type: str | None
