"""The generator: the practice first, then household after household, then the free slots left."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from app.demo.household import HouseholdWriter
from app.demo.practice import PracticeWriter
from store.fhirjson import Resource


def generate_clinic(patients: int, *, seed: int = 7, anchor: dt.date | None = None) -> Iterator[Resource]:
    """Yield one demo clinic with ``patients`` patients as FHIR R4 resources, referenced ones first."""
    if patients < 0:
        raise ValueError("patients must be >= 0")
    yield from Clinic(patients, seed, anchor or dt.date.today()).run()


class Clinic(HouseholdWriter, PracticeWriter):
    """Each writer (a mixin over ClinicState) writes one part of the clinic; this one sets their order."""

    def run(self) -> Iterator[Resource]:
        yield from self.clinic()
        remaining = self.n
        while remaining > 0:
            members = self.household(remaining)
            remaining -= len(members)
            yield from self.emit_household(members)
        yield from self.free_slots()
