"""Small builders of the demo data that the shared ones (store/fhirjson.py, store/clock.py) do not cover."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.demo.vocabulary import UCUM


def quantity(value: float, unit: str) -> dict[str, Any]:
    """A UCUM Quantity whose unit is also its code."""
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def age_on(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def npi(base9: int) -> str:
    """A 10-digit NPI whose check digit is valid (Luhn over the 80840 prefix)."""
    digits = f"{base9:09d}"
    total = 24  # the constant contribution of the 80840 prefix
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return digits + str((10 - total % 10) % 10)
