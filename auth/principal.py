"""Who is calling: a tenant (clinic), a subject and the scopes granted. Set on ``scope["auth"]``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    via: str = "default"  # default | api-key | token

    def __repr__(self) -> str:  # never print credentials or more than needed in logs
        return f"Principal(tenant={self.tenant!r}, subject={self.subject!r}, via={self.via!r})"
