"""The outbox (DESIGN.md decision 6): every write appends one event with a per-tenant increasing sequence.

Internal event names are ``<domain>.<what>``; consumers map them to their own names
(subscriptions/taxonomy.py). To add an event: teach ``classify`` to recognise the transition, add the
name to ``INTERNAL_TYPES``, then map it for the consumers that want it.
"""

from __future__ import annotations

import uuid
from typing import Any

from store.fhirjson import ext, ref_id

INTERNAL_TYPES = (
    "patient.created", "patient.updated", "patient.deactivated", "patient.reactivated", "patient.deceased",
    "patient.archived", "patient.restored", "patient.deleted",
    "appointment.booked", "appointment.rescheduled", "appointment.cancelled", "appointment.arrived",
    "appointment.checked-in", "appointment.completed", "appointment.incomplete", "appointment.noshow",
    "appointment.lwbs", "appointment.updated", "appointment.deleted",
    "encounter.started", "encounter.ended", "encounter.updated",
    "document.created", "document.signed", "document.updated",
    "episode.created", "episode.updated",
    "claim.submitted", "payment.received",
)

# Events are not emitted for the server's own bookkeeping resources.
SILENT_TYPES = frozenset({"Provenance", "AuditEvent"})


def patient_status(resource: dict[str, Any] | None) -> str | None:
    if resource is None:
        return None
    status = ext(resource, "patient-status")
    if status:
        return str(status)
    if resource.get("deceasedBoolean") or resource.get("deceasedDateTime"):
        return "deceased"
    return "inactive" if resource.get("active") is False else "active"


def classify(action: str, old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """The internal event type of a write. ``action`` is create | update | delete."""
    rt = new.get("resourceType", "")
    if rt == "Patient":
        return _patient(action, old, new)
    if rt == "Appointment":
        return _appointment(action, old, new)
    if rt == "Encounter":
        if action == "create" and new.get("status") == "in-progress":
            return "encounter.started"
        if new.get("status") == "in-progress" and (old or {}).get("status") != "in-progress":
            return "encounter.started"
        if new.get("status") == "finished" and (old or {}).get("status") != "finished":
            return "encounter.ended"
        return f"encounter.{'created' if action == 'create' else 'updated'}"
    if rt == "DocumentReference":
        signed = new.get("docStatus") == "final" and bool(new.get("authenticator"))
        was_signed = bool(old) and (old or {}).get("docStatus") == "final" and bool((old or {}).get("authenticator"))
        if signed and not was_signed:
            return "document.signed"
        return f"document.{'created' if action == 'create' else 'updated'}"
    if rt == "EpisodeOfCare":
        return "episode.created" if action == "create" else "episode.updated"
    # A claim is submitted, a payment received, when the resource becomes active: created active, or moved to
    # active from another status (a draft claim is not submitted; a cancelled notice is no payment).
    if rt == "Claim" and action != "delete" and _became(old, new, "active"):
        return "claim.submitted"
    if rt == "PaymentNotice" and action != "delete" and _became(old, new, "active"):
        return "payment.received"
    return f"{rt[:1].lower()}{rt[1:]}.{action}d"


def _became(old: dict[str, Any] | None, new: dict[str, Any], status: str) -> bool:
    return new.get("status") == status and (old or {}).get("status") != status


def _patient(action: str, old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    if action == "create":
        return "patient.created"
    if action == "delete":
        return "patient.deleted"
    before, after = patient_status(old), patient_status(new)
    if before != after:
        return {
            "inactive": "patient.deactivated",
            "deceased": "patient.deceased",
            "archived": "patient.archived",
        }.get(after or "", "patient.restored" if before == "archived" else "patient.reactivated")
    return "patient.updated"


_APPT_STATUS = {
    "booked": "appointment.booked",
    "cancelled": "appointment.cancelled",
    "arrived": "appointment.arrived",
    "checked-in": "appointment.checked-in",
    "fulfilled": "appointment.completed",
    "noshow": "appointment.noshow",
    "entered-in-error": "appointment.cancelled",
}


# The qapi workflow (EXT["appointment-workflow-status"]) moving to one of these is that event, whether or not the
# FHIR status moves with it (a front end may record "left without being seen" before closing the appointment).
_FLOW_EVENTS = {"incomplete": "appointment.incomplete", "lwbs": "appointment.lwbs",
                "not showed up": "appointment.noshow"}


def _appointment(action: str, old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    if action == "delete":
        return "appointment.deleted"
    status = new.get("status")
    workflow = ext(new, "appointment-workflow-status")
    if action == "create":
        return "appointment.booked" if status in ("booked", "pending", "proposed", "waitlist") else \
            _APPT_STATUS.get(str(status), "appointment.updated")
    old = old or {}
    flow_moved = workflow != ext(old, "appointment-workflow-status") and workflow in _FLOW_EVENTS
    if status != old.get("status"):
        if workflow in ("incomplete", "lwbs") and status in ("fulfilled", "noshow", "cancelled"):
            return f"appointment.{workflow}"
        if flow_moved:
            return _FLOW_EVENTS[str(workflow)]
        return _APPT_STATUS.get(str(status), "appointment.updated")
    if flow_moved:
        return _FLOW_EVENTS[str(workflow)]
    if status == "booked" and (new.get("start"), new.get("end")) != (old.get("start"), old.get("end")):
        return "appointment.rescheduled"
    return "appointment.updated"


def patient_ref(resource: dict[str, Any]) -> str | None:
    """The patient a resource is about, as ``Patient/<id>``, for event filtering (``events(patientId:)``)."""
    if resource.get("resourceType") == "Patient":
        return f"Patient/{resource.get('id')}"
    candidates = [resource.get("subject"), resource.get("patient"),
                  *((part or {}).get("actor") for part in resource.get("participant") or [])]
    pid = next((rid for ref in candidates if (rid := ref_id(ref, "Patient"))), None)
    return f"Patient/{pid}" if pid else None


def make_event(tenant: str, seq: int, action: str, event_type: str, resource: dict[str, Any],
               occurred_at: str) -> dict[str, Any]:
    return {
        "_id": str(uuid.uuid4()),
        "tenant": tenant,
        "seq": seq,
        "type": event_type,
        "action": action,
        "resourceType": resource["resourceType"],
        "resourceId": resource["id"],
        "versionId": resource["meta"]["versionId"],
        "patient": patient_ref(resource),
        "occurredAt": occurred_at,
    }
