"""The event taxonomy mapping of shared/DESIGN.md ("Events")."""

from __future__ import annotations

import pytest

from store.events import INTERNAL_TYPES
from subscriptions.taxonomy import QAPI, QAPI_EVENTS, TELECLINIC, parse_criteria, qapi_name, teleclinic_name


@pytest.mark.parametrize(("internal", "public"), [
    ("patient.created", "patient.created"),
    ("appointment.booked", "appointment.booked"),
    ("appointment.cancelled", "appointment.cancelled"),
    ("appointment.rescheduled", "appointment.cancelled"),  # "cancelled or rescheduled" (seed 000)
    ("encounter.started", "encounter.started"),
    ("encounter.ended", "encounter.ended"),
    ("document.signed", "document.signed"),
    ("claim.submitted", "claim.submitted"),
    ("payment.received", "payment.received"),
    ("patient.deactivated", "patient.inactive"),
    ("patient.deceased", "patient.deceased"),
])
def test_teleclinic_names(internal: str, public: str) -> None:
    assert TELECLINIC[internal] == public
    assert teleclinic_name(internal, "X", frozenset({public})) == public


@pytest.mark.parametrize(("internal", "public"), [
    ("patient.created", "patient:created"), ("patient.updated", "patient:updated"),
    ("patient.deactivated", "patient:deactivated"), ("appointment.booked", "appointment:scheduled"),
    ("appointment.rescheduled", "appointment:rescheduled"), ("appointment.cancelled", "appointment:cancelled"),
    ("appointment.completed", "appointment:completed"), ("appointment.incomplete", "appointment:incompleted"),
    ("appointment.noshow", "appointment:no-show"), ("appointment.lwbs", "appointment:lwbs"),
    ("episode.created", "episode:created"), ("episode.updated", "episode:updated"),
])
def test_qapi_names(internal: str, public: str) -> None:
    assert QAPI[internal] == public
    assert qapi_name(internal, frozenset({public})) == public
    assert qapi_name(internal, frozenset(QAPI_EVENTS) - {public}) is None


def test_every_mapped_name_is_an_internal_event_and_every_qapi_event_is_reachable() -> None:
    assert set(TELECLINIC) <= set(INTERNAL_TYPES) and set(QAPI) <= set(INTERNAL_TYPES)
    assert set(QAPI.values()) == set(QAPI_EVENTS)


def test_criteria_forms() -> None:
    criteria = parse_criteria(" appointment.booked, Encounter? ,")
    assert criteria == frozenset({"appointment.booked", "Encounter?"})
    assert teleclinic_name("encounter.updated", "Encounter", criteria) == "encounter.updated"
    assert teleclinic_name("patient.created", "Patient", criteria) is None
    assert teleclinic_name("payment.received", "PaymentNotice", frozenset({"*"})) == "payment.received"
