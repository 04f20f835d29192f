"""Households: who lives together (couples, families, grandparents raising children, siblings), their shared
Account, RelatedPersons and family Group, then each member's Patient and chart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from app.demo.builders import age_on
from app.demo.chart import ChartWriter
from app.demo.patient import PatientWriter
from app.demo.records import Member
from app.demo.vocabulary import EMAIL_DOMAINS, FEMALE_NAMES, MALE_NAMES, NEUTRAL_NAMES, SURNAMES
from store.fhirjson import Resource, concept, extension, reference
from store.naming import SID, V3_ROLE


class HouseholdWriter(PatientWriter, ChartWriter):
    def household(self, remaining: int) -> list[Member]:
        rng = self.rng
        family = rng.choice(SURNAMES)
        kind = rng.choices(
            ("single", "couple", "family", "single-parent", "grandparents", "siblings"),
            weights=(30, 20, 30, 11, 4, 5),
        )[0]
        members: list[Member] = []

        def add(age: int, gender: str | None = None, kind: str = "adult", surname: str | None = None) -> int:
            gender = gender or self.gender(adult=kind == "adult")
            pool = FEMALE_NAMES if gender == "female" else MALE_NAMES if gender == "male" else NEUTRAL_NAMES
            birth = self.today - dt.timedelta(days=age * 365 + rng.randrange(365))
            other = FEMALE_NAMES if gender == "female" else MALE_NAMES if gender == "male" else pool
            members.append(
                Member(
                    id=self.id("pat"),
                    given=rng.choice(pool),
                    middle=rng.choice(other) if self.chance(0.55) else None,
                    family=surname or family,
                    gender=gender,
                    birth=birth,
                    age=age_on(birth, self.today),
                    kind=kind,
                )
            )
            return len(members) - 1

        def children(parent_ages: list[int], parents: list[int], n: int, max_age: int = 21) -> None:
            top = min(max_age, min(parent_ages) - 18)
            for _ in range(n):
                c = add(rng.randrange(0, max(1, top + 1)), kind="child")
                members[c].parents = list(parents)
                if members[c].age >= 18:
                    members[c].kind = "adult"

        if kind == "single":
            add(rng.choice((rng.randrange(18, 40), rng.randrange(25, 70), rng.randrange(40, 92))))
        elif kind == "couple" or (kind == "grandparents" and self.chance(0.6)):
            age = rng.randrange(60, 76) if kind == "grandparents" else rng.randrange(22, 86)
            g1 = rng.choice(("female", "male"))
            g2 = ("male" if g1 == "female" else "female") if self.chance(0.9) else g1
            a = add(age, g1)
            b = add(
                max(18, age + rng.randrange(-5, 6)),
                g2,
                surname=rng.choice(SURNAMES) if self.chance(0.12) else None,
            )
            members[a].spouse, members[b].spouse = b, a
            if kind == "grandparents":
                children([age], [a, b], rng.randrange(1, 3), max_age=17)
                for m in members[2:]:
                    m.guardian_kind = "grandparent"
        elif kind == "grandparents":
            age = rng.randrange(55, 76)
            g = add(age, rng.choice(("female", "male")))
            children([age], [g], rng.randrange(1, 3), max_age=17)
            for m in members[1:]:
                m.guardian_kind = "grandparent"
        elif kind == "family":
            age = rng.randrange(28, 53)
            a = add(age, "female")
            b = add(max(20, age + rng.randrange(-4, 5)), "male" if self.chance(0.92) else "female")
            members[a].spouse, members[b].spouse = b, a
            children([members[a].age, members[b].age], [a, b], rng.choices((1, 2, 3), weights=(4, 4, 2))[0])
        elif kind == "single-parent":
            age = rng.randrange(22, 51)
            p = add(age, "female" if self.chance(0.75) else "male")
            children([age], [p], rng.choices((1, 2, 3), weights=(5, 3, 2))[0])
        else:  # adult siblings sharing a flat
            age = rng.randrange(18, 36)
            a = add(age)
            b = add(max(18, age + rng.randrange(-4, 5)))
            members[a].parents, members[b].parents = [-1], [-1]  # same (absent) parents: siblings
        members = members[:remaining]
        if any(m.spouse is not None and m.spouse >= len(members) for m in members):
            for m in members:
                m.spouse = None
        self.assign_statuses(members)
        return members

    def gender(self, *, adult: bool) -> str:
        r = self.rng.random()
        return (
            "female" if r < 0.49 else "male" if r < 0.98 else "other" if r < 0.995 or not adult else "unknown"
        )

    def assign_statuses(self, members: list[Member]) -> None:
        status = self.household_status.draw()
        has_minor = any(m.age < 18 for m in members)
        for m in members:
            m.status = status
            if status == "active" and m.kind == "adult" and m.age >= 40 and not has_minor:
                self.deceased_candidates += 1
                if self.deceased_candidates % 12 == 2:
                    m.status = "deceased"
                    m.death = self.at_time(self.today - dt.timedelta(days=self.rng.randrange(20, 400)), 0, 24)

    # -- one household --

    def emit_household(self, members: list[Member]) -> Iterator[Resource]:
        rng = self.rng
        self.account_seq += 1
        account_no = f"A-{self.account_seq:06d}"
        address = self.address()
        home_phone = self.phone() if self.chance(0.45) else None
        shared_email = None
        if len(members) > 1 and self.chance(0.45):
            surname = members[0].family.lower().replace("'", "")
            shared_email = f"the{surname}family{rng.randrange(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"
        living_adults = [i for i, m in enumerate(members) if m.kind == "adult" and m.status != "deceased"]
        guarantor = max(living_adults, key=lambda i: members[i].age) if living_adults else 0
        home_location = self.rng.choice([r.location for r in self.rooms.values() if r.key != "telehealth"])
        for m in members:
            if shared_email:
                m.email = shared_email
            elif m.age >= 14 and self.chance(0.85):
                m.email = (
                    (
                        f"{m.given}.{m.family}{rng.randrange(1, 999) if self.chance(0.6) else ''}"
                        f"@{rng.choice(EMAIL_DOMAINS)}"
                    )
                    .lower()
                    .replace("'", "")
                )
            m.mobile = self.phone() if m.age >= 12 and self.chance(0.9) else None
        plans = [self.plan(m, members) for m in members]
        for m, plan in zip(members, plans, strict=True):
            yield self.patient(
                m, plan, members, account_no, address, home_phone, home_location, guarantor=members[guarantor]
            )
        yield {
            "resourceType": "Account",
            "id": self.id("acc"),
            "identifier": [{"system": SID["account-number"], "value": account_no}],
            "status": "active" if any(m.status in ("active", "prospective") for m in members) else "inactive",
            "name": f"{members[guarantor].family} household",
            "subject": [reference("Patient", m.id, f"{m.given} {m.family}") for m in members],
            "owner": reference("Organization", self.org, self.org_name),
            "guarantor": [
                {
                    "party": reference(
                        "Patient",
                        members[guarantor].id,
                        f"{members[guarantor].given} {members[guarantor].family}",
                    ),
                    "onHold": any(p["balance"] > 500 for p in plans) and self.chance(0.3),
                }
            ],
        }
        yield from self.relations(members)
        if shared_email:
            yield {
                "resourceType": "Group",
                "id": self.id("grp"),
                "active": True,
                "type": "person",
                "actual": True,
                "code": {"text": "family"},
                "name": f"{members[0].family} family",
                "quantity": len(members),
                "managingEntity": reference("Organization", self.org, self.org_name),
                "member": [{"entity": reference("Patient", m.id, f"{m.given} {m.family}")} for m in members],
            }
        for m, plan in zip(members, plans, strict=True):
            guardian = members[guarantor] if m.age < 18 else None
            yield from self.clinical(
                m, plan, guardian, family_alert=len(members) > 1 and m is members[guarantor]
            )

    def relations(self, members: list[Member]) -> Iterator[Resource]:
        for i, p in enumerate(members):
            for j, q in enumerate(members):
                if i == j:
                    continue
                codes: list[tuple[str, str]]
                guardian = False
                if j in p.parents:  # q is p's parent (or raising grandparent)
                    if p.guardian_kind == "grandparent":
                        codes = [("GRPRN", "grandparent"), ("GUARD", "guardian")]
                    else:
                        codes = [
                            {"female": ("MTH", "mother"), "male": ("FTH", "father")}.get(
                                q.gender, ("PRN", "parent")
                            )
                        ]
                    guardian = p.age < 18 and q.status != "deceased"
                elif i in q.parents:
                    codes = [
                        ("GRNDCHILD", "grandchild")
                        if q.guardian_kind == "grandparent"
                        else ("CHILD", "child")
                    ]
                elif p.spouse == j:
                    codes = [("SPS", "spouse")]
                elif p.parents and p.parents == q.parents:
                    codes = [("SIB", "sibling")]
                else:
                    continue
                yield {
                    "resourceType": "RelatedPerson",
                    "id": self.id("rp"),
                    "active": True,
                    "patient": reference("Patient", p.id, f"{p.given} {p.family}"),
                    "relationship": [concept(V3_ROLE, c, d) for c, d in codes],
                    "name": [{"use": "official", "family": q.family, "given": [q.given]}],
                    "gender": q.gender,
                    "birthDate": q.birth.isoformat(),
                    "extension": [
                        extension(
                            "related-patient", "valueReference", reference("Patient", q.id, f"{q.given} {q.family}")
                        ),
                        extension("is-guardian", "valueBoolean", guardian),
                    ],
                }

