"""Event names: the internal taxonomy (store/events.py) mapped to each consumer's names (DESIGN.md, "Events").

To add an event for a consumer: make the store emit it (store/events.py ``classify``), then add one line to
the consumer's table below; GraphQL exposes internal names as they are.
"""

from __future__ import annotations

# TeleClinic webhooks (seed 000). "appointment.cancelled" covers cancelled or rescheduled.
TELECLINIC: dict[str, str] = {
    "appointment.booked": "appointment.booked",
    "appointment.cancelled": "appointment.cancelled",
    "appointment.rescheduled": "appointment.cancelled",
    "encounter.started": "encounter.started",
    "encounter.ended": "encounter.ended",
    "document.signed": "document.signed",
    "patient.created": "patient.created",
    "claim.submitted": "claim.submitted",
    "payment.received": "payment.received",
    # Patient status transitions (seed 003 statuses).
    "patient.deactivated": "patient.inactive",
    "patient.deceased": "patient.deceased",
    "patient.archived": "patient.archived",
    "patient.reactivated": "patient.active",
    "patient.restored": "patient.active",
}
TELECLINIC_EVENTS = frozenset(TELECLINIC.values())

# qapi webhooks (seed 002): the event enum of POST /qapi/v1/webhooks.
QAPI: dict[str, str] = {
    "patient.created": "patient:created",
    "patient.updated": "patient:updated",
    "patient.deactivated": "patient:deactivated",
    "patient.reactivated": "patient:updated",
    "patient.deceased": "patient:updated",
    "patient.archived": "patient:updated",
    "patient.restored": "patient:updated",
    "appointment.booked": "appointment:scheduled",
    "appointment.rescheduled": "appointment:rescheduled",
    "appointment.cancelled": "appointment:cancelled",
    "appointment.completed": "appointment:completed",
    "appointment.incomplete": "appointment:incompleted",
    "appointment.noshow": "appointment:no-show",
    "appointment.lwbs": "appointment:lwbs",
    "episode.created": "episode:created",
    "episode.updated": "episode:updated",
}
QAPI_EVENTS = (
    "patient:created", "patient:updated", "patient:deactivated",
    "appointment:scheduled", "appointment:rescheduled", "appointment:cancelled", "appointment:completed",
    "appointment:incompleted", "appointment:no-show", "appointment:lwbs",
    "episode:created", "episode:updated",
)
# The payload's data key per resource type (seed 002 payload schemas).
QAPI_DATA_KEY = {"Patient": "patientId", "Appointment": "appointmentId", "EpisodeOfCare": "episodeId"}

# GraphQL appointmentEvents: the workflow transitions of an appointment.
APPOINTMENT_EVENTS = frozenset({
    "appointment.booked", "appointment.rescheduled", "appointment.cancelled", "appointment.arrived",
    "appointment.checked-in", "appointment.completed", "appointment.incomplete", "appointment.noshow",
    "appointment.lwbs", "appointment.updated", "appointment.deleted",
})


def teleclinic_name(internal: str, resource_type: str, criteria: frozenset[str]) -> str | None:
    """The name under which a TeleClinic-style webhook with ``criteria`` receives ``internal``, or None.

    Criteria items are TeleClinic names, internal names, a resource type (``Appointment`` or
    ``Appointment?``: all its events) or ``*``.
    """
    public = TELECLINIC.get(internal)
    if public is not None and public in criteria:
        return public
    if internal in criteria:
        return public or internal
    if "*" in criteria or resource_type in criteria or f"{resource_type}?" in criteria:
        return public or internal
    return None


def qapi_name(internal: str, criteria: frozenset[str]) -> str | None:
    name = QAPI.get(internal)
    return name if name is not None and name in criteria else None


def parse_criteria(criteria: str | None) -> frozenset[str]:
    return frozenset(filter(None, (c.strip() for c in (criteria or "").split(","))))
