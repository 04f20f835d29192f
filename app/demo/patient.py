"""One patient: the plan of their history (conditions, providers, visits, balance), kept until the household is
written, and the Patient resource."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.demo.catalog import tag_definition_id
from app.demo.records import Member, Plan, Prac, Visit
from app.demo.state import ClinicState
from app.demo.vocabulary import (
    BCP47,
    CONDITIONS,
    FEMALE_NAMES,
    LANGUAGES,
    MALE_NAMES,
    NICKNAMES,
    OMB,
    PATIENT_TAGS,
    RACES,
    SURNAMES,
    URGENT_NOTES,
    US_CORE_BIRTHSEX,
    US_CORE_ETHNICITY,
    US_CORE_RACE,
    V2_CONTACT_ROLE,
    V3_MARITAL,
)
from store.clock import instant
from store.fhirjson import Resource, concept, extension, reference
from store.naming import CS, SID, SSN_SYSTEM

# An archived patient's last visit is 450 days back (``visits``); it was archived some weeks after.
ARCHIVED_AGO = dt.timedelta(days=400)


class PatientWriter(ClinicState):
    # -- planning one patient's history (kept until the household is written) --

    def plan(self, m: Member, members: list[Member]) -> Plan:
        rng = self.rng
        conds: list[str] = []
        if m.status != "prospective":
            for key, (_c, _d, min_age, p) in CONDITIONS.items():
                if m.age >= min_age and self.chance(p * min(1.0, 0.4 + m.age / 70)):
                    conds.append(key)
            if "t2dm" in conds and "prediabetes" in conds:
                conds.remove("prediabetes")
        # providers
        room_key = "pediatrics" if m.age < 18 else "primary"
        own = [p for p in self.pracs if p.room.key == room_key] or self.pracs
        primary = rng.choice(own)
        secondary = None
        if ("depression" in conds or "anxiety" in conds) or self.chance(0.15):
            bh = [p for p in self.pracs if p.room.key == "behavioral" and p is not primary]
            others = [p for p in self.pracs if p is not primary]
            pool = bh if ("depression" in conds or "anxiety" in conds) and bh else others
            secondary = rng.choice(pool) if pool else None
        visits = self.visits(m, conds, primary, secondary)
        past = [v for v in visits if v.start < self.now]
        first_visit = None
        if past:
            first = min(v.start for v in past).date()
            first_visit = max(m.birth, first - dt.timedelta(days=rng.choice((0, 0, rng.randrange(0, 2500)))))
        r = rng.random()
        balance = (
            0.0
            if r < 0.6
            else round(rng.uniform(10, 500), 2)
            if r < 0.92
            else round(rng.uniform(500, 2600), 2)
        )
        if m.status == "prospective":
            balance = 0.0
        return {
            "conds": conds,
            "primary": primary,
            "secondary": secondary,
            "visits": visits,
            "first_visit": first_visit,
            "balance": balance,
        }

    def visits(self, m: Member, conds: list[str], primary: Prac, secondary: Prac | None) -> list[Visit]:
        rng = self.rng
        visits: list[Visit] = []
        lo = dt.datetime.combine(m.birth, dt.time()) + dt.timedelta(days=1)
        hi = self.now
        if m.status == "inactive":
            hi = self.now - dt.timedelta(days=300)
        elif m.status == "archived":
            hi = self.now - ARCHIVED_AGO - dt.timedelta(days=50)
        elif m.status == "deceased" and m.death:
            hi = m.death - dt.timedelta(days=2)

        def who() -> Prac:
            if secondary and self.chance(0.3):
                return secondary
            if self.chance(0.1):
                return rng.choice(self.pracs)
            return primary

        def video(p: Prac) -> bool:
            return p.room.key != "pediatrics" and self.chance(0.35 if p.room.key == "behavioral" else 0.15)

        if m.status != "prospective":
            n_past = rng.randrange(1, 5) + min(4, len(conds)) + (1 if m.age < 3 else 0)
            for _ in range(n_past):
                p = who()
                start = p.grids["past"].take()
                if start is not None and lo <= start <= hi:
                    visits.append(Visit(start, self.past_deck.draw(), p, video(p)))
        if m.status == "active":
            if self.chance(0.2):  # today's waiting room
                status = self.today_deck.draw()
                p = who()
                start = p.grids["pm" if status == "booked" else "am"].take()
                if start is not None:
                    visits.append(Visit(start, status, p, video(p) and status != "arrived"))
            for _ in range(rng.choices((0, 1, 2, 3), weights=(3, 4, 2, 1))[0]):
                p = who()
                start = p.grids["future"].take()
                if start is not None:
                    visits.append(Visit(start, self.future_deck.draw(), p, video(p)))
        elif m.status == "prospective":
            status = rng.choice(("booked", "booked", "pending", "proposed", "waitlist"))
            start = primary.grids["future"].take()
            if start is not None:
                visits.append(Visit(start, status, primary, False))
        visits.sort(key=lambda v: v.start)
        return visits

    # -- Patient --

    def patient(
        self,
        m: Member,
        plan: Plan,
        members: list[Member],
        account_no: str,
        address: dict[str, Any],
        home_phone: str | None,
        home_location: str,
        *,
        guarantor: Member,
    ) -> Resource:
        rng = self.rng
        self.spid += 1
        given = [m.given] + ([m.middle] if m.middle and m.middle != m.given else [])
        names: list[dict[str, Any]] = [{"use": "official", "family": m.family, "given": given}]
        if m.age >= 18 and self.chance(0.25):
            names[0]["prefix"] = [{"female": "Ms.", "male": "Mr."}.get(m.gender, "Mx.")]
        nickname = NICKNAMES.get(m.given)
        if nickname and self.chance(0.5):
            names.append({"use": "nickname", "given": [nickname], "family": m.family})
        telecom: list[dict[str, Any]] = []
        if m.mobile:
            telecom.append({"system": "phone", "value": m.mobile, "use": "mobile", "rank": 1})
        if home_phone:
            telecom.append({"system": "phone", "value": home_phone, "use": "home"})
        if m.age >= 22 and m.age < 67 and self.chance(0.3):
            telecom.append({"system": "phone", "value": self.phone(), "use": "work"})
        if m.email:
            telecom.append({"system": "email", "value": m.email, "use": "home"})
        identifiers = [
            {
                "use": "usual",
                "type": concept("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number"),
                "system": SID["mrn"],
                "value": f"MRN-{self.spid + 100000:07d}",
            },
            {
                "system": SID["chart-number"],
                "value": f"{m.family[:3].upper()}{m.given[:2].upper()}{self.spid:04d}".replace("'", "X"),
            },
            {"system": SID["spid"], "value": str(self.spid)},
            {"system": SID["account-number"], "value": account_no},
        ]
        if m.age >= 1 and self.chance(0.85):
            identifiers.append(
                {
                    "type": concept(
                        "http://terminology.hl7.org/CodeSystem/v2-0203", "SS", "Social Security number"
                    ),
                    "system": SSN_SYSTEM,
                    "value": f"9{rng.randrange(0, 100):02d}-{rng.randrange(1, 100):02d}-"
                    f"{rng.randrange(1, 10000):04d}",
                }
            )
        if m.kind == "adult":
            if m.spouse is not None:
                dead_spouse = members[m.spouse].status == "deceased"
                marital = ("W", "Widowed") if dead_spouse else ("M", "Married")
            else:
                marital = self.weighted(
                    (
                        ("S", "Never Married", 5),
                        ("D", "Divorced", 2),
                        ("W", "Widowed", 2 if m.age > 60 else 0.2),
                        ("T", "Domestic partner", 1),
                        ("L", "Legally Separated", 0.5),
                    )
                )[:2]
        else:
            marital = ("S", "Never Married")
        lang = self.weighted(LANGUAGES)
        race = self.weighted(RACES)
        hispanic = self.chance(0.18 if lang[0] != "es" else 0.95)
        visits: list[Visit] = plan["visits"]
        has_allergy_check = m.status != "prospective"
        allergy_review = (
            "reviewed"
            if has_allergy_check and self.chance(0.55)
            else "nkda"
            if has_allergy_check and self.chance(0.6)
            else "not_reviewed"
        )
        plan["allergy_review"] = allergy_review
        contact = rng.choice(("phone", "text", "email", "text", "phone", "mail", "none"))
        if contact == "email" and not m.email:
            contact = "phone"
        if contact == "text" and not m.mobile:
            contact = "phone"
        consent = 0
        if m.status != "prospective":
            consent = (
                1
                | 2
                | (4 if self.chance(0.9) else 0)
                | (8 if any(v.video for v in visits) or self.chance(0.3) else 0)
            )
        pronoun = {"female": "she_her", "male": "he_him"}.get(m.gender, "they_them")
        if m.age < 13 or self.chance(0.4):
            pronoun = "not_specified" if self.chance(0.5) else pronoun
        extensions = [
            extension("patient-status", "valueCode", m.status),
            extension("patient-location", "valueReference", reference("Location", home_location)),
            extension("pronouns", "valueCode", pronoun),
            extension("premedication-required", "valueBoolean", self.chance(0.05)),
            extension("allergy-review-status", "valueCode", allergy_review),
            extension("preferred-contact-method", "valueCode", contact),
            extension(
                "preferred-confirmation-method", "valueCode", "text" if m.mobile and self.chance(0.6) else contact
            ),
            extension("receives-email", "valueBoolean", bool(m.email) and self.chance(0.8)),
            extension("receives-sms", "valueBoolean", bool(m.mobile) and self.chance(0.75)),
            extension("consent-flags", "valueInteger", consent),
            extension("balance-total", "valueDecimal", plan["balance"]),
        ]
        if self.chance(0.06):
            extensions.append(extension("medical-urgent-note", "valueString", rng.choice(URGENT_NOTES)))
        if plan["first_visit"]:
            extensions.append(extension("date-first-visit", "valueDate", plan["first_visit"].isoformat()))
        if m.status == "archived":  # when, as archivePatient records it (resolvers/model/patient.py set_status)
            extensions.append(extension("deleted-at", "valueDateTime", instant(self.now - ARCHIVED_AGO)))
        extensions.append(
            {
                "url": US_CORE_RACE,
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": OMB, "code": race[0], "display": race[1]},
                    },
                    {"url": "text", "valueString": race[1]},
                ],
            }
        )
        eth = ("2135-2", "Hispanic or Latino") if hispanic else ("2186-5", "Not Hispanic or Latino")
        extensions.append(
            {
                "url": US_CORE_ETHNICITY,
                "extension": [
                    {"url": "ombCategory", "valueCoding": {"system": OMB, "code": eth[0], "display": eth[1]}},
                    {"url": "text", "valueString": eth[1]},
                ],
            }
        )
        if m.gender in ("female", "male"):
            extensions.append({"url": US_CORE_BIRTHSEX, "valueCode": "F" if m.gender == "female" else "M"})
        tags: list[tuple[str, str]] = []
        if m.status == "prospective" or (
            plan["first_visit"] and (self.today - plan["first_visit"]).days < 120
        ):
            tags.append(PATIENT_TAGS[7])
        if lang[0] != "en-US" and self.chance(0.6):
            tags.append(PATIENT_TAGS[5])
        if plan["balance"] > 500:
            tags.append(PATIENT_TAGS[6] if self.chance(0.4) else PATIENT_TAGS[1])
        for tag in (PATIENT_TAGS[0], PATIENT_TAGS[2], PATIENT_TAGS[3], PATIENT_TAGS[4]):
            if self.chance(0.06):
                tags.append(tag)
        gp = [reference("Practitioner", plan["primary"].id, plan["primary"].name)]
        if plan["secondary"]:
            gp.append(reference("Practitioner", plan["secondary"].id, plan["secondary"].name))
        res: Resource = {
            "resourceType": "Patient",
            "id": m.id,
            "extension": extensions,
            "identifier": identifiers,
            "active": m.status not in ("inactive", "archived"),
            "name": names,
            "telecom": telecom,
            "gender": m.gender,
            "birthDate": m.birth.isoformat(),
            "address": [dict(address, line=list(address["line"]))],
            "maritalStatus": concept(V3_MARITAL, *marital),
            "communication": [{"language": concept(BCP47, lang[0], lang[1]), "preferred": True}],
            "generalPractitioner": gp,
            "managingOrganization": reference("Organization", self.org, self.org_name),
        }
        if tags:
            res["meta"] = {"tag": [{"system": CS["patient-tag"], "code": tag_definition_id(c), "display": d}
                                   for c, d in tags]}
        if m.death:
            res["deceasedDateTime"] = instant(m.death)
        if m.age < 18 and guarantor is not m:
            res["contact"] = [
                {
                    "relationship": [concept(V2_CONTACT_ROLE, "N", "Next-of-Kin")],
                    "name": {"family": guarantor.family, "given": [guarantor.given]},
                    "telecom": [
                        {"system": "phone", "value": guarantor.mobile or self.phone(), "use": "mobile"}
                    ],
                }
            ]
        elif self.chance(0.5):
            contact_given = rng.choice(FEMALE_NAMES + MALE_NAMES)
            res["contact"] = [
                {
                    "relationship": [concept(V2_CONTACT_ROLE, "C", "Emergency Contact")],
                    "name": {"family": rng.choice(SURNAMES), "given": [contact_given]},
                    "telecom": [{"system": "phone", "value": self.phone(), "use": "mobile"}],
                }
            ]
        return res

