"""Seed 002's example bodies, as the document shows them (its ``//`` comments removed), for the tests to send."""

from __future__ import annotations

import copy
from typing import Any

PATIENT: dict[str, Any] = {
    "mrn": "MRN-123",
    "accountNumber": "A-123",
    "name": [{"use": "usual", "family": "Mike Shinoda", "firstName": "Mike", "middleName": "", "lastName": "Shinoda",
              "alias": ""}],
    "birthDate": "1983-08-15",
    "gender": "male",
    "maritalStatus": "married",
    "telecom": [{"use": "home", "system": "phone", "value": "+1 (111) 111-1111"},
                {"use": "home", "system": "email", "value": "mike_zzzzzzz@company.com"}],
    "contact": [{"telecom": [{"use": "home", "system": "phone", "value": "phone"},
                             {"use": "home", "system": "email", "value": "someemail@email.email"}], "name": []}],
    "preferredLanguage": "English",
    "race": "White",
    "ethnicity": "not Hispanic or Latino",
    "address": [{"city": "New York", "use": "home", "apartment": "", "country": "USA", "state": "NY",
                 "postalcode": "10019", "line": ["123 Main St", ""]}],
    "active": True,
    "deceased": True,
    "deceasedAt": "2020-03-31 10:12 AM",
    "familyMember": False,
    "isLinkedByEmail": False,
    "sharedEmailGroup": {"type": "family", "name": "Family Name"},
}

# The create body: the collection's example (with "id", and groupType/groupName instead of sharedEmailGroup).
PATIENT_CREATE: dict[str, Any] = {"id": "patientId", **{k: v for k, v in PATIENT.items() if k != "sharedEmailGroup"},
                                  "groupType": "family", "groupName": "Family Name"}

APPOINTMENT_CREATE: dict[str, Any] = {
    "date": 1499441179,
    "reasons": ["headache"],
    "duration": 900,
    "waitingRoom": "my waiting room",
    "externalId": "2e96ed0e-0f80-4dc3-b2c1-42e65b789e56",
    "episodeOfCareId": "4e96ed0e-0f80-4dc3-b2c1-42e65b789e56",
    "accountNumber": "ABC123456789",
}

APPOINTMENT_UPDATE: dict[str, Any] = {
    "date": 1499441179,
    "duration": 900,
    "status": "cancelled",
    "externalId": "2e96ed0e-0f80-4dc3-b2c1-42e65b789e56",
    "reasons": ["vomit"],
    "accountNumber": "ABC123456789",
}


def body(example: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of a seed example with ``changes`` (a value of None removes the field)."""
    out = copy.deepcopy(example)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
