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

PATIENT_DOCUMENT: dict[str, Any] = {
    "name": "document name",
    "dateTime": 1510367140,
    "responses": [{"question": "question 1", "response": "response to question 1"}],
}

EPISODE: dict[str, Any] = {
    "name": "covid care",
    "type": "covid",
    "from": "2023-03-29",
    "to": "2023-04-29",
    "status": "PLANNING",
    "objective": "care covid patient",
    "reasonIncomplete": "unknown",
}

PERFECT_ANSWER: dict[str, Any] = {
    "firstName": "John",
    "lastName": "Doe",
    "dob": "2001-01-20",
    "locationId": "123",
    "mrn": "AA-00000001",
    "physicianCallbackNumber": "+1-202-555-0150",
    "requestingProvider": "Bob Dylan",
    "callCenterNotified": "2019-12-03T14:32:12Z",
    "physicianNotified": "2019-12-03T14:32:12Z",
    "patientLocation": "Patient location",
    "consultType": "new",
    "reason": "EEG Stat",
    "caller": "Caller name",
}

ASSISTANCE_BY_PLACE: dict[str, Any] = {"building": "hospital", "floor": "floor 2", "room": "431", "bed": "bed 2"}
ASSISTANCE_BY_DEPARTMENT: dict[str, Any] = {"department": "emergency department", "room": "431", "bed": "bed 2"}
ASSISTANCE_BY_MRN: dict[str, Any] = {"patientMrn": "1234"}
ASSISTANCE_BY_DEVICE: dict[str, Any] = {"deviceSerialNumber": "123457"}
