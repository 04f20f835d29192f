"""Medications: what each condition is treated with (switched and finished courses too), the MedicationRequests
written at visits and the MedicationStatements of the medication list."""

from __future__ import annotations

import datetime as dt

from app.demo.catalog import medication_definition
from app.demo.records import Med, Member, Visit
from app.demo.state import ClinicState
from app.demo.vocabulary import CONDITION_MEDS, MED_REQ_CATEGORY, MEDS, UCUM
from store.clock import instant
from store.fhirjson import Resource, concept, extension, reference
from store.naming import RXNORM


class MedicationWriter(ClinicState):
    def medications(
        self, m: Member, conds: list[str], cond_ids: dict[str, str], done: list[Visit]
    ) -> list[Med]:
        rng = self.rng
        meds: list[Med] = []
        for key in conds:
            options = CONDITION_MEDS.get(key)
            if not options or self.chance(0.15):
                continue
            picks = [rng.choice(options)]
            if key == "htn" and self.chance(0.25):  # a switched drug: the old one was stopped
                old = rng.choice([o for o in options if o != picks[0]])
                meds.append(self.med(m, old, "stopped", cond_ids.get(key), done))
            if key in ("asthma", "cad") and len(options) > 1 and self.chance(0.6):
                picks = list(options)
            for med in picks:
                if not any(x["key"] == med and x["status"] == "active" for x in meds):
                    meds.append(self.med(m, med, "active", cond_ids.get(key), done))
        if done and self.chance(0.3):
            meds.append(self.med(m, rng.choice(("amoxicillin", "ibuprofen")), "completed", None, done))
        return meds

    def med(
        self, m: Member, key: str, status: str, reason: str | None, done: list[Visit]
    ) -> Med:
        rng = self.rng
        visit = rng.choice(done) if done and self.chance(0.8) else None
        if visit:
            start = visit.start
        else:  # prescribed elsewhere, before this clinic's records
            days = rng.randrange(200, 1500)
            start = max(
                dt.datetime.combine(m.birth, dt.time(10)), self.last_moment(m) - dt.timedelta(days=days)
            )
        end = None
        if status == "active" and m.death:  # the medication list closes at death
            status, end = "stopped", m.death
        elif status != "active":
            end = max(
                start,
                min(
                    self.last_moment(m) - dt.timedelta(days=1),
                    start + dt.timedelta(days=rng.choice((10, 14, 90, 180))),
                ),
            )
        return {
            "key": key,
            "status": status,
            "reason": reason,
            "start": start,
            "end": end,
            "encounter_visit": visit,
            "request_id": None,
        }

    def med_request(self, pat: dict[str, str], med: Med, v: Visit) -> Resource:
        code, display, sig = MEDS[med["key"]]
        med["request_id"] = self.id("mr")
        res: Resource = {
            "resourceType": "MedicationRequest",
            "id": med["request_id"],
            "status": "active"
            if med["status"] == "active"
            else "completed"
            if med["status"] == "completed"
            else "stopped",
            "intent": "order",
            "category": [concept(MED_REQ_CATEGORY, "outpatient", "Outpatient")],
            "medicationCodeableConcept": concept(RXNORM, code, display, display),
            "subject": pat,
            "encounter": reference("Encounter", v.enc_id) if v.enc_id else None,
            "authoredOn": instant(med["start"]),
            "requester": reference("Practitioner", v.prac.id, v.prac.name),
            "dosageInstruction": [{"sequence": 1, "text": sig}],
            "dispenseRequest": {
                "numberOfRepeatsAllowed": 0 if med["key"] in ("amoxicillin",) else 3,
                "expectedSupplyDuration": {
                    "value": 10 if med["key"] == "amoxicillin" else 30,
                    "unit": "days",
                    "system": UCUM,
                    "code": "d",
                },
            },
        }
        if res["encounter"] is None:
            del res["encounter"]
        if med["reason"]:
            res["reasonReference"] = [reference("Condition", med["reason"])]
        return res

    def med_statement(self, m: Member, pat: dict[str, str], med: Med) -> Resource:
        code, display, sig = MEDS[med["key"]]
        period = {"start": med["start"].date().isoformat()}
        if med["end"]:
            period["end"] = med["end"].date().isoformat()
        prescribed = med["encounter_visit"]  # a request was written at it (request_id) or none
        res: Resource = {
            "resourceType": "MedicationStatement",
            "id": self.id("ms"),
            "status": med["status"],
            "medicationCodeableConcept": concept(RXNORM, code, display, display),
            "subject": pat,
            "effectivePeriod": period,
            "dateAsserted": instant(min(self.now, med["start"] + dt.timedelta(days=1))),
            "informationSource": pat
            if med["request_id"] is None or prescribed is None
            else reference("Practitioner", prescribed.prac.id),
            "dosage": [{"text": sig}],
            "extension": [extension("medication-definition", "valueReference", medication_definition(med["key"]))],
        }
        if med["request_id"]:
            res["basedOn"] = [reference("MedicationRequest", med["request_id"])]
        if med["reason"]:
            res["reasonReference"] = [reference("Condition", med["reason"])]
        if med["status"] == "stopped":
            res["statusReason"] = [
                {"text": self.rng.choice(("Side effects", "Ineffective", "Switched therapy"))}
            ]
        return res

