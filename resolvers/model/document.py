"""The patient document or signed note computed from a FHIR DocumentReference."""

# Annotations are evaluated (no `from __future__ import annotations`): graph/types/ declares GraphQL types
# over these records in other modules, where strawberry could not resolve them as strings.

from dataclasses import dataclass
from typing import Any

import strawberry

from store.fhirjson import text_of, version


@dataclass(eq=False, kw_only=True)
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


def from_fhir(res: dict[str, Any]) -> Document:
    att = ((res.get("content") or [{}])[0]).get("attachment") or {}
    return Document(
        id=res["id"], version=version(res), title=att.get("title"), description=res.get("description"),
        type=text_of(res.get("type")), status=res.get("status"), doc_status=res.get("docStatus"),
        date=res.get("date"), signed=res.get("docStatus") == "final" and bool(res.get("authenticator")),
        content_type=att.get("contentType"),
    )
