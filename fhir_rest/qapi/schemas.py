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

# ---------------------------------------------------------------------------------------------- attachments

ATTACHMENT = obj({"id": STR, "appointmentId": nullable("string"), "title": STR, "mimeType": STR, "size": INT,
                  "uploadedAt": nullable("string", format="date-time"), "deleted": BOOL},
                 required=("id", "appointmentId", "title", "mimeType", "size", "uploadedAt", "deleted"))
PATIENT_DOCUMENT = obj({"name": {"type": "string", "minLength": 1, "maxLength": 255}, "dateTime": UNIX,
                        "responses": array(obj({"question": {"type": "string", "minLength": 1},
                                                "response": {"type": "string", "minLength": 1}},
                                               required=("question", "response")), minItems=1)},
                       required=("name", "dateTime", "responses"))

# ---------------------------------------------------------------------------------------------- episodes

DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD"}
EPISODE_STATUS_IN = {"type": "string", "enum": ["PLANNING", "WAITLIST", "ACTIVE", "ONHOLD", "FINISHED", "CANCELED"]}
EPISODE_STATUS = {"type": "string", "enum": ["planning", "waitlist", "active", "onhold", "finished", "canceled"]}
EPISODE_INPUT = obj({"name": {"type": "string", "minLength": 1, "description": "episode name"},
                     "type": {"type": "string", "minLength": 1, "description": "predefined string, episode type"},
                     "from": DATE, "to": nullable("string", format="date"), "status": EPISODE_STATUS_IN,
                     "objective": nullable("string"),
                     "reasonIncomplete": nullable("string", description="reason if the episode is incomplete "
                                                                         "(not for a FINISHED one)")},
                    required=("name", "type", "from", "status"))
_EPISODE = {"id": STR, "name": nullable("string"), "from": nullable("string"), "to": nullable("string"),
            "type": nullable("string"), "status": EPISODE_STATUS, "objective": nullable("string"),
            "reasonIncomplete": nullable("string")}
EPISODE = obj({**_EPISODE, "patientId": nullable("string")}, required=(*_EPISODE, "patientId"))
EPISODE_FULL = obj({**_EPISODE, "soloPatientId": nullable("integer"), "externalPatientId": nullable("string")},
                   required=(*_EPISODE, "soloPatientId", "externalPatientId"))
EPISODE_APPOINTMENTS = obj({"episode": EPISODE_FULL, "appointments": array(obj({
    "appointmentId": SAID, "date": nullable("integer"), "reasons": array(STR), "hasNotes": BOOL,
    "episodeOfCareId": STR}, required=("appointmentId", "date", "reasons", "hasNotes", "episodeOfCareId")))},
    required=("episode", "appointments"))

# ---------------------------------------------------------------------------------------------- assistance

_LOOKUP_FIELD = {"type": "string", "minLength": 1, "maxLength": 200}
ASSISTANCE_LOOKUP = obj({name: _LOOKUP_FIELD for name in ("deviceSerialNumber", "patientMrn", "building", "floor",
                                                           "department", "room", "bed")},
                        description="One of: {deviceSerialNumber}; {patientMrn}; {building, floor, room, bed?}; "
                                    "{department, room, bed?}.")
ASSISTANCE = obj({
    "id": STR, "device": nullable("string"),
    "careLocation": obj({"availability": STR, "id": STR, "name": nullable("string"), "status": STR,
                         "video": obj({"type": nullable("string"), "clientId": {"type": "null"},
                                       "serialNumber": nullable("string"), "careLocationId": STR,
                                       "skipActivation": BOOL})}),
    "practice": STR,
    "patient": nullable("object", properties={"age": nullable("integer"), "id": STR,
                                              "firstName": nullable("string"), "lastName": nullable("string"),
                                              "middleName": nullable("string"), "dob": nullable("string"),
                                              "mrn": nullable("string")}),
    "assignedTo": {"type": "null"}, "room": nullable("string"),
    "status": {"type": "string", "enum": ["incomplete", "completed", "cancelled"]},
    "createdAt": nullable("string"), "finishedAt": nullable("string"),
    "location": nullable("object", properties={"id": STR, "name": nullable("string")}),
    "avSessions": array(ANY_OBJECT, maxItems=0), "createdFromExternalApi": BOOL,
}, required=("id", "device", "careLocation", "practice", "patient", "assignedTo", "room", "status", "createdAt",
             "finishedAt", "location", "avSessions", "createdFromExternalApi"))

# ---------------------------------------------------------------------------------------------- perfect answer

PERFECT_ANSWER = obj({
    "firstName": STR, "lastName": STR, "dob": {"type": "string", "format": "date"},
    "locationId": {"type": "string", "format": "uuid", "description": "ID of geolocation in FMS"},
    "mrn": STR, "physicianCallbackNumber": STR, "requestingProvider": STR,
    "callCenterNotified": {"type": "string", "format": "date-time"},
    "physicianNotified": {"type": "string", "format": "date-time"},
    "patientLocation": STR, "consultType": {"type": "string", "enum": ["new", "update"]},
    "reason": {"type": "string", "enum": ["Stroke", "EEG Stat", "EEG Routine"]}, "caller": STR,
}, required=("firstName", "lastName", "dob", "locationId", "mrn", "requestingProvider", "consultType", "reason"))

# ---------------------------------------------------------------------------------------------- reports

_ATOM = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$",
         "description": 'ATOM format ("Y-m-d\\TH:i:sP")'}
ENCOUNTER_REPORT = obj({"from": _ATOM, "to": _ATOM, "presetId": {"type": "string", "format": "uuid"},
                        "password": {"type": "string", "minLength": 1, "maxLength": 128,
                                     "description": "locks the zipped CSV (WinZip AES-256)"}},
                       required=("from", "to", "presetId", "password"))
