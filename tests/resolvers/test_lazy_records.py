"""The lazily mapped records (``LazyPatient``, ``LazyAppointment``: what the GraphQL reads build) equal the eagerly
mapped ones (``from_fhir``) field by field, whatever fields are asked for first."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from app.demo.clinic import generate_clinic
from resolvers.model import appointment, family
from resolvers.model import patient as model
from resolvers.model.patient import FIELDS, LazyPatient
from store.naming import EXT, SID
from tests.factories import make_appointment, make_patient


def _ext(name: str, key: str, value: Any) -> dict[str, Any]:
    return {"url": EXT[name], key: value}


def _patients() -> list[dict[str, Any]]:
    demo = [r for r in generate_clinic(40) if r["resourceType"] == "Patient"]
    odd = [
        {"resourceType": "Patient", "id": "bare"},
        {**make_patient(), "id": "made"},
        {**make_patient(name=[{"use": "nickname", "given": ["Mo"]}, {"text": "Maria R"}]), "id": "named",
         "meta": {"versionId": "1", "lastUpdated": "2026-01-02T03:04:05Z",
                  "tag": [{"system": "https://x", "code": "a"}]}},
        {**make_patient(), "id": "archived", "extension": [
            _ext("patient-status", "valueCode", "archived"), _ext("deleted-at", "valueDateTime", "2026-02-01"),
            _ext("balance-total", "valueDecimal", 900.5), _ext("consent-flags", "valueInteger", 5)]},
        {**make_patient(), "id": "inactive", "generalPractitioner": [{"reference": "Practitioner/a"},
                                                                      {"reference": "Practitioner/b"}],
         "extension": [_ext("patient-status", "valueCode", "inactive"), _ext("balance-total", "valueDecimal", True)]},
    ]
    return demo + odd


PATIENTS = _patients()


def _plain(value: Any) -> Any:
    """A field's value compared by value (records such as ``Tag`` compare by identity): a record by what it holds."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return (type(value), vars(value)) if dataclasses.is_dataclass(value) else value


def _appointments() -> list[dict[str, Any]]:
    demo = [r for r in generate_clinic(40) if r["resourceType"] == "Appointment"]
    odd = [
        {"resourceType": "Appointment", "id": "bare", "status": "booked"},
        {**make_appointment("p1", practitioner_id="d1"), "id": "made"},
        {**make_appointment("p1", status="cancelled", cancelationReason={"text": "Ill"},
                            participant=[{"actor": {"reference": "Location/l1", "display": "Room 1"}},
                                         {"actor": {"reference": "Patient/p2"}}, {"actor": {"reference": "Patient/p3"}},
                                         {"actor": {"display": "no reference"}}, {}],
                            reasonCode=[{"text": "Checkup"}, {}], slot=[{"reference": "Slot/s1"}],
                            identifier=[{"system": SID["said"], "value": "17"}],
                            extension=[{"url": EXT["episode-of-care"],
                                        "valueReference": {"reference": "EpisodeOfCare/e1"}},
                                       {"url": EXT["appointment-workflow-status"], "valueCode": "intake"}]),
         "id": "odd", "meta": {"versionId": "3"}},
        {"resourceType": "Appointment", "id": "unknown-status", "status": "not-a-status"},
    ]
    return demo + odd


APPOINTMENTS = _appointments()


def _relationships() -> list[dict[str, Any]]:
    demo = [r for r in generate_clinic(40) if r["resourceType"] == "RelatedPerson"]
    source = {"url": EXT["related-patient"], "valueReference": {"reference": "Patient/p1"}}
    odd = [
        {"resourceType": "RelatedPerson", "id": "bare"},
        {"resourceType": "RelatedPerson", "id": "named", "name": [{"given": ["Ana", "Li"], "family": "Ruiz"}],
         "patient": {"reference": "Patient/p2", "display": "Bo Ruiz"}, "extension": [source],
         "relationship": [{"coding": [{"code": "MTH"}, {"code": "GUARD"}]}]},
        {"resourceType": "RelatedPerson", "id": "archived", "meta": {"versionId": "2", "lastUpdated": "2026-01-02"},
         "relationship": [{"coding": [{"code": "NOT-A-CODE"}]}, {}],
         "extension": [{"url": EXT["is-guardian"], "valueBoolean": True},
                       {"url": EXT["relationship-note"], "valueString": "weekends"},
                       {"url": EXT["archived-at"], "valueDateTime": "2026-02-01T00:00:00Z"},
                       {"url": EXT["related-patient"], "valueReference": {"reference": "Practitioner/x",
                                                                          "display": "Dr X"}}]},
    ]
    return demo + odd


RELATIONSHIPS = _relationships()
# (the eager and the lazy mapping of a resource, the record type, the field table)
KINDS = {"patient": (model.from_fhir, model.lazy_from_fhir, model.Patient, FIELDS),
         "appointment": (appointment.from_fhir, appointment.lazy_from_fhir, appointment.Appointment,
                         appointment.FIELDS),
         "relationship": (family.relationship_from_fhir, family.lazy_relationship, family.Relationship,
                          family.FIELDS)}
CASES = [("patient", r) for r in PATIENTS] + [("appointment", r) for r in APPOINTMENTS] + [
    ("relationship", r) for r in RELATIONSHIPS]


@pytest.mark.parametrize(("kind", "res"), CASES, ids=[f"{k}-{r['id']}" for k, r in CASES])
def test_the_lazy_record_is_the_eager_one(kind: str, res: dict[str, Any]) -> None:
    eager_of, lazy_of, record, fields = KINDS[kind]
    eager = eager_of(res)
    assert set(fields) == {f.name for f in dataclasses.fields(record)}  # every field in the table
    for seed in range(3):  # the fields asked for in another order each time: shared readings computed first by any
        names = list(fields)
        random.Random(seed).shuffle(names)
        lazy = lazy_of(res)
        assert isinstance(lazy, record)
        for name in names:
            assert _plain(getattr(lazy, name)) == _plain(getattr(eager, name)), name
    whole = lazy_of(res)
    assert {f.name: _plain(getattr(whole, f.name)) for f in dataclasses.fields(record)} == {
        f.name: _plain(getattr(eager, f.name)) for f in dataclasses.fields(record)}


def test_a_field_is_read_when_first_asked_for() -> None:
    lazy = model.lazy_from_fhir({**make_patient(), "id": "p1"})
    assert isinstance(lazy, LazyPatient)
    assert "email" not in vars(lazy) and lazy.id == "p1"
    assert lazy.email == "maria.reyes@example.com"
    assert vars(lazy)["email"] == "maria.reyes@example.com"  # kept: read once
    with pytest.raises(AttributeError):
        _ = lazy.not_a_field  # type: ignore[attr-defined]
