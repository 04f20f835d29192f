"""Providers: FHIR Practitioner → GraphQL ``Practitioner``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graph.types import practitioner as practitioner_t
from resolvers.fhir import ident
from resolvers.loaders import MISSING, node_of, ready, then

if TYPE_CHECKING:
    from graph.context import Info

NPI = "http://hl7.org/fhir/sid/us-npi"


def from_fhir(res: dict[str, Any]) -> practitioner_t.Practitioner:
    name = (res.get("name") or [{}])[0]
    given = name.get("given") or []
    prefix = (name.get("prefix") or [None])[0]
    first, last = (given[0] if given else None), name.get("family")
    full = name.get("text") or " ".join(x for x in (prefix, first, last) if x)
    tel = {t.get("system"): t.get("value") for t in reversed(res.get("telecom") or [])}
    return practitioner_t.Practitioner(
        id=res["id"], name=full, first_name=first, last_name=last, prefix=prefix, npi=ident(res, NPI),
        email=tel.get("email"), phone=tel.get("phone"), active=res.get("active", True) is not False)


def get_practitioner(info: Info, pid: str | None) -> Any:
    """The practitioner node (or, until its batch is loaded, an awaitable of it)."""
    if not pid:
        return None
    loader = info.context.loaders.practitioners_by_id
    res = ready(loader, str(pid))
    if res is MISSING:
        return then(loader.load(str(pid)), get_practitioner, info, pid)
    return node_of(info.context.loaders, res, from_fhir) if res else None
