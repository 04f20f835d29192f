"""Communication logs: a patient's, with seed 003's filters (records: resolvers/model/communication_log.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers.context import Info
from resolvers.loaders import Soon, when_loaded
from resolvers.model import communication_log as model
from resolvers.model.patient import Patient
from resolvers.pagination import After, Connection, First, resolve_connection


def patient_communication_logs(
    root: Patient,
    info: Info,
    date_from: Annotated[str | None, strawberry.argument(description="On or after this date, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, strawberry.argument(description="On or before this date, YYYY-MM-DD.")] = None,
    mode: Annotated[str | None, strawberry.argument(
        description="Only this mode: phone, email, text, mail, in_person or fax.")] = None,
    direction: Annotated[model.CommunicationDirection | None, strawberry.argument(
        description="Only sent or only received ones.")] = None,
    q: Annotated[str | None, strawberry.argument(description="Free text in the note.")] = None,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.CommunicationLog]]:
    needle = q.casefold() if q else None

    def page(rows: list[dict[str, Any]]) -> Connection[model.CommunicationLog]:
        nodes = [(r, n) for r, n in ((r, model.from_fhir(r)) for r in rows)
                 if (not date_from or (n.communication_datetime or "") >= date_from)
                 and (not date_to or (n.communication_datetime or "")[:len(date_to)] <= date_to)
                 and (not mode or n.mode == mode) and (direction is None or n.direction is direction)
                 and (needle is None or needle in (n.note or "").casefold())]
        return resolve_connection(nodes, key=lambda t: t[1].communication_datetime or "", rid=lambda t: t[0]["id"],
                                  node=lambda t: t[1], first=first, after=after, descending=True)

    return when_loaded(info.context.loaders.communications_by_patient, str(root.id), page)
