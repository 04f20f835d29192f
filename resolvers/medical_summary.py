"""The medical summary (seed 003 /medical-summary): the chart header, computed from the patient's FHIR
resources in one pass per list, each loaded through a per-request DataLoader."""

from __future__ import annotations

import asyncio
from typing import Any

from resolvers import alert as alert_r
from resolvers import chart
from resolvers import family as family_r
from resolvers.context import Info, Scope
from resolvers.loaders import MISSING, Soon, ready
from resolvers.model import alert, allergy, medication, problem, vital_signs
from resolvers.model.medical_summary import SOCIAL, MedicalSummary, SocialHistoryEntry
from resolvers.model.patient import Patient
from store.fhirjson import code_of, text_of

Resource = dict[str, Any]


def _value(res: Resource) -> str | None:
    if "valueCodeableConcept" in res:
        return text_of(res["valueCodeableConcept"])
    if "valueQuantity" in res:
        q = res["valueQuantity"]
        return f"{q.get('value'):g} {q.get('unit', '')}".strip() if isinstance(q.get("value"), int | float) else None
    for key in ("valueString", "valueInteger", "valueBoolean"):
        if key in res:
            return str(res[key])
    return None


def medical_summary(root: Patient, info: Info) -> Soon[MedicalSummary]:
    """The summary, synchronously when every batch it reads is loaded, else an awaitable of it."""
    ctx = info.context
    loaders = ctx.loaders
    pid = str(root.id)
    lists = [ready(loader, pid) for loader in (loaders.allergies_by_patient, loaders.medications_by_patient,
                                                loaders.conditions_by_patient, loaders.observations_by_patient)]
    members = family_r.family_member_ids_ready(ctx, pid)
    if MISSING in lists or members is MISSING:
        return _load_summary(ctx, root)
    keys = [pid, *(m for m in members if m != pid)]
    flags = [ready(loaders.flags_by_patient, k) for k in keys]
    if MISSING in flags:
        return _load_summary(ctx, root)
    allergies, meds, conditions, observations = lists
    return _build(root, allergies, meds, conditions, observations, alert_r.flags_with_family(flags))


async def _load_summary(ctx: Scope, patient: Patient) -> MedicalSummary:
    loaders = ctx.loaders
    pid = str(patient.id)
    allergies, meds, conditions, observations, flags = await asyncio.gather(
        loaders.allergies_by_patient.load(pid), loaders.medications_by_patient.load(pid),
        loaders.conditions_by_patient.load(pid), loaders.observations_by_patient.load(pid),
        alert_r.family_flags(ctx, pid))
    return _build(patient, allergies, meds, conditions, observations, flags)


def _build(patient: Patient, allergies: list[Resource], meds: list[Resource], conditions: list[Resource],
           observations: list[Resource], flags: list[tuple[Resource, bool]]) -> MedicalSummary:
    allergies, meds, conditions, observations = (chart.current(rows)
                                                 for rows in (allergies, meds, conditions, observations))
    vitals = [o for o in observations if vital_signs.is_vitals(o)]
    latest = max(vitals, key=lambda o: (str(o.get("effectiveDateTime") or ""), o["id"])) if vitals else None
    social: dict[str, Resource] = {}
    for o in observations:
        if not any(code_of(c) == "social-history" for c in o.get("category") or ()):
            continue
        code = code_of(o.get("code")) or o["id"]
        when = str(o.get("effectiveDateTime") or "")
        if code not in social or when > str(social[code].get("effectiveDateTime") or ""):
            social[code] = o
    return MedicalSummary(
        allergies=[allergy.from_fhir(a)
                   for a in sorted(allergies, key=lambda r: str(r.get("recordedDate") or ""), reverse=True)
                   if allergy.is_active(a)],
        allergy_review_status=patient.allergy_review_status,
        current_medications=[medication.from_fhir(m) for m in meds if m.get("status") == "active"],
        past_medications=[medication.from_fhir(m) for m in meds if m.get("status") in medication.PAST_STATUSES],
        on_hold_medications=[medication.from_fhir(m) for m in meds if m.get("status") == "on-hold"],
        active_problems=[problem.from_fhir(c) for c in conditions
                         if code_of(c.get("clinicalStatus")) in problem.ACTIVE_STATUSES],
        latest_vitals=vital_signs.from_fhir(latest) if latest else None,
        social_history=[SocialHistoryEntry(
            category=SOCIAL.get(code_of(o.get("code")) or "", text_of(o.get("code")) or "other"),
            code=code_of(o.get("code")), display=text_of(o.get("code")), value=_value(o),
            date=o.get("effectiveDateTime")) for o in social.values()],
        alerts=[alert.from_fhir(f, from_family=fam) for f, fam in flags if f.get("status") == "active"],
        medical_urgent_note=patient.medical_urgent_note,
        premedication_required=patient.premedication_required,
    )
