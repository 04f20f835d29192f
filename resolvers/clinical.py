"""The chart's clinical lists (seed 003): allergies, medications, problems, vital signs with abnormal flags,
alerts, communication logs, documents — FHIR → GraphQL, per-patient connections, and the record mutations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from graph.pagination import resolve_connection
from graph.types import alert as alert_t
from graph.types import allergy as allergy_t
from graph.types import communication_log as comm_t
from graph.types import document as document_t
from graph.types import medication as medication_t
from graph.types import problem as problem_t
from graph.types import vital_signs as vitals_t
from resolvers.fhir import cc, code_of, date_part, ext, ref_id, system_of, text_of, version
from resolvers.loaders import MISSING, ready, then
from store.errors import Invalid, NotFound
from store.naming import (
    ALLERGY_CLINICAL,
    CONDITION_CLINICAL,
    CS,
    EXT,
    LOINC,
    OBS_CATEGORY,
    RXNORM,
    SNOMED,
    V3_INTERPRETATION,
    VITAL_CODES,
    VITALS_PANEL,
)

if TYPE_CHECKING:
    from graph.context import Info

Resource = dict[str, Any]
_BY_LOINC = {v: k for k, v in VITAL_CODES.items()}
VITAL_LABEL = {"bp_systolic": "Systolic BP", "bp_diastolic": "Diastolic BP", "pulse": "Pulse",
               "temperature_f": "Temperature", "respiration_rate": "Respiration rate",
               "oxygen_saturation": "Oxygen saturation", "height_inches": "Height", "weight_lbs": "Weight",
               "bmi": "BMI"}
VITAL_UNIT = {"bp_systolic": "mm[Hg]", "bp_diastolic": "mm[Hg]", "pulse": "/min", "temperature_f": "[degF]",
              "respiration_rate": "/min", "oxygen_saturation": "%", "height_inches": "[in_i]",
              "weight_lbs": "[lb_av]", "bmi": "kg/m2"}
SOCIAL = {"72166-2": "tobacco", "74013-4": "alcohol", "11341-5": "occupation"}
MED_STATUS_OUT = {"stopped": "discontinued", "on-hold": "on_hold"}
MED_STATUS_IN = {"active": "active", "discontinued": "stopped", "on_hold": "on-hold", "completed": "completed"}
COMM_DIRECTION = {"outbound": comm_t.CommunicationDirection.SENT, "inbound": comm_t.CommunicationDirection.RECEIVED}
COMM_MODE = {"PHONE": "phone", "EMAILWRIT": "email", "SMSWRIT": "text", "MAILWRIT": "mail", "FACE": "in_person",
             "FAXWRIT": "fax"}


def _by_date(field: str) -> Any:
    return lambda r: str(r.get(field) or "")


# ---------------------------------------------------------------------------------------------- allergies


def allergy_from_fhir(res: Resource) -> allergy_t.Allergy:
    reactions = [t for rx in res.get("reaction") or () for t in (text_of(m) for m in rx.get("manifestation") or ())
                 if t]
    first_rx = (res.get("reaction") or [{}])[0]
    return allergy_t.Allergy(
        id=res["id"], version=version(res), allergen=text_of(res.get("code")), code=code_of(res.get("code")),
        code_system=system_of(res.get("code")), category=(res.get("category") or [None])[0],
        criticality=res.get("criticality"),
        is_active=code_of(res.get("clinicalStatus")) in (None, "active"),
        reaction=", ".join(reactions) or first_rx.get("description"), reactions=reactions,
        severity=first_rx.get("severity"),
        snomed_reaction=next((code_of(m, SNOMED) for m in first_rx.get("manifestation") or ()), None),
        date_adverse_reaction=date_part(res.get("onsetDateTime")), recorded_date=res.get("recordedDate"),
    )


def get_allergies(info: Info, pid: str, *, is_active: bool | None, first: int | None, after: str | None
                        ) -> Any:
    loader = info.context.loaders.allergies_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_allergies, info, pid, is_active=is_active, first=first, after=after)
    if is_active is not None:
        rows = [r for r in rows if (code_of(r.get("clinicalStatus")) in (None, "active")) == is_active]
    return resolve_connection(rows, key=_by_date("recordedDate"), rid=lambda r: r["id"], node=allergy_from_fhir,
                              first=first, after=after, descending=True)


# ---------------------------------------------------------------------------------------------- medications


def medication_from_fhir(res: Resource) -> medication_t.Medication:
    period = res.get("effectivePeriod") or {}
    status = res.get("status", "unknown")
    concept = res.get("medicationCodeableConcept")
    return medication_t.Medication(
        id=res["id"], version=version(res), name=text_of(concept), rx_cui=code_of(concept, RXNORM),
        status=MED_STATUS_OUT.get(status, status), is_active=status == "active",
        dosage=next((d.get("text") for d in res.get("dosage") or () if d.get("text")), None),
        date_start=date_part(period.get("start") or res.get("effectiveDateTime")),
        date_stop=date_part(period.get("end")),
        discontinuation_reason=next((text_of(s) for s in res.get("statusReason") or ()), None),
    )


def get_medications(info: Info, pid: str, *, is_active: bool | None, first: int | None, after: str | None
                          ) -> Any:
    loader = info.context.loaders.medications_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_medications, info, pid, is_active=is_active, first=first, after=after)
    if is_active is not None:
        rows = [r for r in rows if (r.get("status") == "active") == is_active]
    return resolve_connection(rows, key=lambda r: str((r.get("effectivePeriod") or {}).get("start") or ""),
                              rid=lambda r: r["id"], node=medication_from_fhir, first=first, after=after,
                              descending=True)


# ---------------------------------------------------------------------------------------------- problems

_PROBLEM = {s.value: s for s in problem_t.ProblemStatus}


def problem_from_fhir(res: Resource) -> problem_t.Problem:
    status = code_of(res.get("clinicalStatus"))
    return problem_t.Problem(
        id=res["id"], version=version(res), name=text_of(res.get("code")), snomed_code=code_of(res.get("code"), SNOMED),
        status=_PROBLEM.get(status or "", problem_t.ProblemStatus.ACTIVE if status in ("recurrence", "relapse")
                            else None),
        category=next((code_of(c) for c in res.get("category") or ()), None),
        date_start=date_part(res.get("onsetDateTime")), date_stop=date_part(res.get("abatementDateTime")),
        note=next((n.get("text") for n in res.get("note") or () if n.get("text")), None),
    )


def get_problems(info: Info, pid: str, *, status: Any, first: int | None, after: str | None) -> Any:
    loader = info.context.loaders.conditions_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_problems, info, pid, status=status, first=first, after=after)
    if status is not None:
        rows = [r for r in rows if code_of(r.get("clinicalStatus")) == status.value]
    return resolve_connection(rows, key=_by_date("onsetDateTime"), rid=lambda r: r["id"], node=problem_from_fhir,
                              first=first, after=after, descending=True)


# ---------------------------------------------------------------------------------------------- vital signs


def interpret(key: str, value: float, adult: bool = True) -> str | None:
    """Abnormal flag (v3 ObservationInterpretation) of one vital sign: H/L warning, HH/LL critical."""
    if key == "oxygen_saturation":
        return "LL" if value < 94 else "L" if value < 96 else None
    if key == "temperature_f":
        return "HH" if value >= 103 else "H" if value >= 100.4 else "LL" if value < 95 else "L" if value < 96.5 \
            else None
    if not adult:
        return None
    limits = {"bp_systolic": (70, 90, 140, 180), "bp_diastolic": (40, 60, 90, 120), "pulse": (40, 50, 100, 130),
              "respiration_rate": (8, 12, 20, 30), "bmi": (0, 18.5, 30, 1000)}.get(key)
    if not limits:
        return None
    ll, lo, hi, hh = limits
    return "HH" if value > hh else "H" if value > hi else "LL" if value < ll else "L" if value < lo else None


def is_vitals(res: Resource) -> bool:
    return code_of(res.get("code"), LOINC) == VITALS_PANEL or any(
        code_of(c) == "vital-signs" for c in res.get("category") or ())


def vitals_from_fhir(res: Resource) -> vitals_t.VitalSigns:
    values: dict[str, float] = {}
    flags: list[vitals_t.AbnormalFlag] = []
    comps = res.get("component") or []
    if not comps and "valueQuantity" in res:  # a single-value vital sign observation
        comps = [{"code": res.get("code"), "valueQuantity": res["valueQuantity"],
                  "interpretation": res.get("interpretation")}]
    for comp in comps:
        key = _BY_LOINC.get(code_of(comp.get("code"), LOINC) or "")
        value = (comp.get("valueQuantity") or {}).get("value")
        if key is None or not isinstance(value, int | float):
            continue
        values[key] = value
        flag = next((code_of(i) for i in comp.get("interpretation") or ()), None)
        if flag in ("H", "L", "HH", "LL"):
            critical = flag in ("HH", "LL")
            flags.append(vitals_t.AbnormalFlag(
                vital=key, severity=vitals_t.FlagSeverity.CRITICAL if critical else vitals_t.FlagSeverity.WARNING,
                message=f"{VITAL_LABEL[key]} {value:g} is {'critically ' if critical else ''}"
                        f"{'high' if flag.startswith('H') else 'low'}"))
    when = res.get("effectiveDateTime") or ""
    blocking = ext(res, "procedure-blocking")
    return vitals_t.VitalSigns(
        id=res["id"], version=version(res), date_taken=date_part(when), time_taken=when[11:19] or None,
        bp_systolic=values.get("bp_systolic"), bp_diastolic=values.get("bp_diastolic"), pulse=values.get("pulse"),
        temperature_f=values.get("temperature_f"), respiration_rate=values.get("respiration_rate"),
        oxygen_saturation=values.get("oxygen_saturation"), height_inches=values.get("height_inches"),
        weight_lbs=values.get("weight_lbs"), bmi=values.get("bmi"),
        note=next((n.get("text") for n in res.get("note") or () if n.get("text")), None),
        abnormal_flags=flags,
        is_procedure_blocking=bool(blocking) if blocking is not None else any(
            f.severity is vitals_t.FlagSeverity.CRITICAL for f in flags),
        provider_id=next((ref_id(p, "Practitioner") for p in res.get("performer") or () if ref_id(p, "Practitioner")),
                         None),
    )


def get_vital_signs(info: Info, pid: str, *, date_from: str | None, date_to: str | None, first: int | None,
                    after: str | None) -> Any:
    loader = info.context.loaders.observations_by_patient
    loaded = ready(loader, str(pid))
    if loaded is MISSING:
        return then(loader.load(str(pid)), get_vital_signs, info, pid, date_from=date_from, date_to=date_to,
                    first=first, after=after)
    rows = [r for r in loaded if is_vitals(r)]
    if date_from or date_to:
        rows = [r for r in rows if (not date_from or str(r.get("effectiveDateTime") or "")[:10] >= date_from)
                and (not date_to or str(r.get("effectiveDateTime") or "")[:10] <= date_to)]
    return resolve_connection(rows, key=_by_date("effectiveDateTime"), rid=lambda r: r["id"], node=vitals_from_fhir,
                              first=first, after=after, descending=True)


# ---------------------------------------------------------------------------------------------- alerts

_ALERT_STATUS = {"active": alert_t.AlertStatus.ACTIVE, "inactive": alert_t.AlertStatus.DISABLED,
                 "entered-in-error": alert_t.AlertStatus.ARCHIVED}


def alert_from_fhir(res: Resource, *, from_family: bool = False) -> alert_t.Alert:
    period = res.get("period") or {}
    return alert_t.Alert(
        id=res["id"], version=version(res), name=text_of(res.get("code")), code=code_of(res.get("code")),
        category=next((code_of(c) for c in res.get("category") or ()), None),
        status=_ALERT_STATUS.get(res.get("status", ""), alert_t.AlertStatus.ACTIVE),
        scope=alert_t.AlertScope.FAMILY if ext(res, "alert-scope") == "family" else alert_t.AlertScope.PATIENT,
        is_urgent=bool(ext(res, "alert-urgent", False)),
        note=_flag_note(res),
        start=period.get("start"), disable_on=date_part(period.get("end")),
        patient_id=ref_id(res.get("subject"), "Patient"), from_family_member=from_family,
    )


def _flag_note(res: Resource) -> str | None:
    code = res.get("code") or {}
    texts = [c.get("display") for c in code.get("coding") or ()]
    text = code.get("text")
    return text if text and text not in texts else None


async def family_flags(info: Info, patient: Any) -> list[tuple[Resource, bool]]:
    """The patient's own flags, plus the family-scope flags of the family members (same guarantor).

    The family is resolved first so that the patient's flags and its members' load in one batch."""
    from resolvers import family as family_r

    pid = str(patient.id)
    member_ids = await family_r.family_member_ids(info, pid)
    keys = [pid, *(m for m in member_ids if m != pid)]
    return flags_with_family(await info.context.loaders.flags_by_patient.load_many(keys))


def flags_with_family(per_patient: list[list[Resource]]) -> list[tuple[Resource, bool]]:
    """The first list is the patient's own flags; the others are its family members' (family scope only)."""
    out = [(r, False) for r in per_patient[0]]
    for rows in per_patient[1:]:
        out.extend((r, True) for r in rows if ext(r, "alert-scope") == "family")
    return out


def get_alerts(info: Info, patient: Any, *, status: Any, include_family: bool, first: int | None,
               after: str | None) -> Any:
    if include_family:
        return _family_alerts(info, patient, status, first, after)
    loader = info.context.loaders.flags_by_patient
    own = ready(loader, str(patient.id))
    if own is MISSING:
        return then(loader.load(str(patient.id)), get_alerts, info, patient, status=status,
                    include_family=False, first=first, after=after)
    return _alerts_of([(r, False) for r in own], status, first, after)


async def _family_alerts(info: Info, patient: Any, status: Any, first: int | None, after: str | None) -> Any:
    return _alerts_of(await family_flags(info, patient), status, first, after)


def _alerts_of(rows: list[tuple[Resource, bool]], status: Any, first: int | None, after: str | None) -> Any:
    wanted = status or None
    rows = [(r, fam) for r, fam in rows if wanted is None or _ALERT_STATUS.get(r.get("status", "")) is wanted]
    return resolve_connection(rows, key=lambda t: str((t[0].get("period") or {}).get("start") or ""),
                              rid=lambda t: t[0]["id"], node=lambda t: alert_from_fhir(t[0], from_family=t[1]),
                              first=first, after=after, descending=True)


# ---------------------------------------------------------------------------------------------- communications


def comm_from_fhir(res: Resource) -> comm_t.CommunicationLog:
    direction = None
    for e in res.get("extension") or ():
        if e.get("url") == EXT["communication-direction"]:
            direction = (e.get("valueCoding") or {}).get("code") or e.get("valueCode")
    medium = next((code_of(m) for m in res.get("medium") or ()), None)
    return comm_t.CommunicationLog(
        id=res["id"], communication_datetime=res.get("sent"), mode=COMM_MODE.get(medium or "", medium),
        direction=COMM_DIRECTION.get(direction or "", comm_t.CommunicationDirection.NEITHER),
        source="user" if ext(res, "communication-direction") is None and res.get("sender") is None else "automated",
        category=next((code_of(c) for c in res.get("category") or ()), None),
        note=next((p.get("contentString") for p in res.get("payload") or () if p.get("contentString")), None),
        appointment_id=next((ref_id(a, "Appointment") for a in res.get("about") or ()), None),
    )


def get_communication_logs(info: Info, pid: str, *, date_from: str | None, date_to: str | None,
                                 mode: str | None, direction: Any, q: str | None, first: int | None,
                                 after: str | None) -> Any:
    loader = info.context.loaders.communications_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_communication_logs, info, pid, date_from=date_from, date_to=date_to,
                    mode=mode, direction=direction, q=q, first=first, after=after)
    nodes = [(r, comm_from_fhir(r)) for r in rows]
    needle = q.casefold() if q else None
    nodes = [(r, n) for r, n in nodes
             if (not date_from or (n.communication_datetime or "") >= date_from)
             and (not date_to or (n.communication_datetime or "")[:len(date_to)] <= date_to)
             and (not mode or n.mode == mode) and (direction is None or n.direction is direction)
             and (needle is None or needle in (n.note or "").casefold())]
    return resolve_connection(nodes, key=lambda t: t[1].communication_datetime or "", rid=lambda t: t[0]["id"],
                              node=lambda t: t[1], first=first, after=after, descending=True)


# ---------------------------------------------------------------------------------------------- documents


def document_from_fhir(res: Resource) -> document_t.Document:
    att = ((res.get("content") or [{}])[0]).get("attachment") or {}
    return document_t.Document(
        id=res["id"], version=version(res), title=att.get("title"), description=res.get("description"),
        type=text_of(res.get("type")), status=res.get("status"), doc_status=res.get("docStatus"),
        date=res.get("date"), signed=res.get("docStatus") == "final" and bool(res.get("authenticator")),
        content_type=att.get("contentType"),
    )


def get_documents(info: Info, pid: str, *, first: int | None, after: str | None) -> Any:
    loader = info.context.loaders.documents_by_patient
    rows = ready(loader, str(pid))
    if rows is MISSING:
        return then(loader.load(str(pid)), get_documents, info, pid, first=first, after=after)
    return resolve_connection(rows, key=_by_date("date"), rid=lambda r: r["id"], node=document_from_fhir,
                              first=first, after=after, descending=True)


# ---------------------------------------------------------------------------------------------- mutations


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _patient_ref(info: Info, pid: str) -> dict[str, str]:
    if await info.context.loaders.patients_by_id.load(str(pid)) is None:
        raise NotFound(f"Patient {pid} not found")
    return {"reference": f"Patient/{pid}"}


async def _create(info: Info, res: Resource) -> Resource:
    ctx = info.context
    res["id"] = str(uuid.uuid4())
    written = await ctx.repo.create(ctx.who, res, keep_id=True)
    return written.resource


async def record_vital_signs(info: Info, pid: str, inp: Any) -> vitals_t.VitalSigns:
    subject = await _patient_ref(info, pid)
    comps = []
    any_value = False
    for key in VITAL_CODES:
        value = getattr(inp, key, None)
        if value is None:
            continue
        if value < 0:
            raise Invalid(f"{key} must not be negative", field=key)
        any_value = True
        comp: Resource = {"code": cc(LOINC, VITAL_CODES[key], VITAL_LABEL[key]),
                          "valueQuantity": {"value": value, "unit": VITAL_UNIT[key],
                                            "system": "http://unitsofmeasure.org", "code": VITAL_UNIT[key]}}
        flag = interpret(key, float(value))
        if flag:
            comp["interpretation"] = [cc(V3_INTERPRETATION, flag)]
        comps.append(comp)
    if not any_value:
        raise Invalid("Record at least one vital sign")
    when = inp.date_taken + (f"T{inp.time_taken}" if inp.time_taken else "")
    if inp.time_taken and len(inp.time_taken) == 5:
        when += ":00"
    res: Resource = {
        "resourceType": "Observation", "status": "final",
        "category": [cc(OBS_CATEGORY, "vital-signs", "Vital Signs")],
        "code": cc(LOINC, VITALS_PANEL, "Vital signs panel"), "subject": subject,
        "effectiveDateTime": when + ("Z" if inp.time_taken else ""), "component": comps,
    }
    if inp.provider_id:
        res["performer"] = [{"reference": f"Practitioner/{inp.provider_id}"}]
    if inp.note:
        res["note"] = [{"text": inp.note}]
    return vitals_from_fhir(await _create(info, res))


async def record_allergy(info: Info, pid: str, inp: Any) -> allergy_t.Allergy:
    subject = await _patient_ref(info, pid)
    code = cc(inp.code_system or SNOMED, inp.code, inp.allergen) if inp.code else {"text": inp.allergen}
    active = inp.is_active is not False
    res: Resource = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": cc(ALLERGY_CLINICAL, "active" if active else "inactive"),
        "code": code, "patient": subject, "recordedDate": _now(),
    }
    if inp.category:
        res["category"] = [inp.category]
    if inp.date_adverse_reaction:
        res["onsetDateTime"] = inp.date_adverse_reaction
    if inp.reaction or inp.snomed_reaction:
        manifestation = cc(SNOMED, inp.snomed_reaction, inp.reaction) if inp.snomed_reaction \
            else {"text": inp.reaction}
        rx: Resource = {"manifestation": [manifestation]}
        if inp.severity:
            if inp.severity not in ("mild", "moderate", "severe"):
                raise Invalid("severity must be mild, moderate or severe", field="severity")
            rx["severity"] = inp.severity
        res["reaction"] = [rx]
    return allergy_from_fhir(await _create(info, res))


async def record_medication(info: Info, pid: str, inp: Any) -> medication_t.Medication:
    subject = await _patient_ref(info, pid)
    if not inp.name and not inp.rx_cui:
        raise Invalid("A medication needs a name or an RxNorm code", field="name")
    status = MED_STATUS_IN.get(inp.status or "active")
    if status is None:
        raise Invalid("status must be active, discontinued, on_hold or completed", field="status")
    concept = cc(RXNORM, inp.rx_cui, inp.name) if inp.rx_cui else {"text": inp.name}
    res: Resource = {"resourceType": "MedicationStatement", "status": status, "medicationCodeableConcept": concept,
                     "subject": subject, "dateAsserted": _now()}
    period = {k: v for k, v in (("start", inp.date_start), ("end", inp.date_stop)) if v}
    if period:
        res["effectivePeriod"] = period
    if inp.dosage:
        res["dosage"] = [{"text": inp.dosage}]
    if inp.provider_id:
        res["informationSource"] = {"reference": f"Practitioner/{inp.provider_id}"}
    return medication_from_fhir(await _create(info, res))


async def record_problem(info: Info, pid: str, inp: Any) -> problem_t.Problem:
    subject = await _patient_ref(info, pid)
    status = (inp.status or problem_t.ProblemStatus.ACTIVE).value
    res: Resource = {
        "resourceType": "Condition", "clinicalStatus": cc(CONDITION_CLINICAL, status),
        "category": [cc("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")],
        "code": cc(SNOMED, inp.snomed_code, inp.name) if inp.snomed_code else {"text": inp.name},
        "subject": subject, "recordedDate": _now(),
    }
    if inp.date_start:
        res["onsetDateTime"] = inp.date_start
    if inp.date_stop:
        if status == "active":
            raise Invalid("An active problem has no stop date", field="dateStop")
        res["abatementDateTime"] = inp.date_stop
    if inp.note:
        res["note"] = [{"text": inp.note}]
    return problem_from_fhir(await _create(info, res))


async def create_alert(info: Info, pid: str, inp: Any) -> alert_t.Alert:
    subject = await _patient_ref(info, pid)
    code: Resource = {"coding": [{"system": CS["alert-type"], "code": inp.code, "display": inp.name}],
                      "text": inp.note or inp.name}
    period: Resource = {"start": _now()}
    if inp.disable_on:
        period["end"] = inp.disable_on
    res: Resource = {
        "resourceType": "Flag", "status": "active", "code": code, "subject": subject, "period": period,
        "extension": [{"url": EXT["alert-scope"], "valueCode": (inp.scope or alert_t.AlertScope.PATIENT).value},
                      {"url": EXT["alert-urgent"], "valueBoolean": bool(inp.is_urgent)}],
    }
    return alert_from_fhir(await _create(info, res))
