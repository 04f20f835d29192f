"""JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of the qapi bodies, as seed 002 shows them. The OpenAPI
document (openapi.py) is built from these and the operation table; the endpoints answer exactly these shapes."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def nullable(kind: str, **extra: Any) -> Schema:
    return {"type": [kind, "null"], **extra}


def obj(properties: dict[str, Schema], *, required: tuple[str, ...] = (), closed: bool = False, **extra: Any
        ) -> Schema:
    out: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    return out


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
UNIX = {"type": "integer", "minimum": 0, "maximum": 253_402_300_799, "description": "unix timestamp (seconds)"}
EMPTY_LIST = {"type": "array", "maxItems": 0, "description": "An empty list: done."}
SPID = {"type": "integer", "minimum": 1, "description": "The new patient's Solo Patient ID (SPID)."}
SPID_PARAM = {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999}
SAID_PARAM = SPID_PARAM

# ---------------------------------------------------------------------------------------------- patients

NAME = obj({"use": {"type": "string", "enum": ["usual", "official", "temp", "nickname", "anonymous", "old", "maiden"]},
            "family": STR, "firstName": STR, "middleName": STR, "lastName": STR, "alias": STR})
TELECOM = obj({"use": nullable("string", enum=["home", "work", "temp", "old", "mobile", None]),
               "system": nullable("string", enum=["phone", "fax", "email", "pager", "url", "sms", "other", None]),
               "value": nullable("string")})
CONTACT = obj({"telecom": array(TELECOM), "name": array(NAME)})
ADDRESS = obj({"city": STR, "use": {"type": "string", "enum": ["home", "work", "temp", "old", "billing"]},
               "apartment": STR, "country": STR, "state": STR, "postalcode": STR, "line": array(STR)})
SHARED_GROUP = nullable("object", properties={"type": STR, "name": STR})

_DEMOGRAPHICS: dict[str, Schema] = {
    "mrn": nullable("string"),
    "accountNumber": nullable("string", description="[DEPRECATED]"),
    "name": array(NAME),
    "birthDate": nullable("string", format="date"),
    "gender": nullable("string", enum=["male", "female", "other", "unknown", None]),
    "maritalStatus": nullable("string"),
    "telecom": array(TELECOM),
    "contact": array(CONTACT),
    "preferredLanguage": nullable("string"),
    "race": nullable("string"),
    "ethnicity": nullable("string"),
    "address": array(ADDRESS),
    "active": BOOL,
    "deceased": BOOL,
    "deceasedAt": nullable("string", description='e.g. "2020-03-31 10:12 AM" (UTC)'),
    "familyMember": {"type": "boolean", "deprecated": True},
    "isLinkedByEmail": BOOL,
}
PATIENT = obj({**_DEMOGRAPHICS, "sharedEmailGroup": SHARED_GROUP},
              required=tuple(_DEMOGRAPHICS) + ("sharedEmailGroup",))
PATIENT_FLAT = obj({**_DEMOGRAPHICS, "groupType": nullable("string"), "groupName": nullable("string")},
                   required=tuple(_DEMOGRAPHICS) + ("groupType", "groupName"))
_INPUT = {**_DEMOGRAPHICS, "sharedEmailGroup": SHARED_GROUP, "groupType": nullable("string"),
          "groupName": nullable("string"), "deceased": nullable("boolean"), "active": nullable("boolean"),
          "familyMember": nullable("boolean", deprecated=True), "isLinkedByEmail": nullable("boolean")}
PATIENT_UPDATE = obj(_INPUT, description="Every field optional: only those given change.")
PATIENT_CREATE = obj({"id": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$",
                             "description": "Your id of the patient (also its FHIR Patient id)."}, **_INPUT},
                     required=("id",))

# ---------------------------------------------------------------------------------------------- webhooks

QAPI_EVENT = {"type": "string", "enum": [
    "patient:created", "patient:updated", "patient:deactivated",
    "appointment:scheduled", "appointment:rescheduled", "appointment:cancelled", "appointment:completed",
    "appointment:incompleted", "appointment:no-show", "appointment:lwbs",
    "episode:created", "episode:updated"]}
ANY_OBJECT: Schema = {"type": "object"}
WEBHOOK_INPUT = obj({"endpoint": {"type": "string", "format": "uri"}, "events": array(QAPI_EVENT, minItems=1)},
                    required=("endpoint", "events"))
WEBHOOK = obj({"id": STR, "endpoint": STR, "events": array(QAPI_EVENT)}, required=("id", "endpoint", "events"))
WEBHOOK_KEYED = obj({**WEBHOOK["properties"], "encryptionKey": STR}, required=("id", "endpoint", "events",
                                                                               "encryptionKey"))

# ---------------------------------------------------------------------------------------------- appointments

WORKFLOW = {"type": "string", "enum": [
    "scheduled", "arrived", "in progress.intake.ready", "in progress.intake.progress", "in progress.exam.ready",
    "in progress.exam.progress", "discharge.ready", "discharge.progress", "completed", "sign off", "cancelled",
    "not showed up"]}
DURATION = {"type": "integer", "minimum": 1, "maximum": 86_400}
APPOINTMENT_CREATE = obj({
    "date": {**UNIX, "description": "appointment date (unix timestamp); now when absent"},
    "reasons": array(STR, maxItems=100),
    "duration": {**DURATION, "description": "in seconds; by default the waiting room's slot duration"},
    "waitingRoom": {"type": "string", "minLength": 1, "description": "the waiting room's name"},
    "externalId": STR,
    "episodeOfCareId": STR,
    "accountNumber": {"type": "string", "description": "Encounter id"},
}, required=("waitingRoom",))
APPOINTMENT_UPDATE = obj({
    "date": UNIX, "duration": DURATION,
    "status": {"type": "string", "enum": ["cancelled"], "description": "only cancelled is allowed"},
    "externalId": STR, "reasons": array(STR, maxItems=100), "accountNumber": STR,
})
SAID = nullable("integer", description="The Solo Appointment ID (SAID).")
APPOINTMENT_CREATED = obj({"id": SAID, "visitUrl": STR}, required=("id", "visitUrl"))
PROVIDER_LINK = obj({"id": SAID, "providerVisitUrl": STR}, required=("id", "providerVisitUrl"))
TEAMS_LINK = obj({"id": SAID, "msTeamsProviderVisitUrl": STR}, required=("id", "msTeamsProviderVisitUrl"))
VIDEO_LINKS = obj({"appointmentExternalId": nullable("string"), "providerVisitUrl": STR, "patientVisitUrl": STR},
                  required=("appointmentExternalId", "providerVisitUrl", "patientVisitUrl"))
PROVIDER = obj({"id": STR, "email": nullable("string"), "firstName": nullable("string"),
                "middleName": nullable("string"), "lastName": nullable("string")},
               required=("id", "email", "firstName", "middleName", "lastName"))
APPOINTMENT = obj({
    "id": SAID,
    "date": nullable("integer"),
    "duration": nullable("integer"),
    "reasons": array(STR),
    "status": WORKFLOW,
    "videoCall": nullable("object", properties={"id": STR, "status": {"type": "string", "enum": [
        "LWBS", "incomplete", "complete", "finalizing", "on hold", "on call", "waiting"]}},
        required=["id", "status"]),
    "externalId": nullable("string"),
    "patient": nullable("object", properties={"id": STR, "demographics": {"anyOf": [PATIENT, {"type": "null"}]}},
                        required=["id", "demographics"]),
    "providers": array(PROVIDER),
}, required=("id", "date", "duration", "reasons", "status", "videoCall", "externalId", "patient", "providers"))

# ---------------------------------------------------------------------------------------------- rooms, slots

ROOM = obj({"id": STR, "name": STR, "serviceLine": nullable("string"), "serviceType": nullable("string")},
           required=("id", "name", "serviceLine", "serviceType"))
SLOT = obj({"date": INT, "duration": INT}, required=("date", "duration"))

# ---------------------------------------------------------------------------------------------- visit notes

VISIT_NOTE = obj({
    "id": STR,
    "template": obj({"name": STR, "flow": obj({"sections": array(ANY_OBJECT)}, required=("sections",))},
                    required=("name", "flow")),
    "comments": array(obj({"id": STR, "templateId": STR, "message": STR, "postedAt": INT,
                           "author": obj({"id": INT, "username": STR})})),
    "responses": array(obj({
        "dateTime": nullable("object", properties={"date": STR, "timezone_type": INT, "timezone": STR}),
        "question": array(STR), "response": array(STR)}, required=("dateTime", "question", "response"))),
}, required=("id", "template", "comments", "responses"))
VISIT_NOTE_UPDATE = obj({"name": {"type": "string", "minLength": 1, "description": "the template's name"},
                         "questions": array(obj({"id": {"type": "string", "minLength": 1},
                                                 "value": array(STR)}, required=("id", "value")), minItems=1)},
                        required=("name", "questions"))
