"""Search keys computed on write (shared/DESIGN.md decision 4).

For every supported search parameter the write path extracts normalized values into the reserved key:

    _sys.k.<param>   list of strings (string: folded; token: ``system|code``, ``code``, ``|code``, ``system|``;
                     reference: ``Type/id`` and bare ``id``) or, for dates, list of ``{"lo": iso, "hi": iso}``
    _sys.e.<param>   the exact (unfolded) strings of string parameters, for ``:exact``
    _sys.s.<param>   one scalar sort key (always a string; "" when absent so keyset comparisons never meet null)

Search then translates FHIR parameters into filters on those keys (store/search.py); nothing scans raw FHIR
paths. To add a search parameter: add a ``P(...)`` line to ``PARAMS`` below — the key is extracted on every
later write, indexed at start-up, listed in the CapabilityStatement and accepted by FHIR search. Existing
documents get it on their next write (or by ``fhirgraph reindex``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from store.naming import EXT, SID

MIN_TS = "0001-01-01T00:00:00.000000"
MAX_TS = "9999-12-31T23:59:59.999999"


@dataclass(frozen=True)
class P:
    """One search parameter: its FHIR type and the element paths it indexes (``a.b`` walks lists)."""

    name: str
    type: str  # string | token | reference | date | number
    paths: tuple[str, ...]
    sortable: bool = False
    targets: tuple[str, ...] = ()  # reference targets, for bare-id searches and _include
    doc: str = ""


def _p(name: str, type_: str, *paths: str, sortable: bool = False, targets: tuple[str, ...] = ()) -> P:
    return P(name, type_, tuple(paths), sortable, targets)


# Parameters every resource type has (FHIR R4 §3.1.1.5 "Parameters for all resources").
COMMON = (
    _p("_id", "token", "id", sortable=True),
    _p("_lastUpdated", "date", "meta.lastUpdated", sortable=True),
    _p("_tag", "token", "meta.tag"),
    _p("_profile", "token", "meta.profile"),
    _p("_security", "token", "meta.security"),
)

PAT = ("Patient",)

PARAMS: dict[str, tuple[P, ...]] = {
    "Patient": (
        _p("identifier", "token", "identifier"),
        _p("name", "string", "name", sortable=True),
        _p("family", "string", "name[official].family", "name.family", sortable=True),
        _p("given", "string", "name[official].given", "name.given", sortable=True),
        _p("birthdate", "date", "birthDate", sortable=True),
        _p("gender", "token", "gender", sortable=True),
        _p("phone", "token", "telecom[phone]"),
        _p("email", "token", "telecom[email]"),
        _p("telecom", "token", "telecom"),
        _p("address", "string", "address"),
        _p("address-postalcode", "string", "address.postalCode"),
        _p("address-city", "string", "address.city"),
        _p("general-practitioner", "reference", "generalPractitioner",
           targets=("Practitioner", "Organization", "PractitionerRole")),
        _p("active", "token", "active"),
        _p("deceased", "token", "deceasedBoolean", "deceasedDateTime"),
        _p("organization", "reference", "managingOrganization", targets=("Organization",)),
        # fhirgraph parameters (seed 003): lifecycle status, chart number, location, preferred name,
        # free text over names/phones/emails/chart number/birth date.
        _p("lifecycle-status", "token", f"extension[{EXT['patient-status']}].valueCode", sortable=True),
        _p("chart-number", "token", f"identifier[{SID['chart-number']}].value", sortable=True),
        _p("location", "reference", f"extension[{EXT['patient-location']}].valueReference",
           targets=("Location",)),
        _p("preferred-name", "string", "name[nickname]"),
        _p("date-first-visit", "date", f"extension[{EXT['date-first-visit']}].valueDate"),
        _p("_content", "string", "name", "telecom.value", f"identifier[{SID['chart-number']}].value",
           "birthDate"),
        _p("_created", "date", f"meta.extension[{EXT['created']}].valueInstant", sortable=True),
    ),
    "Appointment": (
        _p("date", "date", "start", sortable=True),
        _p("patient", "reference", "participant.actor[Patient]", targets=PAT),
        _p("actor", "reference", "participant.actor",
           targets=("Patient", "Practitioner", "PractitionerRole", "Location", "HealthcareService",
                    "RelatedPerson", "Device")),
        _p("practitioner", "reference", "participant.actor[Practitioner]", targets=("Practitioner",)),
        _p("location", "reference", "participant.actor[Location]", targets=("Location",)),
        _p("status", "token", "status", sortable=True),
        _p("service-type", "token", "serviceType"),
        _p("slot", "reference", "slot", targets=("Slot",)),
        _p("identifier", "token", "identifier"),
        _p("episode-of-care", "reference", f"extension[{EXT['episode-of-care']}].valueReference",
           targets=("EpisodeOfCare",)),
    ),
    "Encounter": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("date", "date", "period", sortable=True),
        _p("status", "token", "status"),
        _p("class", "token", "class"),
        _p("episode-of-care", "reference", "episodeOfCare", targets=("EpisodeOfCare",)),
        _p("appointment", "reference", "appointment", targets=("Appointment",)),
        _p("participant", "reference", "participant.individual",
           targets=("Practitioner", "PractitionerRole", "RelatedPerson")),
        _p("identifier", "token", "identifier"),
    ),
    "Observation": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group", "Device", "Location")),
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod", "effectiveInstant", sortable=True),
        _p("encounter", "reference", "encounter", targets=("Encounter",)),
        _p("status", "token", "status"),
        _p("component-code", "token", "component.code"),
    ),
    "DocumentReference": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group", "Practitioner", "Device")),
        _p("encounter", "reference", "context.encounter", targets=("Encounter", "EpisodeOfCare")),
        _p("date", "date", "date", sortable=True),
        _p("status", "token", "status"),
        _p("type", "token", "type"),
        _p("category", "token", "category"),
        _p("author", "reference", "author", targets=("Practitioner", "Organization", "PractitionerRole")),
    ),
    "MedicationRequest": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("status", "token", "status"),
        _p("intent", "token", "intent"),
        _p("authoredon", "date", "authoredOn", sortable=True),
        _p("code", "token", "medicationCodeableConcept"),
        _p("requester", "reference", "requester", targets=("Practitioner", "PractitionerRole", "Organization")),
    ),
    "MedicationStatement": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("status", "token", "status"),
        _p("code", "token", "medicationCodeableConcept"),
        _p("effective", "date", "effectiveDateTime", "effectivePeriod", sortable=True),
    ),
    "AllergyIntolerance": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("clinical-status", "token", "clinicalStatus"),
        _p("verification-status", "token", "verificationStatus"),
        _p("code", "token", "code"),
        _p("date", "date", "recordedDate", sortable=True),
    ),
    "Condition": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("clinical-status", "token", "clinicalStatus"),
        _p("verification-status", "token", "verificationStatus"),
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("onset-date", "date", "onsetDateTime", "onsetPeriod", sortable=True),
    ),
    "Flag": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Location", "Group", "Organization",
                                                        "Practitioner")),
        _p("status", "token", "status"),
        _p("date", "date", "period", sortable=True),
    ),
    "EpisodeOfCare": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("status", "token", "status"),
        _p("type", "token", "type"),
        _p("date", "date", "period", sortable=True),
        _p("organization", "reference", "managingOrganization", targets=("Organization",)),
        _p("care-manager", "reference", "careManager", targets=("Practitioner",)),
    ),
    "RelatedPerson": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("related-patient", "reference", f"extension[{EXT['related-patient']}].valueReference", targets=PAT),
        _p("relationship", "token", "relationship"),
        _p("active", "token", "active"),
        _p("name", "string", "name"),
    ),
    "Account": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Device", "Practitioner", "Location",
                                                        "HealthcareService", "Organization")),
        _p("guarantor", "reference", "guarantor.party", targets=("Patient", "RelatedPerson", "Organization")),
        _p("status", "token", "status"),
        _p("identifier", "token", "identifier"),
    ),
    "Practitioner": (
        _p("identifier", "token", "identifier"),
        _p("name", "string", "name", sortable=True),
        _p("family", "string", "name.family", sortable=True),
        _p("given", "string", "name.given"),
        _p("active", "token", "active"),
        _p("email", "token", "telecom[email]"),
    ),
    "PractitionerRole": (
        _p("practitioner", "reference", "practitioner", targets=("Practitioner",)),
        _p("organization", "reference", "organization", targets=("Organization",)),
        _p("location", "reference", "location", targets=("Location",)),
        _p("role", "token", "code"),
        _p("specialty", "token", "specialty"),
    ),
    "Organization": (
        _p("name", "string", "name", "alias", sortable=True),
        _p("identifier", "token", "identifier"),
        _p("active", "token", "active"),
    ),
    "Location": (
        _p("name", "string", "name", "alias", sortable=True),
        _p("identifier", "token", "identifier"),
        _p("organization", "reference", "managingOrganization", targets=("Organization",)),
        _p("status", "token", "status"),
    ),
    "HealthcareService": (
        _p("name", "string", "name", sortable=True),
        _p("location", "reference", "location", targets=("Location",)),
        _p("organization", "reference", "providedBy", targets=("Organization",)),
        _p("active", "token", "active"),
    ),
    "Schedule": (
        _p("actor", "reference", "actor", targets=("Practitioner", "Location", "HealthcareService",
                                                   "PractitionerRole")),
        _p("active", "token", "active"),
        _p("date", "date", "planningHorizon", sortable=True),
    ),
    "Slot": (
        _p("schedule", "reference", "schedule", targets=("Schedule",)),
        _p("status", "token", "status"),
        _p("start", "date", "start", sortable=True),
        _p("service-type", "token", "serviceType"),
    ),
    "QuestionnaireResponse": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=PAT),
        _p("encounter", "reference", "encounter", targets=("Encounter",)),
        _p("status", "token", "status"),
        _p("authored", "date", "authored", sortable=True),
    ),
    "Communication": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group")),
        _p("sent", "date", "sent", sortable=True),
        _p("status", "token", "status"),
        _p("medium", "token", "medium"),
        _p("category", "token", "category"),
    ),
    "Group": (
        _p("type", "token", "type"),
        _p("member", "reference", "member.entity", targets=("Patient", "Practitioner", "Group")),
        _p("identifier", "token", "identifier"),
        _p("managing-entity", "reference", "managingEntity",
           targets=("Practitioner", "Organization", "PractitionerRole", "RelatedPerson")),
    ),
    "Basic": (
        _p("code", "token", "code"),
        _p("subject", "reference", "subject", targets=()),
        _p("created", "date", "created", sortable=True),
    ),
    "ServiceRequest": (
        _p("patient", "reference", "subject[Patient]", targets=PAT),
        _p("subject", "reference", "subject", targets=("Patient", "Group", "Location", "Device")),
        _p("status", "token", "status"),
        _p("intent", "token", "intent"),
        _p("authored", "date", "authoredOn", sortable=True),
    ),
    "Device": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("status", "token", "status"),
        _p("location", "reference", "location", targets=("Location",)),
    ),
    "Claim": (
        _p("patient", "reference", "patient", targets=PAT),
        _p("status", "token", "status"),
        _p("created", "date", "created", sortable=True),
    ),
    "PaymentNotice": (
        _p("status", "token", "status"),
        _p("created", "date", "created", sortable=True),
        _p("request", "reference", "request", targets=()),
    ),
    "Subscription": (
        _p("status", "token", "status"),
        _p("criteria", "string", "criteria"),
        _p("url", "token", "channel.endpoint"),
        _p("type", "token", "channel.type"),
    ),
    "Provenance": (
        _p("target", "reference", "target", targets=()),
        _p("patient", "reference", "target[Patient]", targets=PAT),
        _p("agent", "reference", "agent.who", targets=("Practitioner", "Organization", "Patient", "Device")),
        _p("recorded", "date", "recorded", sortable=True),
    ),
    "AuditEvent": (
        _p("date", "date", "recorded", sortable=True),
        _p("agent", "reference", "agent.who", targets=()),
        _p("entity", "reference", "entity.what", targets=()),
        _p("type", "token", "type"),
        _p("action", "token", "action"),
    ),
    "Binary": (),
}

# Types the server refuses to update or delete once written (append-only logs).
APPEND_ONLY = frozenset({"AuditEvent", "Communication", "Provenance"})

SUPPORTED_TYPES: tuple[str, ...] = tuple(sorted(PARAMS))


def params_for(resource_type: str) -> dict[str, P]:
    return {p.name: p for p in (*COMMON, *PARAMS.get(resource_type, ()))}


_PARAM_CACHE = {rt: params_for(rt) for rt in SUPPORTED_TYPES}


def param_table(resource_type: str) -> dict[str, P]:
    return _PARAM_CACHE.get(resource_type) or params_for(resource_type)


# ---------------------------------------------------------------------------- normalization


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Renée' and 'renee' match (FHIR string search is insensitive to both)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def date_range(value: str) -> tuple[str, str] | None:
    """A FHIR date/dateTime/instant as the UTC range it covers, in fixed-width ISO strings that sort as text."""
    v = value.strip()
    try:
        if len(v) == 4:
            lo = datetime(int(v), 1, 1)
            hi = datetime(int(v) + 1, 1, 1) if int(v) < 9999 else None
        elif len(v) == 7:
            y, m = int(v[:4]), int(v[5:7])
            lo = datetime(y, m, 1)
            hi = datetime(y + (m == 12), m % 12 + 1, 1)
        elif len(v) == 10:
            lo = datetime.fromisoformat(v)
            hi = lo + timedelta(days=1)
        else:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            if dt.tzinfo is not None:
                dt = dt.astimezone(UTC).replace(tzinfo=None)
            # A dateTime is precise to its written precision: seconds (or minutes) cover their span.
            lo = dt
            hi = dt + (timedelta(microseconds=1) if "." in v else timedelta(seconds=1))
    except (ValueError, OverflowError):
        return None
    lo_s = lo.strftime("%Y-%m-%dT%H:%M:%S.%f").rjust(26, "0")
    hi_s = MAX_TS if hi is None else (hi - timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f").rjust(26, "0")
    return lo_s, hi_s


# ---------------------------------------------------------------------------- path walking


def _step(node: Any, seg: str) -> Iterator[Any]:
    # seg is "field", "field[Type]" (reference type filter), "field[use]" (HumanName/ContactPoint use or
    # system filter) or "extension[url]".
    name, _, cond = seg.partition("[")
    cond = cond[:-1] if cond else ""
    value = node.get(name) if isinstance(node, dict) else None
    if value is None:
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        if cond and not _matches(name, item, cond):
            continue
        yield item


def _matches(name: str, item: Any, cond: str) -> bool:
    if not isinstance(item, dict):
        return False
    if name in ("extension", "modifierExtension"):
        return item.get("url") == cond
    if name == "identifier":
        return item.get("system") == cond
    if "reference" in item or name in ("subject", "actor", "target", "patient"):
        ref = item.get("reference", "")
        return ref.startswith(cond + "/") or f"/{cond}/" in ref
    if name == "telecom":
        return item.get("system") == cond
    return item.get("use") == cond


_SEGMENT = re.compile(r"[^.\[]+(?:\[[^\]]*\])?")


def _segments(path: str) -> list[str]:
    # "extension[https://x.org/a.b].valueCode" → ["extension[https://x.org/a.b]", "valueCode"]: dots inside
    # brackets belong to the URL.
    return _SEGMENT.findall(path)


def walk(resource: dict[str, Any], path: str) -> list[Any]:
    nodes: list[Any] = [resource]
    for seg in _segments(path):
        nodes = [child for node in nodes for child in _step(node, seg)]
        if not nodes:
            break
    return nodes


# ---------------------------------------------------------------------------- extraction by type


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        # HumanName, Address: every textual part (FHIR: "any of the string elements").
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
                    "postalCode", "country", "value", "display"):
            part = value.get(key)
            if isinstance(part, str):
                yield part
            elif isinstance(part, list):
                yield from (p for p in part if isinstance(p, str))


def _tokens(value: Any) -> Iterator[str]:
    if isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, str):
        yield value
        yield f"|{value}"
    elif isinstance(value, dict):
        if "coding" in value or "text" in value and "code" not in value and "value" not in value:
            for coding in value.get("coding", []):
                yield from _tokens(coding)
            return
        system = value.get("system")
        code = value.get("code", value.get("value"))  # Coding / Identifier / ContactPoint
        if isinstance(code, str):
            yield code
            yield f"{system}|{code}" if system else f"|{code}"
        if system:
            yield f"{system}|"


def _references(value: Any) -> Iterator[str]:
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str) or ref.startswith("#"):
        return
    parts = ref.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2:
        yield f"{parts[-2]}/{parts[-1]}"
        yield parts[-1]
    else:
        yield ref


def _ranges(value: Any) -> Iterator[dict[str, str]]:
    if isinstance(value, str):
        r = date_range(value)
        if r:
            yield {"lo": r[0], "hi": r[1]}
    elif isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
        end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
        yield {"lo": start[0] if start else MIN_TS, "hi": end[1] if end else MAX_TS}


def extract(resource: dict[str, Any]) -> dict[str, Any]:
    """All search keys of ``resource``: {"k": {...}, "e": {...}, "s": {...}} for ``_sys``."""
    rt = resource.get("resourceType", "")
    k: dict[str, Any] = {}
    e: dict[str, list[str]] = {}
    s: dict[str, str] = {}
    for p in param_table(rt).values():
        raw: list[Any] = []
        for path in p.paths:
            raw.extend(walk(resource, path))
        if not raw:
            if p.sortable:
                s[p.name] = ""
            continue
        vals: list[Any]
        if p.type == "string":
            exact = [x for v in raw for x in _strings(v)]
            vals = list(dict.fromkeys(fold(x) for x in exact))
            e[p.name] = list(dict.fromkeys(exact))
        elif p.type == "token":
            vals = list(dict.fromkeys(t for v in raw for t in _tokens(v)))
        elif p.type == "reference":
            vals = list(dict.fromkeys(r for v in raw for r in _references(v)))
        elif p.type == "date":
            vals = [r for v in raw for r in _ranges(v)]
        elif p.type == "number":
            vals = [float(v) for v in raw if isinstance(v, int | float) and not isinstance(v, bool)]
        else:
            continue
        # `_id` is searched by primary key (store/search.py): only its sort key is kept.
        if vals and p.name != "_id":
            k[p.name] = vals
        if p.sortable:
            s[p.name] = _sort_key(p, vals)
    return {"k": k, "e": e, "s": s}


def _sort_key(p: P, vals: list[Any]) -> str:
    if not vals:
        return ""
    if p.type == "date":
        return str(min(v["lo"] for v in vals))
    if p.type == "token":
        # Prefer the bare code (no system) so sorting by gender or status reads naturally.
        plain = [v for v in vals if "|" not in v]
        return str((plain or vals)[0])
    return str(vals[0])
