"""The practice: the Organization, its Locations, the waiting rooms (HealthcareService), the practitioners with
their roles and Schedules, and the Slots they book out of.

How time is laid out: ``anchor`` is "today"; "now" is ``anchor`` at 12:00 UTC. Each practitioner books out of
their own slot grid (weekdays 08:00-12:00 and 13:00-17:00 UTC, the waiting room's slot length). The grid is
split into past (the two years before today), this morning, this afternoon and future (the next 90 days);
appointments take positions in each grid through an affine permutation ``(a*k + b) mod size`` of a per-grid
counter, so no two appointments of a practitioner share a slot and nothing but the counters is remembered.
After the last patient, the unused positions of the next two weeks are emitted as free Slots.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

from app.demo.builders import npi, quantity
from app.demo.catalog import catalogs
from app.demo.records import Grid, Prac, Room
from app.demo.state import ClinicState
from app.demo.vocabulary import FEMALE_NAMES, MALE_NAMES, NPI, ORG_TYPE, PHYSICAL_TYPE, PRAC_ROLE, SURNAMES, V2_DEGREE
from store.clock import instant
from store.fhirjson import Resource, concept, extension, reference
from store.naming import SNOMED


class PracticeWriter(ClinicState):
    def clinic(self) -> Iterator[Resource]:
        rng = self.rng
        self.org = self.id("org")
        org_name = (
            rng.choice(("Maple Grove", "Riverbend", "Cedar Hill", "Lakeside", "Northfield"))
            + " Family Health"
        )
        self.org_name = org_name
        yield {
            "resourceType": "Organization",
            "id": self.org,
            "active": True,
            "identifier": [{"system": NPI, "value": npi(rng.randrange(100_000_000, 200_000_000))}],
            "type": [concept(ORG_TYPE, "prov", "Healthcare Provider")],
            "name": org_name,
            "alias": [org_name.split()[0] + " FH"],
            "telecom": [
                {"system": "phone", "value": self.phone(), "use": "work"},
                {"system": "email", "value": "frontdesk@clinic.example.com", "use": "work"},
            ],
            "address": [self.address(home=False)],
        }
        sites = [("Main Street", "bu"), ("Riverside", "bu")]
        if self.chance(0.6):
            sites.append(("Telehealth (virtual)", ""))
        locations: list[tuple[str, str]] = []
        for name, physical in sites:
            lid = self.id("loc")
            loc: Resource = {
                "resourceType": "Location",
                "id": lid,
                "status": "active",
                "name": f"{org_name} - {name}",
                "mode": "instance",
                "managingOrganization": reference("Organization", self.org, org_name),
                "hoursOfOperation": [
                    {
                        "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                        "allDay": False,
                        "openingTime": "08:00:00",
                        "closingTime": "17:00:00",
                    }
                ],
            }
            if physical:
                loc["physicalType"] = concept(PHYSICAL_TYPE, physical, "Building")
                loc["address"] = self.address(home=False)
                loc["telecom"] = [{"system": "phone", "value": self.phone(), "use": "work"}]
                loc["position"] = {
                    "latitude": round(39.96 + rng.uniform(-0.1, 0.1), 5),
                    "longitude": round(-83.0 + rng.uniform(-0.1, 0.1), 5),
                }
            else:
                loc["description"] = "Video visits; patients join from home."
                loc["telecom"] = [{"system": "url", "value": "https://visit.clinic.example.com"}]
                self.virtual_location = lid
            locations.append((lid, loc["name"]))
            yield loc
        main, branch = locations[0], locations[1]
        virtual = locations[2] if len(locations) > 2 else main
        room_specs = (  # key, name, service line, minutes, location
            ("primary", "Primary Care", "Primary care", 15, main),
            ("pediatrics", "Pediatrics", "Pediatrics", 20, branch),
            (
                "behavioral",
                "Behavioral Health",
                "Behavioral health",
                30,
                main if self.chance(0.5) else branch,
            ),
            ("telehealth", "Telehealth", "Virtual care", 15, virtual),
        )
        for key, name, service, minutes, (lid, lname) in room_specs:
            room = Room(self.id("hs"), key, name, service, minutes, lid, lname)
            self.rooms[key] = room
            yield {
                "resourceType": "HealthcareService",
                "id": room.id,
                "active": True,
                "providedBy": reference("Organization", self.org, org_name),
                "category": [{"text": service}],
                "type": [{"text": name}],
                "name": f"{name} waiting room",
                "location": [reference("Location", lid, lname)],
                "appointmentRequired": True,
                "availableTime": [
                    {
                        "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                        "availableStartTime": "08:00:00",
                        "availableEndTime": "12:00:00",
                    },
                    {
                        "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                        "availableStartTime": "13:00:00",
                        "availableEndTime": "17:00:00",
                    },
                ],
                "extension": [extension("slot-duration", "valueDuration", quantity(minutes, "min"))],
            }
        yield from catalogs()
        yield from self.practitioners()

    def practitioners(self) -> Iterator[Resource]:
        rng = self.rng
        count = max(3, round(self.n / 50))
        past_days = [
            d for d in (self.today - dt.timedelta(days=i) for i in range(730, 0, -1)) if d.weekday() < 5
        ]
        future_days = [
            d for d in (self.today + dt.timedelta(days=i) for i in range(1, 91)) if d.weekday() < 5
        ]
        # every room gets someone; then mostly primary care
        keys = ["primary", "pediatrics", "behavioral"] + rng.choices(
            ["primary", "pediatrics", "behavioral"], weights=[6, 2, 2], k=max(0, count - 3)
        )
        degrees = {
            "primary": ("MD", "DO", "NP", "PA"),
            "pediatrics": ("MD", "DO", "NP"),
            "behavioral": ("PhD", "LCSW", "MD"),
        }
        specialty = {
            "primary": ("419772000", "Family practice"),
            "pediatrics": ("394537008", "Pediatric specialty"),
            "behavioral": ("394587001", "Psychiatry"),
        }
        for key in keys:
            room = self.rooms[key]
            gender = rng.choice(("female", "male"))
            given = rng.choice(FEMALE_NAMES if gender == "female" else MALE_NAMES)
            family = rng.choice(SURNAMES)
            degree = rng.choice(degrees[key])
            doctor = degree in ("MD", "DO", "PhD")
            display = f"{'Dr. ' if doctor else ''}{given} {family}, {degree}"
            pid = self.id("pra")
            yield {
                "resourceType": "Practitioner",
                "id": pid,
                "active": True,
                "identifier": [{"system": NPI, "value": npi(rng.randrange(100_000_000, 200_000_000))}],
                "name": [
                    {
                        "use": "official",
                        "family": family,
                        "given": [given],
                        **({"prefix": ["Dr."]} if doctor else {}),
                        "suffix": [degree],
                        "text": display,
                    }
                ],
                "gender": gender,
                "telecom": [
                    {"system": "phone", "value": self.phone(), "use": "work"},
                    {
                        "system": "email",
                        "value": f"{given}.{family}@clinic.example.com".lower().replace("'", ""),
                        "use": "work",
                    },
                ],
                "qualification": [{"code": concept(V2_DEGREE, degree, degree)}],
            }
            roles = [room] + ([self.rooms["telehealth"]] if key != "pediatrics" else [])
            for r in roles:
                code = (
                    ("doctor", "Doctor")
                    if doctor and degree != "PhD"
                    else ("nurse", "Nurse")
                    if degree == "NP"
                    else None
                )
                role: Resource = {
                    "resourceType": "PractitionerRole",
                    "id": self.id("prr"),
                    "active": True,
                    "practitioner": reference("Practitioner", pid, display),
                    "organization": reference("Organization", self.org, self.org_name),
                    "location": [reference("Location", r.location, r.location_name)],
                    "healthcareService": [reference("HealthcareService", r.id, r.name)],
                    "specialty": [concept(SNOMED, *specialty[key])],
                    "availableTime": [
                        {
                            "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                            "availableStartTime": "08:00:00",
                            "availableEndTime": "17:00:00",
                        }
                    ],
                }
                if code:
                    role["code"] = [concept(PRAC_ROLE, *code)]
                else:
                    role["code"] = [
                        {
                            "text": {
                                "PhD": "Psychologist",
                                "LCSW": "Clinical social worker",
                                "PA": "Physician assistant",
                            }.get(degree, degree)
                        }
                    ]
                yield role
            schedules = {}
            for r in roles:
                schedules[r.key] = self.id("sch")
                yield {
                    "resourceType": "Schedule",
                    "id": schedules[r.key],
                    "active": True,
                    "serviceType": [{"text": r.name}],
                    "specialty": [concept(SNOMED, *specialty[key])],
                    "actor": [reference("HealthcareService", r.id, r.name), reference("Practitioner", pid, display)],
                    "planningHorizon": {
                        "start": past_days[0].isoformat(),
                        "end": future_days[-1].isoformat(),
                    },
                    "comment": f"{display} - {r.name}",
                }
            per_block = 240 // room.minutes
            grids = {}
            for name, days, first, blocks in (
                ("past", past_days, dt.time(8), 2),
                ("am", [self.today], dt.time(8), 1),
                ("pm", [self.today], dt.time(13), 1),
                ("future", future_days, dt.time(8), 2),
            ):
                size = len(days) * per_block * blocks
                a = rng.randrange(1, size) if size > 1 else 1
                while math.gcd(a, size) != 1:
                    a += 1
                grids[name] = Grid(days, first, per_block, blocks, room.minutes, a, rng.randrange(size))
            self.pracs.append(Prac(pid, display, room, schedules, grids))

    def free_slots(self) -> Iterator[Resource]:
        """The unbooked positions of today's afternoon and the next two weeks, as free (or blocked) Slots."""
        horizon = self.today + dt.timedelta(days=14)
        for prac in self.pracs:
            for name in ("pm", "future"):
                grid = prac.grids[name]
                for k in range(grid.used, grid.size):
                    start = grid.at(k)
                    if start.date() > horizon:
                        continue
                    blocked = self.chance(0.04)
                    video = "telehealth" in prac.schedules and self.chance(0.2)
                    slot = self.slot(prac, start, "busy-unavailable" if blocked else "free", video=video)
                    if blocked:
                        slot["comment"] = "Staff meeting"
                    yield slot

    def slot(self, prac: Prac, start: dt.datetime, status: str, *, video: bool = False) -> Resource:
        room = self.rooms["telehealth"] if video else prac.room
        return {
            "resourceType": "Slot",
            "id": self.id("slot"),
            "schedule": reference("Schedule", prac.schedules[room.key]),
            "status": status,
            "serviceType": [{"text": room.name}],
            "start": instant(start),
            "end": instant(start + dt.timedelta(minutes=prac.room.minutes)),
        }

