"""What the generator remembers while it writes: the clinic's rooms and practitioners (with their slot grids),
and one household's members, visits and plans until the household is written."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict


class Deck:
    """Draws from a shuffled multiset without replacement, reshuffling when empty."""

    def __init__(self, rng: random.Random, cards: tuple[str, ...]) -> None:
        self._rng, self._cards, self._pile = rng, cards, list[str]()

    def draw(self) -> str:
        if not self._pile:
            self._pile = list(self._cards)
            self._rng.shuffle(self._pile)
        return self._pile.pop()


@dataclass
class Room:
    id: str
    key: str  # primary | pediatrics | behavioral | telehealth
    name: str
    service: str
    minutes: int
    location: str
    location_name: str


@dataclass
class Grid:
    days: list[dt.date]
    first: dt.time
    per_block: int  # slots per 4-hour block
    blocks: int  # 1 (a half day) or 2
    minutes: int
    a: int
    b: int
    used: int = 0

    @property
    def size(self) -> int:
        return len(self.days) * self.per_block * self.blocks

    def at(self, k: int) -> dt.datetime:
        pos = (self.a * k + self.b) % self.size
        day, slot = divmod(pos, self.per_block * self.blocks)
        block, idx = divmod(slot, self.per_block)
        start = dt.datetime.combine(self.days[day], self.first)
        return start + dt.timedelta(minutes=block * 300 + idx * self.minutes)  # 08:00 / 13:00 blocks

    def take(self) -> dt.datetime | None:
        """The next free position, or None when the grid is full (never double-book)."""
        if self.used >= self.size:
            return None
        t = self.at(self.used)
        self.used += 1
        return t


@dataclass
class Prac:
    id: str
    name: str
    room: Room
    schedules: dict[str, str]  # room key -> Schedule id: one per waiting room the practitioner works in
    grids: dict[str, Grid]


@dataclass
class Member:
    id: str
    given: str
    middle: str | None
    family: str
    gender: str
    birth: dt.date
    age: int
    kind: str  # adult | child
    parents: list[int] = field(default_factory=list)
    guardian_kind: str = "parent"  # parent | grandparent
    spouse: int | None = None
    status: str = "active"
    death: dt.datetime | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass
class Visit:
    start: dt.datetime
    status: str
    prac: Prac
    video: bool
    appt_id: str = ""
    slot_id: str | None = None
    enc_id: str | None = None
    episode: str | None = None



class Plan(TypedDict):
    """One patient's history, planned before the household is written (the chart is written from it)."""

    conds: list[str]  # CONDITIONS keys
    primary: Prac
    secondary: Prac | None
    visits: list[Visit]
    first_visit: dt.date | None
    balance: float
    allergy_review: NotRequired[str]  # set when the Patient is written
    vitals_base: NotRequired[dict[str, float]]  # set at the first vital signs


class Med(TypedDict):
    """One medication of a chart: its MedicationStatement, and the MedicationRequest when written here."""

    key: str  # MEDS key
    status: str
    reason: str | None  # Condition id
    start: dt.datetime
    end: dt.datetime | None
    encounter_visit: Visit | None  # the visit it was prescribed at
    request_id: str | None
