"""Providers: finding a practitioner (records: resolvers/model/practitioner.py)."""

from __future__ import annotations

from resolvers.context import Scope
from resolvers.loaders import Soon, node_of, when_loaded
from resolvers.model import practitioner as model


def get_practitioner(ctx: Scope, pid: str | None) -> Soon[model.Practitioner | None]:
    """The practitioner record (None when absent), or — until its batch is loaded — an awaitable of it."""
    if not pid:
        return None
    return when_loaded(ctx.loaders.practitioners_by_id, str(pid),
                       lambda res: node_of(ctx.loaders, res, model.from_fhir) if res else None)
