"""The generator: the practice first, then household after household, then the free slots left."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import NamedTuple

from app.demo.household import HouseholdWriter
from app.demo.practice import PracticeWriter
from store.fhirjson import Resource


def clinic_phases(patients: int, *, seed: int = 7, anchor: dt.date | None = None) -> Iterator[Phase]:
    """``generate_clinic``'s resources, phase by phase (for progress)."""
    if patients < 0:
        raise ValueError("patients must be >= 0")
    return Clinic(patients, seed, anchor or dt.date.today()).phases()


def generate_clinic(patients: int, *, seed: int = 7, anchor: dt.date | None = None) -> Iterator[Resource]:
    """Yield one demo clinic with ``patients`` patients as FHIR R4 resources, referenced ones first."""
    if patients < 0:
        raise ValueError("patients must be >= 0")
    yield from Clinic(patients, seed, anchor or dt.date.today()).run()


class Phase(NamedTuple):
    """A part of the clinic: its resources, how many units it has (``unit``s: resources or patients) and how many
    units each resource counts for."""

    name: str
    unit: str
    total: int
    resources: Iterator[tuple[Resource, int]]


class Clinic(HouseholdWriter, PracticeWriter):
    """Each writer (a mixin over ClinicState) writes one part of the clinic; this one sets their order."""

    def run(self) -> Iterator[Resource]:
        for phase in self.phases():
            for resource, _ in phase.resources:
                yield resource

    def phases(self) -> Iterator[Phase]:
        """The practice (its size known once written), the households (counted in patients), then the slots left
        free (known once the households have booked theirs). Each phase starts when the one before is used up."""
        practice = list(self.clinic())
        yield Phase("practice", "resources", len(practice), ((r, 1) for r in practice))
        yield Phase("patients", "patients", self.n, self._households())
        slots = list(self.free_slots())
        yield Phase("free slots", "resources", len(slots), ((r, 1) for r in slots))

    def _households(self) -> Iterator[tuple[Resource, int]]:
        remaining = self.n
        while remaining > 0:
            members = self.household(remaining)
            remaining -= len(members)
            for resource in self.emit_household(members):
                yield resource, 1 if resource["resourceType"] == "Patient" else 0
