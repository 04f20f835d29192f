"""The medical summary (seed 003 /medical-summary): the chart header, computed from the patient's FHIR
resources in one pass per list, each loaded through a per-request DataLoader."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from graph.types import medical_summary as summary_t
from resolvers import clinical
from resolvers.fhir import code_of, text_of
from resolvers.loaders import MISSING, ready

if TYPE_CHECKING:
    from graph.context import Info

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


def get_medical_summary(info: Info, patient: Any) -> Any:
    """The summary, synchronously when every batch it reads is loaded, else an awaitable of it."""
    from resolvers import family as family_r

    loaders = info.context.loaders
    pid = str(patient.id)
    lists = [ready(loader, pid) for loader in (loaders.allergies_by_patient, loaders.medications_by_patient,
                                                loaders.conditions_by_patient, loaders.observations_by_patient)]
    members = family_r.family_member_ids_ready(info, pid)
    if MISSING in lists or members is MISSING:
        return _load_summary(info, patient)
    keys = [pid, *(m for m in members if m != pid)]
    flags = [ready(loaders.flags_by_patient, k) for k in keys]
    if MISSING in flags:
        return _load_summary(info, patient)
    allergies, meds, conditions, observations = lists
    return _build(patient, allergies, meds, conditions, observations, clinical.flags_with_family(flags))


async def _load_summary(info: Info, patient: Any) -> summary_t.MedicalSummary:
    loaders = info.context.loaders
    pid = str(patient.id)
    allergies, meds, conditions, observations, flags = await asyncio.gather(
        loaders.allergies_by_patient.load(pid), loaders.medications_by_patient.load(pid),
        loaders.conditions_by_patient.load(pid), loaders.observations_by_patient.load(pid),
        clinical.family_flags(info, patient))
    return _build(patient, allergies, meds, conditions, observations, flags)


def _build(patient: Any, allergies: list[Resource], meds: list[Resource], conditions: list[Resource],
           observations: list[Resource], flags: list[tuple[Resource, bool]]) -> summary_t.MedicalSummary:
    vitals = [o for o in observations if clinical.is_vitals(o)]
    latest = max(vitals, key=lambda o: (str(o.get("effectiveDateTime") or ""), o["id"])) if vitals else None
    social: dict[str, Resource] = {}
    for o in observations:
        if not any(code_of(c) == "social-history" for c in o.get("category") or ()):
            continue
        code = code_of(o.get("code")) or o["id"]
        when = str(o.get("effectiveDateTime") or "")
        if code not in social or when > str(social[code].get("effectiveDateTime") or ""):
            social[code] = o
    current = [m for m in meds if m.get("status") == "active"]
    past = [m for m in meds if m.get("status") in ("stopped", "completed", "on-hold", "not-taken")]
    return summary_t.MedicalSummary(
        allergies=[clinical.allergy_from_fhir(a)
                   for a in sorted(allergies, key=lambda r: str(r.get("recordedDate") or ""), reverse=True)
                   if code_of(a.get("clinicalStatus")) in (None, "active")],
        allergy_review_status=patient.allergy_review_status,
        current_medications=[clinical.medication_from_fhir(m) for m in current],
        past_medications=[clinical.medication_from_fhir(m) for m in past],
        active_problems=[clinical.problem_from_fhir(c) for c in conditions
                         if code_of(c.get("clinicalStatus")) in ("active", "recurrence", "relapse")],
        latest_vitals=clinical.vitals_from_fhir(latest) if latest else None,
        social_history=[summary_t.SocialHistoryEntry(
            category=clinical.SOCIAL.get(code_of(o.get("code")) or "", text_of(o.get("code")) or "other"),
            code=code_of(o.get("code")), display=text_of(o.get("code")), value=_value(o),
            date=o.get("effectiveDateTime")) for o in social.values()],
        alerts=[clinical.alert_from_fhir(f, from_family=fam) for f, fam in flags if f.get("status") == "active"],
        medical_urgent_note=patient.medical_urgent_note,
        premedication_required=patient.premedication_required,
    )
