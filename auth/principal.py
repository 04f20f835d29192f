"""Who is calling: a tenant (clinic), a subject and the scopes granted. Set on ``scope["auth"]``.

A principal from an access token also carries its context: the client it was issued to, the signed-in user
(``fhirUser``, e.g. ``Practitioner/123``), the launch patient whose compartment a ``patient/`` scope is confined
to, the token's id (for revocation) and when it expires (epoch seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from store.types import check_tenant


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    via: str = "default"  # default | api-key | token
    client_id: str | None = None
    user: str | None = None  # fhirUser reference: Practitioner/ID, Patient/ID or RelatedPerson/ID
    patient: str | None = None  # launch context: the Patient id a patient/ scope is confined to
    token_id: str | None = None  # the access token's jti
    expires_at: float | None = None  # epoch seconds; None: does not expire (API keys, the trial default)

    def __post_init__(self) -> None:
        check_tenant(self.tenant)  # the store keys every document by it: see store/types.py

    def __repr__(self) -> str:  # never print credentials or more than needed in logs
        return f"Principal(tenant={self.tenant!r}, subject={self.subject!r}, via={self.via!r})"
