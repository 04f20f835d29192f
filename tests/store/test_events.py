"""Appointment events of the qapi workflow (seed 002 appointment:incompleted, :no-show, :lwbs): the store names
them whichever door wrote the change — a FHIR status move, or the workflow extension moving alone."""

from __future__ import annotations

from typing import Any

import pytest

from store.events import classify
from store.naming import EXT


def _appt(status: str, flow: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Appointment", "id": "a", "status": status}
    if flow:
        out["extension"] = [{"url": EXT["appointment-workflow-status"], "valueCode": flow}]
    return out


@pytest.mark.parametrize(("old", "new", "event"), [
    (_appt("booked", "scheduled"), _appt("noshow", "not showed up"), "appointment.noshow"),
    (_appt("booked", "scheduled"), _appt("noshow"), "appointment.noshow"),
    (_appt("booked", "scheduled"), _appt("booked", "not showed up"), "appointment.noshow"),
    (_appt("arrived", "arrived"), _appt("fulfilled", "incomplete"), "appointment.incomplete"),
    (_appt("arrived", "arrived"), _appt("arrived", "incomplete"), "appointment.incomplete"),
    (_appt("arrived", "arrived"), _appt("cancelled", "lwbs"), "appointment.lwbs"),
    (_appt("arrived", "arrived"), _appt("arrived", "lwbs"), "appointment.lwbs"),
    (_appt("booked", "scheduled"), _appt("arrived", "lwbs"), "appointment.lwbs"),
    (_appt("arrived", "lwbs"), _appt("arrived", "lwbs"), "appointment.updated"),  # no change: no second event
    (_appt("arrived", "arrived"), _appt("fulfilled", "completed"), "appointment.completed"),
])
def test_workflow_events(old: dict[str, Any], new: dict[str, Any], event: str) -> None:
    assert classify("update", old, new) == event
