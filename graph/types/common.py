"""Small shared GraphQL types: lightweight references and codes."""

from __future__ import annotations

import strawberry


@strawberry.type(description="A lightweight reference to a related entity: its id and, when known, its name.")
class EntityRef:
    id: strawberry.ID
    name: str | None = None


@strawberry.type(description="A coded value (system, code, display).")
class Code:
    code: str | None
    system: str | None = None
    display: str | None = None


@strawberry.type
class Tag:
    code: str
    display: str | None = None
