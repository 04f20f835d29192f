"""One visit: its Slot, the Appointment, and for the visits that took place the Encounter, vital signs,
questionnaire scores and the signed (or preliminary) SOAP note."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

from app.demo.practice import PracticeWriter
from app.demo.records import Member, Plan, Visit
from app.demo.vitals import VitalsWriter
from app.demo.vocabulary import (
    CANCEL_REASON,
    CONDITIONS,
    DOC_CATEGORY,
    PLANS,
    REASONS_BY_SERVICE,
    SLOT_STATUSES_HELD,
    V2_APPT_TYPE,
    V3_ACT,
    V3_PART_TYPE,
    WORKFLOW,
)
from store.clock import instant
from store.fhirjson import Resource, concept, extension, reference
from store.naming import GAD7, LOINC, OBS_CATEGORY, PHQ9, SID


class VisitWriter(PracticeWriter, VitalsWriter):
    def visit(
        self, m: Member, pat: dict[str, str], v: Visit, plan: Plan, cond_ids: dict[str, str]
    ) -> Iterator[Resource]:
        rng = self.rng
        room = self.rooms["telehealth"] if v.video else v.prac.room
        minutes = v.prac.room.minutes
        end = v.start + dt.timedelta(minutes=minutes)
        prac = reference("Practitioner", v.prac.id, v.prac.name)
        slot_status = SLOT_STATUSES_HELD.get(v.status)
        if slot_status:
            slot = self.slot(v.prac, v.start, slot_status, video=v.video)
            v.slot_id = slot["id"]
            yield slot
        elif v.status == "cancelled" and v.start > self.now:
            yield self.slot(v.prac, v.start, "free", video=v.video)  # the cancelled booking reopened its slot
        self.said += 1
        v.appt_id = self.id("apt")
        service_key = v.prac.room.key
        reason = rng.choice(REASONS_BY_SERVICE.get(service_key, REASONS_BY_SERVICE["primary"]))
        patient_part = (
            "needs-action"
            if v.status in ("proposed", "pending", "waitlist")
            else "declined"
            if v.status == "cancelled"
            else "accepted"
        )
        location_id = self.virtual_location if v.video and self.virtual_location else room.location
        appt: Resource = {
            "resourceType": "Appointment",
            "id": v.appt_id,
            "identifier": [{"system": SID["said"], "value": str(self.said)}],
            "status": v.status,
            "serviceCategory": [{"text": v.prac.room.service}],
            "serviceType": [{"text": "Telehealth visit" if v.video else v.prac.room.name}],
            "appointmentType": concept(
                V2_APPT_TYPE,
                *rng.choice(
                    (
                        ("ROUTINE", "Routine appointment - default if not valued"),
                        ("FOLLOWUP", "A follow up visit from a previous appointment"),
                        ("CHECKUP", "A routine check-up, such as an annual physical"),
                        ("WALKIN", "A previously unscheduled walk-in visit"),
                    )
                ),
            ),
            "reasonCode": [{"text": reason}],
            "description": f"{reason} with {v.prac.name}",
            "start": instant(v.start),
            "end": instant(end),
            "minutesDuration": minutes,
            "created": instant(
                min(self.now, v.start)
                - dt.timedelta(days=rng.randrange(1, 45), minutes=rng.randrange(0, 600))
            ),
            "participant": [
                {"actor": pat, "required": "required", "status": patient_part},
                {
                    "actor": prac,
                    "required": "required",
                    "status": "accepted",
                    "type": [concept(V3_PART_TYPE, "PPRF", "primary performer")],
                },
                {
                    "actor": reference("Location", location_id),
                    "required": "information-only",
                    "status": "accepted",
                },
                {
                    "actor": reference("HealthcareService", room.id, room.name),
                    "required": "information-only",
                    "status": "accepted",
                },
            ],
            "extension": [extension("appointment-workflow-status", "valueCode", rng.choice(WORKFLOW[v.status]))],
        }
        if v.slot_id:
            appt["slot"] = [reference("Slot", v.slot_id)]
        if v.episode:
            appt["extension"].append(
                extension("episode-of-care", "valueReference", reference("EpisodeOfCare", v.episode))
            )
        if self.chance(0.1):
            appt["identifier"].append(
                {"system": SID["external-id"], "value": f"EXT-{rng.getrandbits(40):010x}"}
            )
        if v.status in ("proposed", "waitlist"):
            appt["requestedPeriod"] = [
                {
                    "start": instant(v.start - dt.timedelta(days=rng.randrange(0, 4))),
                    "end": instant(end + dt.timedelta(days=rng.randrange(3, 15))),
                }
            ]
        if v.status == "cancelled":
            by_patient = self.chance(0.75)
            appt["cancelationReason"] = concept(
                CANCEL_REASON,
                *(("pat", "Patient") if by_patient else ("prov", "Provider")),
                rng.choice(("Feeling better", "Schedule conflict", "Transportation"))
                if by_patient
                else "Provider unavailable",
            )
        if v.video:
            appt["patientInstruction"] = (
                "Join the video visit from the link in your reminder 5 minutes early."
            )
        if v.status == "noshow":
            appt["comment"] = "Patient did not arrive; left voicemail."
        yield appt
        if v.status not in ("fulfilled", "arrived", "checked-in"):
            return
        enc_status = {"fulfilled": "finished", "arrived": "arrived", "checked-in": "in-progress"}[v.status]
        v.enc_id = self.id("enc")
        began = v.start + dt.timedelta(minutes=rng.randrange(0, 12))
        period = {"start": instant(began)}
        if enc_status == "finished":
            period["end"] = instant(began + dt.timedelta(minutes=minutes + rng.randrange(-5, 15)))
        enc: Resource = {
            "resourceType": "Encounter",
            "id": v.enc_id,
            "status": enc_status,
            "class": {"system": V3_ACT, "code": "VR", "display": "virtual"}
            if v.video
            else {"system": V3_ACT, "code": "AMB", "display": "ambulatory"},
            "serviceType": {"text": v.prac.room.service},
            "subject": pat,
            "participant": [
                {
                    "type": [concept(V3_PART_TYPE, "PPRF", "primary performer")],
                    "individual": prac,
                    "period": dict(period),
                }
            ],
            "appointment": [reference("Appointment", v.appt_id)],
            "period": period,
            "reasonCode": [{"text": reason}],
            "location": [{"location": reference("Location", location_id)}],
            "serviceProvider": reference("Organization", self.org, self.org_name),
        }
        if v.episode:
            enc["episodeOfCare"] = [reference("EpisodeOfCare", v.episode)]
        yield enc
        enc_ref = reference("Encounter", v.enc_id)
        vitals_text = ""
        if (
            not v.video
            and (service_key != "behavioral" or self.chance(0.3))
            and self.chance(0.8 if enc_status == "finished" else 0.6)
        ):
            panel, vitals_text = self.vitals(m, plan, pat, enc_ref, prac, began + dt.timedelta(minutes=3))
            yield panel
        scores = []
        if m.age >= 12 and enc_status == "finished" and (service_key == "behavioral" or self.chance(0.12)):
            mental = "depression" in cond_ids or "anxiety" in cond_ids
            for code, display, top in (
                (PHQ9, "PHQ-9 quick depression assessment panel [Reported.PHQ]", 27),
                (GAD7, "Generalized anxiety disorder 7 item (GAD-7)", 21),
            ):
                mean = top * (0.45 if mental else 0.15)
                score = max(0, min(top, round(rng.gauss(mean, top * 0.15))))
                scores.append(f"{'PHQ-9' if code == PHQ9 else 'GAD-7'} {score}")
                yield {
                    "resourceType": "Observation",
                    "id": self.id("obs"),
                    "status": "final",
                    "category": [concept(OBS_CATEGORY, "survey", "Survey")],
                    "code": concept(
                        LOINC, code, display, "PHQ-9 total score" if code == PHQ9 else "GAD-7 total score"
                    ),
                    "subject": pat,
                    "encounter": enc_ref,
                    "effectiveDateTime": instant(began),
                    "performer": [prac],
                    "valueInteger": score,
                }
        if enc_status != "finished":
            return
        assessment = [CONDITIONS[k][1].rsplit(" (", 1)[0] for k in plan["conds"][:3]]
        acute = reason in ("Cough", "Sore throat", "Fever", "Ear pain")
        objective = vitals_text or f"Vitals not taken ({'video visit' if v.video else 'not indicated'})."
        if scores:
            objective += " Scores: " + ", ".join(scores) + "."
        soap = (
            f"S: {m.given} {m.family}, {m.age} y/o, presents for {reason.lower()}."
            f"{' Reports symptoms for a few days.' if acute else ''}\n"
            f"O: {objective}\n"
            f"A: {'; '.join(assessment) if assessment else 'Healthy; no active problems.'}\n"
            f"P: {rng.choice(PLANS)} Signed by {v.prac.name}.\n"
        )
        signed = self.chance(0.93) or (self.now - v.start).days > 7
        doc: Resource = {
            "resourceType": "DocumentReference",
            "id": self.id("doc"),
            "status": "current",
            "docStatus": "final" if signed else "preliminary",
            "type": concept(LOINC, "11506-3", "Progress note")
            if self.chance(0.8)
            else concept(LOINC, "34109-9", "Note"),
            "category": [concept(DOC_CATEGORY, "clinical-note", "Clinical Note")],
            "subject": pat,
            "date": period.get("end", period["start"]),
            "author": [prac],
            "custodian": reference("Organization", self.org, self.org_name),
            "description": f"SOAP note - {reason}",
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "language": "en-US",
                        "data": base64.b64encode(soap.encode()).decode(),
                        "title": f"SOAP note {v.start.date().isoformat()}",
                        "creation": period.get("end", period["start"]),
                    }
                }
            ],
            "context": {"encounter": [enc_ref], "period": dict(period)},
        }
        if signed:
            doc["authenticator"] = prac
        yield doc

