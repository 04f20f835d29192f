"""The clinical chart of one patient: problems and acute conditions, allergies, social history, alerts (Flag),
episodes of care, then the visits, prescriptions, medication list and communications in that order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from app.demo.builders import quantity
from app.demo.catalog import alert_definition_id, allergy_definition, disease_definition
from app.demo.communication import CommunicationWriter
from app.demo.medication import MedicationWriter
from app.demo.records import Member, Plan, Prac, Visit
from app.demo.visit import VisitWriter
from app.demo.vocabulary import (
    ACUTE_CONDITIONS,
    ALERTS,
    ALLERGENS,
    ALLERGY_VER,
    CONDITION_CATEGORY,
    CONDITION_VER,
    CONDITIONS,
    EPISODE_TYPES,
    FLAG_CATEGORY,
    ICD10,
    INCOMPLETE_REASONS,
    OCCUPATIONS,
    REACTIONS,
    TOBACCO,
)
from store.clock import instant
from store.fhirjson import Resource, concept, extension, reference
from store.naming import ALLERGY_CLINICAL, CONDITION_CLINICAL, CS, ICD10CM, LOINC, OBS_CATEGORY, SNOMED


class ChartWriter(VisitWriter, MedicationWriter, CommunicationWriter):
    def clinical(
        self, m: Member, plan: Plan, guardian: Member | None, *, family_alert: bool
    ) -> Iterator[Resource]:
        rng = self.rng
        visits: list[Visit] = plan["visits"]
        primary: Prac = plan["primary"]
        pat = reference("Patient", m.id, f"{m.given} {m.family}")
        done = [v for v in visits if v.status == "fulfilled"]
        start_of_care = (
            dt.datetime.combine(plan["first_visit"], dt.time(9)) if plan["first_visit"] else self.now
        )
        # Conditions
        cond_ids: dict[str, str] = {}
        for key in plan["conds"]:
            code, display, min_age, _p = CONDITIONS[key]
            onset_age = rng.randrange(min_age, max(min_age, m.age) + 1)
            onset = min(
                self.today - dt.timedelta(days=30),
                m.birth + dt.timedelta(days=onset_age * 365 + rng.randrange(365)),
            )
            status = "active"
            if key in ("depression", "anxiety", "migraine", "gerd") and self.chance(0.25):
                status = rng.choice(("resolved", "inactive"))
            cid = self.id("cond")
            cond_ids[key] = cid
            c: Resource = {
                "resourceType": "Condition",
                "id": cid,
                "clinicalStatus": concept(CONDITION_CLINICAL, status, status.capitalize()),
                "verificationStatus": concept(CONDITION_VER, "confirmed", "Confirmed"),
                "category": [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
                "code": _disease_code(code, display),
                "subject": pat,
                "onsetDateTime": onset.isoformat(),
                "recordedDate": instant(
                    min(self.now, max(start_of_care, dt.datetime.combine(onset, dt.time(10))))
                ),
                "recorder": reference("Practitioner", primary.id, primary.name),
                "extension": [extension("disease-definition", "valueReference", disease_definition(code))],
            }
            if status != "active":
                c["abatementDateTime"] = (
                    (onset + dt.timedelta(days=rng.randrange(60, 900))).isoformat()
                    if (self.today - onset).days > 1000
                    else self.today.isoformat()
                )
            yield c
        for v in done:
            if self.chance(0.25):
                code, display, max_age = rng.choice(ACUTE_CONDITIONS)
                if m.age <= max_age:
                    yield {
                        "resourceType": "Condition",
                        "id": self.id("cond"),
                        "clinicalStatus": concept(CONDITION_CLINICAL, "resolved", "Resolved"),
                        "verificationStatus": concept(CONDITION_VER, "confirmed", "Confirmed"),
                        "category": [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
                        "code": _disease_code(code, display),
                        "subject": pat,
                        "extension": [extension("disease-definition", "valueReference", disease_definition(code))],
                        "onsetDateTime": (
                            v.start.date() - dt.timedelta(days=rng.randrange(1, 6))
                        ).isoformat(),
                        "abatementDateTime": (
                            v.start.date() + dt.timedelta(days=rng.randrange(7, 21))
                        ).isoformat(),
                        "recordedDate": instant(v.start),
                        "recorder": reference("Practitioner", v.prac.id, v.prac.name),
                    }
        # Allergies
        if plan["allergy_review"] == "reviewed":
            for system, code, display, category, reactions in rng.sample(
                ALLERGENS, rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
            ):
                manifest = rng.sample(reactions, rng.randrange(1, min(2, len(reactions)) + 1))
                severe = "39579001" in manifest
                yield {
                    "resourceType": "AllergyIntolerance",
                    "id": self.id("alg"),
                    "clinicalStatus": concept(
                        ALLERGY_CLINICAL,
                        *(("active", "Active") if self.chance(0.9) else ("inactive", "Inactive")),
                    ),
                    "verificationStatus": concept(ALLERGY_VER, "confirmed", "Confirmed"),
                    "type": "allergy",
                    "category": [category],
                    "criticality": "high" if severe else rng.choice(("low", "low", "unable-to-assess")),
                    "code": concept(system, code, display, display.split(" (")[0]),
                    "patient": pat,
                    "extension": [extension("allergy-definition", "valueReference", allergy_definition(code))],
                    "onsetDateTime": (
                        m.birth + dt.timedelta(days=rng.randrange(365, max(366, m.age * 365)))
                    ).isoformat()
                    if m.age > 1
                    else m.birth.isoformat(),
                    "recordedDate": instant(start_of_care),
                    "recorder": reference("Practitioner", primary.id, primary.name),
                    "reaction": [
                        {
                            "manifestation": [concept(SNOMED, rc, REACTIONS[rc]) for rc in manifest],
                            "severity": "severe" if severe else rng.choice(("mild", "moderate")),
                        }
                    ],
                }
        # Social history: one per category, occasionally a newer reading
        if m.status != "prospective" and m.age >= 12:
            yield from self.social(m, pat, start_of_care, done)
        # Alerts: now and then one for this chart; a family-scope one sits on the guarantor's chart
        alerts = [rng.choice(ALERTS[:6])] if self.chance(0.14) else []
        if family_alert and self.chance(0.15):
            alerts.append(rng.choice(ALERTS[6:]))
        for code, display, category, scope, urgent in alerts:
            active = self.chance(0.75) and m.status != "deceased"
            since = min(self.last_moment(m), start_of_care + dt.timedelta(days=rng.randrange(0, 400)))
            period = {"start": instant(since)}
            if not active:
                period = {"start": instant(since - dt.timedelta(days=200)), "end": instant(since)}
            yield {
                "resourceType": "Flag",
                "id": self.id("flag"),
                "status": "active" if active else "inactive",
                "category": [concept(FLAG_CATEGORY, category, category.capitalize())],
                "code": concept(CS["alert-type"], alert_definition_id(code), display, display),
                "subject": pat,
                "period": period,
                "author": reference("Practitioner", primary.id, primary.name),
                "extension": [
                    extension("alert-scope", "valueCode", scope),
                    extension("alert-urgent", "valueBoolean", urgent),
                    extension("alert-definition", "valueReference", reference("Basic", alert_definition_id(code))),
                ],
            }
        # Episodes of care, then the visits that may join them
        yield from self.episodes(m, pat, visits, cond_ids, primary)
        meds = self.medications(m, plan["conds"], cond_ids, done)
        notify = guardian or m
        for v in visits:
            yield from self.visit(m, pat, v, plan, cond_ids)
            for med in meds:  # prescriptions written at this visit
                if med["encounter_visit"] is v:
                    yield self.med_request(pat, med, v)
        # MedicationStatements (the medication list), after their prescriptions
        for med in meds:
            yield self.med_statement(m, pat, med)
        yield from self.communications(m, pat, visits, notify)

    def social(
        self, m: Member, pat: dict[str, str], since: dt.datetime, done: list[Visit]
    ) -> Iterator[Resource]:
        rng = self.rng
        when = rng.choice(done).start if done else since
        cat = [concept(OBS_CATEGORY, "social-history", "Social History")]
        code, display, _w = self.weighted(TOBACCO) if m.age >= 16 else TOBACCO[0]
        obs = [
            (
                "tobacco",
                concept(LOINC, "72166-2", "Tobacco smoking status"),
                {"valueCodeableConcept": concept(SNOMED, code, display, display.rsplit(" (", 1)[0])},
            )
        ]
        if m.age >= 18:
            drinks = rng.choices((0, 1, 2, 3, 5), weights=(35, 35, 18, 8, 4))[0]
            obs.append(
                (
                    "alcohol",
                    concept(LOINC, "74013-4", "Alcoholic drinks per day"),
                    {"valueQuantity": quantity(drinks, "{drinks}/d")},
                )
            )
        if m.age >= 16:
            job = "Student" if m.age < 22 else "Retired" if m.age >= 67 else rng.choice(OCCUPATIONS)
            obs.append(
                (
                    "occupation",
                    concept(LOINC, "11341-5", "History of Occupation"),
                    {"valueCodeableConcept": {"text": job}},
                )
            )
        for kind, coded, value in obs:
            yield {
                "resourceType": "Observation",
                "id": self.id("obs"),
                "status": "final",
                "category": cat,
                "code": coded,
                "subject": pat,
                "effectiveDateTime": instant(when),
                **value,
            }
            if kind == "tobacco" and code in ("449868002", "428041000124106") and done and self.chance(0.35):
                later = max(v.start for v in done)
                if later > when:
                    yield {
                        "resourceType": "Observation",
                        "id": self.id("obs"),
                        "status": "final",
                        "category": [concept(OBS_CATEGORY, "social-history", "Social History")],
                        "code": concept(LOINC, "72166-2", "Tobacco smoking status"),
                        "subject": pat,
                        "effectiveDateTime": instant(later),
                        "valueCodeableConcept": concept(SNOMED, "8517006", "Ex-smoker (finding)", "Ex-smoker"),
                    }

    def episodes(
        self, m: Member, pat: dict[str, str], visits: list[Visit], cond_ids: dict[str, str], primary: Prac
    ) -> Iterator[Resource]:
        rng = self.rng
        if not visits or not self.chance(0.3 if m.status in ("active", "prospective") else 0.1):
            return
        status = self.episode_deck.draw()
        if m.status != "active":
            status = "waitlist" if m.status == "prospective" else rng.choice(("finished", "cancelled"))
        past = [v for v in visits if v.start < self.now]
        future = [v for v in visits if v.start >= self.now]
        if status in ("planned", "waitlist") and not future:
            status = "finished"
        if status in ("active", "onhold") and not past:
            status = "planned" if future else "finished"
        if status in ("finished", "cancelled") and not past:
            return
        end: dt.datetime | None = None
        if status in ("planned", "waitlist"):
            start = future[0].start - dt.timedelta(days=rng.randrange(0, 5))
            members = future
        elif status in ("active", "onhold"):
            start = past[len(past) // 2].start - dt.timedelta(days=rng.randrange(0, 20))
            members = [v for v in visits if v.start >= start]
        else:  # finished | cancelled: a closed stretch of past visits
            first = rng.randrange(len(past))
            last = min(len(past) - 1, first + rng.randrange(0, 3))
            start = past[first].start - dt.timedelta(days=rng.randrange(0, 10))
            end = min(self.now, past[last].start + dt.timedelta(days=rng.randrange(1, 30)))
            members = past[first : last + 1]
        if m.age < 18:
            choices = [e for e in EPISODE_TYPES if e[0] in ("behavioral-health", "covid", "physical-therapy")]
        else:
            choices = list(EPISODE_TYPES)
        if "depression" in cond_ids or "anxiety" in cond_ids:
            etype = EPISODE_TYPES[0]
        elif "htn" in cond_ids and m.age >= 18:
            etype = EPISODE_TYPES[1]
        elif "t2dm" in cond_ids and m.age >= 18:
            etype = EPISODE_TYPES[5]
        else:
            etype = rng.choice(choices)
        code, display, name, objective = etype
        eid = self.id("eoc")
        period: dict[str, str] = {"start": instant(start)}
        if end:
            period["end"] = instant(end)
        extensions = [
            extension("episode-name", "valueString", name),
            extension("episode-objective", "valueString", objective),
        ]
        if status == "cancelled":
            extensions.append(extension("episode-reason-incomplete", "valueString", rng.choice(INCOMPLETE_REASONS)))
        ep: Resource = {
            "resourceType": "EpisodeOfCare",
            "id": eid,
            "extension": extensions,
            "status": status,
            "type": [concept(CS["episode-type"], code, display, display)],
            "patient": pat,
            "managingOrganization": reference("Organization", self.org, self.org_name),
            "period": period,
            "careManager": reference("Practitioner", primary.id, primary.name),
        }
        diag = {
            "behavioral-health": ("depression", "anxiety"),
            "chronic-care": ("htn",),
            "diabetes": ("t2dm",),
            "physical-therapy": ("oa_knee",),
        }.get(code, ())
        linked = [cond_ids[k] for k in diag if k in cond_ids]
        if linked:
            ep["diagnosis"] = [
                {"condition": reference("Condition", cid), "rank": i + 1} for i, cid in enumerate(linked)
            ]
        yield ep
        for v in members:
            if v.status != "entered-in-error" and self.chance(0.8):
                v.episode = eid


def _disease_code(code: str, display: str) -> Resource:
    """Condition.code of a demo condition: its SNOMED CT and ICD-10-CM codings, as its disease definition has."""
    out = concept(SNOMED, code, display, display.rsplit(" (", 1)[0])
    out["coding"].append({"system": ICD10CM, "code": ICD10[code]})
    return out
