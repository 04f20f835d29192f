"""Who is calling: a tenant (clinic), a subject and the scopes granted. Set on ``scope["auth"]``."""

from __future__ import annotations

from dataclasses import dataclass, field

from store.types import check_tenant


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    via: str = "default"  # default | api-key | token

    def __post_init__(self) -> None:
        check_tenant(self.tenant)  # the store keys every document by it: see store/types.py

    def __repr__(self) -> str:  # never print credentials or more than needed in logs
        return f"Principal(tenant={self.tenant!r}, subject={self.subject!r}, via={self.via!r})"
