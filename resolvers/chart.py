"""What the chart's record mutations and lists share: the patient a new record is about, the write itself,
and the newest-first order of a dated list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resolvers.context import Scope
from store.errors import NotFound

Resource = dict[str, Any]


async def patient_reference(ctx: Scope, pid: str) -> dict[str, str]:
    """A reference to the patient ``pid``; ``NotFound`` when there is none."""
    if await ctx.loaders.patients_by_id.load(str(pid)) is None:
        raise NotFound(f"Patient {pid} not found")
    return {"reference": f"Patient/{pid}"}


async def create(ctx: Scope, res: Resource) -> Resource:
    """Write a new chart record (validated, versioned, with its Provenance and event) and return it."""
    written = await ctx.repo.create(ctx.who, res)  # the store assigns the id
    return written.resource


def by_date(field: str) -> Callable[[Resource], str]:
    """The sort key of a list ordered by one dated element."""
    return lambda r: str(r.get(field) or "")
