"""parse_reference (store/fhirjson.py): every form of a literal reference, the common ``Type/id`` fast one
included, and what is not one."""

from __future__ import annotations

import pytest

from store.fhirjson import parse_reference


@pytest.mark.parametrize(("ref", "parsed"), [
    ("Patient/1", ("Patient", "1")),
    ({"reference": "Practitioner/p-2"}, ("Practitioner", "p-2")),
    ("Patient/1/", ("Patient", "1")),
    ("https://x.example/fhir/Patient/1", ("Patient", "1")),
    ("Patient/1/_history/2", ("Patient", "1")),
    ("https://x.example/fhir/Patient/1/_history/2", ("Patient", "1")),
    ("#contained", None),
    ("Patient", None),
    ("Patient/", None),
    ("/1", None),
    ("", None),
    ("Patient/_history", None),
    ("_history/1", None),
    (None, None),
    ({"display": "no reference"}, None),
])
def test_literal_references(ref: object, parsed: tuple[str, str] | None) -> None:
    assert parse_reference(ref) == parsed
