"""Vital signs: what each is called and measured in, and when a value is abnormal (store/naming.py lists how
vitals land on FHIR). The demo data and the GraphQL door flag values with the same rule.

Flags are v3 ObservationInterpretation codes: H/L a warning, HH/LL critical ("procedure blocking").
Adults: BP > 140/90 H, > 180/120 HH, < 90/60 L, < 70/40 LL; pulse > 100 H, > 130 HH, < 50 L, < 40 LL; resp > 20 H,
> 30 HH, < 12 L, < 8 LL; BMI > 30 H, < 18.5 L. All ages: temp >= 100.4 F H, >= 103 HH, < 96.5 L, < 95 LL;
SpO2 < 96 L, < 94 LL.
"""

from __future__ import annotations

# (critical low, low, high, critical high): flagged when < low or > high; adults only.
ADULT_LIMITS = {
    "bp_systolic": (70, 90, 140, 180),
    "bp_diastolic": (40, 60, 90, 120),
    "pulse": (40, 50, 100, 130),
    "respiration_rate": (8, 12, 20, 30),
    "bmi": (0, 18.5, 30, 1000),
}
INTERPRETATION_DISPLAY = {"H": "High", "L": "Low", "HH": "Critical high", "LL": "Critical low"}
CRITICAL = frozenset({"HH", "LL"})


def interpret(key: str, value: float, adult: bool = True) -> str | None:
    """The abnormal flag of one vital sign (``key`` as in store/naming.py ``VITAL_CODES``), or None."""
    if key == "oxygen_saturation":
        return "LL" if value < 94 else "L" if value < 96 else None
    if key == "temperature_f":
        if value >= 103:
            return "HH"
        if value >= 100.4:
            return "H"
        return "LL" if value < 95 else "L" if value < 96.5 else None
    limits = ADULT_LIMITS.get(key) if adult else None
    if not limits:
        return None
    ll, lo, hi, hh = limits
    return "HH" if value > hh else "H" if value > hi else "LL" if value < ll else "L" if value < lo else None
