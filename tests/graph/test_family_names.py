"""A family's patients selected for their names only are read for their names (resolvers/family.py
``patient_names_by_id``): the chart shows the same as when they are read whole."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.model import patient as patient_model
from tests.graph.conftest import GQL

FAMILY = """
query Family {
  patients(first: 100) {
    edges { node { id family {
      guarantor { %(guarantor)s }
      members { %(members)s }
      guardians { relationshipType relatedPatient { %(related)s } patient { %(related)s } patientName }
      dependents { relatedPatientId relatedPatient { %(related)s } }
      relationships { relationshipType isGuardian relatedPatientName patientName }
    } } }
  }
}
"""
NAMES = {"guarantor": "id lastName", "members": "id firstName lastName", "related": "id firstName"}
# The same fields through a fragment: the selection is not known to be names only, so the patients are read whole.
WHOLE = {k: f"... on Patient {{ {v} }}" for k, v in NAMES.items()}


@pytest.fixture
def named(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the patients built from their names alone (the app runs in this process)."""
    built: list[str] = []

    class Counted(patient_model.NamedPatient):
        def __init__(self, res: dict[str, Any]):
            built.append(res["id"])
            super().__init__(res)

    monkeypatch.setattr(patient_model, "NamedPatient", Counted)
    return built


async def test_family_names_read_alone_are_what_the_whole_patients_show(demo: GQL, named: list[str]) -> None:
    whole = await demo.run(FAMILY % WHOLE)
    assert named == []
    by_names = await demo.run(FAMILY % NAMES)
    assert named, "no family member was read for its names alone"
    page = {e["node"]["id"] for e in whole["patients"]["edges"]}
    assert set(named).isdisjoint(page)  # the page's own patients are the whole ones the request has
    assert by_names == whole
    families = [e["node"]["family"] for e in by_names["patients"]["edges"]]
    assert any(m["lastName"] for f in families for m in f["members"] if m["id"] not in page)
    assert any(g["relatedPatient"] for f in families for g in f["guardians"])


async def test_a_family_member_selected_for_more_than_names_is_read_whole(demo: GQL, named: list[str]) -> None:
    fields = {**NAMES, "members": "id firstName dateOfBirth", "related": "id firstName status"}
    data = await demo.run(FAMILY % fields)
    assert named == []  # the guarantor is read with the members, whole
    members = [m for e in data["patients"]["edges"] for m in e["node"]["family"]["members"]]
    assert members and all(m["dateOfBirth"] for m in members)
    whole = await demo.run(FAMILY % {k: f"... on Patient {{ {v} }}" for k, v in fields.items()})
    assert data == whole


def test_a_patient_read_for_its_names_refuses_other_fields() -> None:
    p = patient_model.NamedPatient({"resourceType": "Patient", "id": "p1",
                                    "name": [{"use": "official", "given": ["Ann", "B"], "family": "Lee"}]})
    assert (p.id, p.first_name, p.last_name) == ("p1", "Ann", "Lee")
    with pytest.raises(AttributeError):
        _ = p.date_of_birth
