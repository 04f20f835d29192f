"""The generator's state and the small random helpers every part of it draws with (one ``random.Random``, so the
order of draws is the data: moving a draw changes every resource after it)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from app.demo.records import Deck, Member, Prac, Room
from app.demo.vocabulary import (
    AREA_CODES,
    CITIES,
    EPISODE_DECK,
    FUTURE_DECK,
    HOUSEHOLD_STATUS_DECK,
    NOON,
    PAST_DECK,
    STREETS,
    TODAY_DECK,
)


class ClinicState:
    org: str  # the Organization, set when it is written
    org_name: str

    def __init__(self, patients: int, seed: int, anchor: dt.date) -> None:
        self.n = patients
        self.rng = random.Random(seed)
        self.today = anchor
        self.now = dt.datetime.combine(anchor, NOON)
        self.spid = 0
        self.said = 0
        self.account_seq = 0
        self.deceased_candidates = 0
        self.household_status = Deck(self.rng, HOUSEHOLD_STATUS_DECK)
        self.past_deck = Deck(self.rng, PAST_DECK)
        self.today_deck = Deck(self.rng, TODAY_DECK)
        self.future_deck = Deck(self.rng, FUTURE_DECK)
        self.episode_deck = Deck(self.rng, EPISODE_DECK)
        self.pracs: list[Prac] = []
        self.rooms: dict[str, Room] = {}
        self.virtual_location: str | None = None

    # -- ids and small random helpers --

    def last_moment(self, m: Member) -> dt.datetime:
        """Nothing in a chart happens after this: the death of a deceased patient, else now."""
        return min(self.now, m.death) if m.death else self.now

    def id(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(64):016x}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def weighted(self, items: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
        return self.rng.choices(items, weights=[i[-1] for i in items])[0]

    def phone(self) -> str:
        r = self.rng
        return f"({r.choice(AREA_CODES)}) 555-{r.randrange(200, 10000):04d}"

    def at_time(self, day: dt.date, lo: int = 8, hi: int = 17) -> dt.datetime:
        minutes = self.rng.randrange(lo * 60, hi * 60)
        return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))

    def address(self, *, home: bool = True) -> dict[str, Any]:
        city, state, zips = self.rng.choice(CITIES)
        line = [f"{self.rng.randrange(10, 9900)} {self.rng.choice(STREETS)}"]
        if home and self.chance(0.15):
            line.append(f"Apt {self.rng.randrange(1, 40)}{self.rng.choice('ABCD')}")
        elif not home:
            line.append(f"Suite {self.rng.randrange(100, 400)}")
        return {
            "use": "home" if home else "work",
            "type": "physical",
            "line": line,
            "city": city,
            "state": state,
            "postalCode": self.rng.choice(zips),
            "country": "US",
        }

