"""The patient document or signed note computed from a FHIR DocumentReference."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.common import ID_DESCRIPTION, VERSION_DESCRIPTION
from store.fhirjson import text_of, version


@dataclass(eq=False, kw_only=True)
class Document:
    id: strawberry.ID = strawberry.field(description=ID_DESCRIPTION)
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    title: str | None = strawberry.field(description="The document's title.")
    description: str | None = strawberry.field(description="Short description.")
    type: str | None = strawberry.field(description="Kind of document, as text (e.g. Progress note).")
    status: str | None = strawberry.field(description="current, superseded or entered-in-error.")
    doc_status: str | None = strawberry.field(description="Authoring status: preliminary, final, amended, …")
    date: str | None = strawberry.field(
        description="When it was written, ISO 8601 date-time with offset, e.g. 2026-05-01T14:30:00Z.")
    signed: bool = strawberry.field(description="The document is signed (final).")
    content_type: str | None = strawberry.field(description="Media type of the attachment, e.g. application/pdf.")


def from_fhir(res: dict[str, Any]) -> Document:
    att = ((res.get("content") or [{}])[0]).get("attachment") or {}
    return Document(
        id=res["id"], version=version(res), title=att.get("title"), description=res.get("description"),
        type=text_of(res.get("type")), status=res.get("status"), doc_status=res.get("docStatus"),
        date=res.get("date"), signed=res.get("docStatus") == "final" and bool(res.get("authenticator")),
        content_type=att.get("contentType"),
    )
