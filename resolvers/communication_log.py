"""Communication logs: a patient's, with seed 003's filters, and logging a new entry (append-only; records and
their FHIR mapping: resolvers/model/communication_log.py)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from resolvers import catalog, chart
from resolvers.context import Info, Scope
from resolvers.loaders import Soon, when_loaded
from resolvers.model import communication_log as model
from resolvers.model.catalog import COMMUNICATION_TYPE_KIND, HL7_COMM_CATEGORIES
from resolvers.model.common import DATETIME, check_datetime, date_or_instant, within
from resolvers.model.patient import Patient
from resolvers.pagination import (
    DEFAULT_PAGE_SIZE,
    After,
    Connection,
    First,
    NumberedPage,
    Out,
    PageNumber,
    PageSize,
    Paging,
    Relay,
    numbered,
)
from store.errors import Invalid, NotFound
from store.fhirjson import concept, extension, reference
from store.naming import COMM_CATEGORY, CS, V3_MODE

DateFrom = Annotated[str | None, strawberry.argument(
    description="Sent on or after this moment: an ISO 8601 date-time with offset (e.g. 2026-01-01T00:00:00Z) or a "
                "date YYYY-MM-DD (from the start of that day).")]
DateTo = Annotated[str | None, strawberry.argument(
    description="Sent on or before this moment: an ISO 8601 date-time with offset or a date YYYY-MM-DD (the whole "
                "of that day included).")]
Mode = Annotated[str | None, strawberry.argument(
    description="Only this mode: phone, email, text, mail, in_person or fax; another value → VALIDATION.")]
Direction = Annotated[model.CommunicationDirection | None, strawberry.argument(
    description="Only sent or only received ones.")]
Text = Annotated[str | None, strawberry.argument(description="Free text in the note.")]
Source = Annotated[str | None, strawberry.argument(
    description="Only entries of this source: user, automated or integration; another value → VALIDATION.")]


def patient_communication_logs(root: Patient, info: Info, date_from: DateFrom = None, date_to: DateTo = None,
                               mode: Mode = None, direction: Direction = None, q: Text = None, first: First = None,
                               after: After = None, communication_source: Source = None
                               ) -> Soon[Connection[model.CommunicationLog]]:
    return _communication_logs(root, info, date_from, date_to, mode, direction, q, communication_source,
                               Relay(first, after))


def patient_communication_log_page(root: Patient, info: Info, date_from: DateFrom = None, date_to: DateTo = None,
                                   mode: Mode = None, direction: Direction = None, q: Text = None,
                                   communication_source: Source = None, page: PageNumber = 1,
                                   page_size: PageSize = DEFAULT_PAGE_SIZE
                                   ) -> Soon[NumberedPage[model.CommunicationLog]]:
    return _communication_logs(root, info, date_from, date_to, mode, direction, q, communication_source,
                               numbered(info.context, page, page_size))


def _communication_logs(root: Patient, info: Info, date_from: str | None, date_to: str | None, mode: str | None,
                        direction: model.CommunicationDirection | None, q: str | None,
                        communication_source: str | None, paging: Paging[Out]) -> Soon[Out]:
    """The patient's communication log, the latest first, with seed 003's filters."""
    start, end = date_or_instant(date_from, "date_from"), date_or_instant(date_to, "date_to")
    if mode is not None and mode not in model.MODE_CODE:
        raise Invalid("mode must be phone, email, mail, in_person, text or fax", field="mode")
    if communication_source is not None and communication_source not in model.SOURCES:
        raise Invalid("communicationSource must be user, automated or integration", field="communicationSource")
    needle = q.casefold() if q else None

    def page(rows: list[dict[str, Any]]) -> Out:
        nodes = [(r, n) for r, n in ((r, model.from_fhir(r)) for r in rows)
                 if within(n.communication_datetime, start, end)
                 and (not mode or n.mode == mode) and (direction is None or n.direction is direction)
                 and (communication_source is None or n.source == communication_source)
                 and (needle is None or needle in (n.note or "").casefold())]
        return paging(nodes, key=lambda t: t[1].communication_datetime or "", rid=lambda t: t[0]["id"],
                      node=lambda t: t[1], descending=True)

    return when_loaded(info.context.loaders.communications_by_patient, str(root.id), page)


def _check(f: dict[str, Any]) -> None:
    if not DATETIME.fullmatch(f.get("communication_datetime") or ""):
        raise Invalid("communicationDatetime must be an ISO 8601 date-time with its time zone "
                      "(e.g. 2025-01-15T09:00:00Z)", field="input.communicationDatetime")
    check_datetime(f["communication_datetime"], "communication_datetime")  # a calendar date and a time of day
    if f.get("mode") is not None and f["mode"] not in model.MODE_CODE:
        raise Invalid("mode must be phone, email, mail, in_person, text or fax", field="input.mode")
    if f.get("direction") is not None and f["direction"] not in model.DIRECTION_CODE:
        raise Invalid("direction must be sent, received or neither", field="input.direction")


async def create_communication_log(ctx: Scope, pid: str, f: dict[str, Any], idempotency_key: str | None = None
                                   ) -> model.CommunicationLog:
    """Log a communication (source ``user``), of a communication type (its code is the entry's category) or
    with a free category. Communications are append-only in the store: once written, an entry is never
    changed or removed."""
    _check(f)
    return await chart.once(ctx, "createCommunicationLog", "Communication", pid, idempotency_key, f,
                            lambda: _create(ctx, pid, f), model.from_fhir)


async def _create(ctx: Scope, pid: str, f: dict[str, Any]) -> model.CommunicationLog:
    subject = await chart.patient_reference(ctx, pid)
    f = await catalog.with_definition(ctx, COMMUNICATION_TYPE_KIND, {k: v for k, v in f.items() if v is not None})
    when = f["communication_datetime"]
    if when[16] != ":":  # HH:MM without seconds
        when = when[:16] + ":00" + when[16:]
    res: dict[str, Any] = {"resourceType": "Communication", "status": "completed", "subject": subject, "sent": when,
                           "extension": [extension("communication-source", "valueCode", "user"),
                                         extension("communication-recorder", "valueReference", chart.recorder(ctx))]}
    direction = model.DIRECTION_CODE.get(f.get("direction") or "neither")
    if direction:
        res["extension"].append(extension("communication-direction", "valueCoding",
                                          {"system": CS["communication-direction"], "code": direction}))
    if f.get("mode"):
        code = model.MODE_CODE[f["mode"]]
        res["medium"] = [concept(V3_MODE, code, model.MODE_DISPLAY[code])]
    if f.get("definition"):
        res["extension"].append(extension("communication-type", "valueReference", f["definition"]))
    display = f.get("category_display")
    if f.get("category"):
        system = COMM_CATEGORY if f["category"] in HL7_COMM_CATEGORIES else CS["communication-type"]
        res["category"] = [concept(system, f["category"], display, display)]
    elif display:
        res["category"] = [{"text": display}]
    if f.get("note"):
        res["payload"] = [{"contentString": f["note"]}]
    if f.get("appointment_id"):
        if await ctx.loaders.appointments_by_id.load(str(f["appointment_id"])) is None:
            raise NotFound(f"Appointment {f['appointment_id']} not found", field="input.appointmentId")
        res["about"] = [reference("Appointment", str(f["appointment_id"]))]
    return model.from_fhir(await chart.create(ctx, res))
