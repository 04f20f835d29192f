"""One access → one AuditEvent, in the shape of IHE BALP (Basic Audit Log Patterns,
https://profiles.ihe.net/ITI/BALP/): FHIR R4 AuditEvent (https://hl7.org/fhir/R4/auditevent.html).

A door notes an access as an ``Access`` (a small tuple: made on the request, nothing else is); the recorder
(auth/audit.py) turns it into the resource here, off the request path. What the AuditEvent says:

- ``type`` — DICOM ``rest`` (audit-event-type), or DICOM 110114 *User Authentication* for token issuance;
- ``subtype`` — the FHIR interaction (restful-interaction: ``read``, ``vread``, ``search-type``,
  ``history-instance``, ``create``, ``update``, ``patch``, ``delete``, ``operation`` …) or, where FHIR has none,
  a code of ours (``SUBTYPES``: ``graphql-query``, ``graphql-mutation``, ``graphql-subscribe``, ``qapi``,
  ``token-issued``); a refusal (401/403) carries DICOM 110113 *Security Alert* beside the interaction refused;
- ``action`` C/R/U/D/E; ``outcome`` 0 (success), 4 (the request was refused or failed on the client's side),
  8 (the server failed); ``outcomeDesc`` is the HTTP status and its phrase — never data of the request;
- ``agent`` — the user (its ``fhirUser`` reference when known, else its subject as an identifier) as the
  requestor, and the client (OAuth ``client_id``, or the API key's subject, as an identifier); ``altId`` holds each
  one's subject / client id (search ``altid``), ``name`` the user's name (its subject without the tenant) or the
  client id (search ``agent-name``). Search ``agent`` finds the user by its reference (``agent=Practitioner/1``),
  a client by its id (``agent=<client id>``) or either by identifier (``agent:identifier=<system>|<value>``,
  store/keys.py). Never a credential;
- ``source.observer`` — this server;
- ``entity`` — the Patient the access is about (when one is known), the resource (``what`` = its reference) or the
  query (``query`` = base64 of the query string, the values of parameters that can identify a person replaced by
  ``***``: ``redact_query``), or the FHIR types a GraphQL operation touched.
"""

from __future__ import annotations

import base64
import os
import time
from functools import lru_cache
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote

from store.params import param_table
from store.types import PrincipalLike, Resource

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
SUBTYPE = "https://fhirgraph.dev/fhir/CodeSystem/audit-subtype"
OBJECT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SUBJECT_SID = "https://fhirgraph.dev/fhir/sid/subject"
CLIENT_SID = "https://fhirgraph.dev/fhir/sid/client-id"

# The FHIR interactions (restful-interaction) and the action each one is.
INTERACTIONS: dict[str, str] = {
    "read": "R", "vread": "R", "search-type": "E", "search-system": "E", "search-compartment": "E",
    "history-instance": "R", "history-type": "R", "history-system": "R", "capabilities": "R",
    "create": "C", "update": "U", "patch": "U", "delete": "D", "operation": "E", "batch": "E", "transaction": "E",
}
# Ours, where FHIR has no interaction (https://fhirgraph.dev/fhir/CodeSystem/audit-subtype).
SUBTYPES: dict[str, str] = {
    "graphql-query": "E",  # one GraphQL query operation (over HTTP)
    "graphql-mutation": "U",  # one GraphQL mutation operation; C or D when it only created or deleted
    "graphql-subscribe": "E",  # a GraphQL subscription started (graphql-transport-ws ``subscribe``)
    "qapi": "E",  # a vendor API (qapi) request; its action follows the HTTP method
    "token-issued": "E",  # the authorization server issued an access token
}
TOKEN_ISSUED = "token-issued"
REFUSED = {"system": DCM, "code": "110113", "display": "Security Alert"}
REST_TYPE = {"system": EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
LOGIN_TYPE = {"system": DCM, "code": "110114", "display": "User Authentication"}

# Query parameters whose values are kept in the recorded query: paging, sorting, shaping. Every other value is
# kept only when it is a search parameter of the type that cannot identify a person (``_keeps``).
RESULT_PARAMS = frozenset({"_count", "_sort", "_summary", "_elements", "_total", "_include", "_revinclude",
                           "_format", "_pretty", "_since", "_at", "_type", "_id", "_lastUpdated"})
# Words in a parameter's name that mark it as able to identify a person, or as a secret.
PERSONAL = ("name", "address", "birth", "telecom", "phone", "email", "identifier", "ssn", "mrn", "chart", "content",
            "text", "filter", "query", "token", "key", "secret", "password", "code_verifier", "cursor", "before")
REDACTED = "***"


class Access(NamedTuple):
    """One access as a door notes it; everything is a plain value, and nothing but this is done on the request."""

    at: float  # time.time()
    principal: PrincipalLike | None  # None: unauthenticated (a 401)
    interaction: str  # a key of INTERACTIONS or SUBTYPES
    status: int  # the HTTP status answered (200 for a GraphQL operation without errors)
    rt: str | None = None
    rid: str | None = None
    vid: str | None = None
    query: str | None = None  # the raw query string (redacted when the AuditEvent is built)
    patient: str | None = None  # the id of the Patient the access is about, when the door knows it
    types: tuple[str, ...] = ()  # FHIR types the access touched (a GraphQL operation)
    action: str | None = None  # overrides the interaction's action
    description: str | None = None  # what was asked, free of ids and values (a route template, an operation kind)


def audit_event(access: Access, observer: str, event_id: str | None = None) -> Resource:
    """The BALP AuditEvent of ``access``, with ``event_id`` or a fresh id (module docstring)."""
    principal = access.principal
    refused = access.status in (401, 403)
    # What records share (their type, subtype, agents, source) is built once and shared between them, never
    # changed: the store encodes it per record, and keys it once per batch (store/audit.py).
    event: Resource = {
        "resourceType": "AuditEvent",
        "id": event_id or fresh_id(),
        "type": LOGIN_TYPE if access.interaction == TOKEN_ISSUED else REST_TYPE,
        "subtype": _subtype(access.interaction, refused),
        "action": access.action or INTERACTIONS.get(access.interaction) or SUBTYPES.get(access.interaction, "E"),
        "recorded": instant(access.at),
        "outcome": outcome_of(access.status),
        "agent": _agents(principal),
        "source": _source(observer),
    }
    if event["outcome"] != "0":
        event["outcomeDesc"] = describe_status(access.status)
    entities = entities_of(access)
    if entities:
        event["entity"] = entities
    return event


@lru_cache(maxsize=256)
def _subtype(interaction: str, refused: bool) -> list[dict[str, str]]:
    system = INTERACTION if interaction in INTERACTIONS else SUBTYPE
    return [{"system": system, "code": interaction}, *([REFUSED] if refused else [])]


@lru_cache(maxsize=16)
def _source(observer: str) -> Resource:
    return {"observer": {"display": observer},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}]}


def outcome_of(status: int) -> str:
    """AuditEvent.outcome (audit-event-outcome) of an HTTP status: 0 success, 4 minor failure (the request was
    refused or could not be served as asked), 8 serious failure (the server failed)."""
    if status < 400:
        return "0"
    return "8" if status >= 500 else "4"


def describe_status(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def agents(principal: PrincipalLike | None) -> list[Resource]:
    """The user (requestor) and the client of a principal. An API key (or the trial default) is a client acting
    for itself: one agent, the requestor. Unauthenticated: an unknown client, never what it presented."""
    if principal is None:
        return [{"type": _role(DCM, "110153", "Source Role ID"), "who": {"display": "unauthenticated client"},
                 "requestor": True}]
    subject = principal.subject
    client_id: str | None = getattr(principal, "client_id", None)
    user: str | None = getattr(principal, "user", None)
    if getattr(principal, "via", "token") != "token" and not user:
        return [_client(subject, requestor=True)]
    found = [{"type": _role(SECURITY_ROLE, "humanuser", "human user"),
              "who": {"reference": user} if user else _identified(SUBJECT_SID, subject),
              "altId": subject, "name": subject.removeprefix(f"{principal.tenant}/"), "requestor": True}]
    if client_id and client_id != subject:
        found.append(_client(client_id, requestor=False))
    return found


@lru_cache(maxsize=4096)
def _cached_agents(principal: PrincipalLike) -> list[Resource]:
    return agents(principal)


def _agents(principal: PrincipalLike | None) -> list[Resource]:
    # The same few principals make most requests: their agents are built once and shared (never mutated).
    try:
        return _cached_agents(principal) if principal is not None else agents(None)  # type: ignore[arg-type]
    except TypeError:  # a principal that is not hashable
        return agents(principal)


def _client(name: str, *, requestor: bool) -> Resource:
    return {"type": _role(DCM, "110153", "Source Role ID"), "who": _identified(CLIENT_SID, name), "altId": name,
            "name": name, "requestor": requestor}


def _identified(system: str, value: str) -> Resource:
    return {"identifier": {"system": system, "value": value}, "display": value}


def _role(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def entities_of(access: Access) -> list[Resource]:
    found: list[Resource] = []
    patient = access.patient
    if patient is None and access.rt == "Patient" and access.rid:
        patient = access.rid
    if patient is None and access.query:
        patient = query_patient(access.query)
    if patient is None:
        patient = getattr(access.principal, "patient", None)  # a patient-context token: its compartment
    if patient:
        found.append({"what": {"reference": f"Patient/{patient}"}, "type": _code(OBJECT_TYPE, "1", "Person"),
                      "role": _code(OBJECT_ROLE, "1", "Patient")})
    if access.rt and access.rid:
        ref = f"{access.rt}/{access.rid}" + (f"/_history/{access.vid}" if access.vid else "")
        found.append({"what": {"reference": ref}, "type": _code(OBJECT_TYPE, "2", "System Object"),
                      "role": _code(OBJECT_ROLE, "4", "Domain Resource")})
    elif access.query is not None or access.interaction.startswith(("search", "history")):
        query = redact_query(access.rt, access.query or "")
        entity: Resource = {"type": _code(OBJECT_TYPE, "2", "System Object"), "role": _code(OBJECT_ROLE, "24", "Query"),
                            "query": base64.b64encode(query.encode()).decode("ascii")}
        if access.rt:
            entity["detail"] = [{"type": "resourceType", "valueString": access.rt}]
        found.append(entity)
    for rt in access.types:
        found.append({"type": _code(RESOURCE_TYPES, rt, rt), "role": _code(OBJECT_ROLE, "4", "Domain Resource")})
    if access.description:
        found.append({"type": _code(OBJECT_TYPE, "2", "System Object"), "role": _code(OBJECT_ROLE, "3", "Report"),
                      "description": access.description[:200]})
    return found


def query_patient(query: str) -> str | None:
    """The Patient a search is about: one ``patient`` (or ``subject`` naming a Patient) value, else None."""
    found = None
    for name, value in parse_qsl(query):
        base, _, modifier = name.partition(":")
        if base == "patient" or (base == "subject" and (modifier == "Patient" or value.startswith("Patient/"))):
            if found is not None or "," in value:
                return None  # about several
            found = value.removeprefix("Patient/")
    return found if found and "/" not in found else None


@lru_cache(maxsize=1024)
def _code(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}  # shared: never changed (``audit_event``)


def redact_query(rt: str | None, query: str) -> str:
    """``query`` with the values of every parameter that could identify a person (names, birth date, address,
    telecom, identifiers, free text, cursors, which carry sort keys) or carry a secret replaced by ``***``: a value
    is kept only for the result parameters (``RESULT_PARAMS``) and the type's own search parameters that are not
    strings and name nothing personal. Unknown and chained parameters are redacted."""
    table = param_table(rt) if rt else {}
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        shown = value if _keeps(table, name) else REDACTED
        parts.append(f"{quote(name, safe=':._-$')}={quote(shown, safe='*:|/,._-$')}")
    return "&".join(parts)


def _keeps(table: dict[str, Any], name: str) -> bool:
    base = name.partition(":")[0].lower()
    if any(word in name.lower() for word in PERSONAL):
        return False
    if base in RESULT_PARAMS:
        return True
    param = table.get(base)
    return param is not None and param.type != "string" and "." not in name


# Random UUIDs (version 4, as uuid.uuid4 makes them) from one system call per 256 of them: a batch of records
# made ten thousand calls to os.urandom. A forked child starts with a pool of its own (never its parent's ids).
_ID_BYTES: list[bytes] = []
os.register_at_fork(after_in_child=_ID_BYTES.clear)


def fresh_id() -> str:
    """A new random UUID (RFC 9562 version 4) as text, like ``str(uuid.uuid4())``."""
    try:
        raw = bytearray(_ID_BYTES.pop())  # atomic: no two callers get the same bytes
    except IndexError:
        block = os.urandom(16 * 256)
        _ID_BYTES.extend(block[i:i + 16] for i in range(16, len(block), 16))
        raw = bytearray(block[:16])
    raw[6] = raw[6] & 0x0F | 0x40  # the version (4) and the variant (RFC), as uuid.UUID(version=4) sets them
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_SECOND: list[Any] = [None, ""]  # the last second formatted, and its text


def instant(at: float) -> str:
    """``2026-12-02T07:35:43.123Z`` (UTC, milliseconds): the records of a batch share their second's text."""
    second = int(at // 1)
    if second != _SECOND[0]:
        _SECOND[:] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_SECOND[1]}.{min(int((at - second) * 1000), 999):03d}Z"
