"""Vital-sign panels: a per-patient baseline with noise and the occasional abnormal reading, flagged by the
shared rule (store/vitals.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.demo.builders import age_on, quantity
from app.demo.records import Member, Plan
from app.demo.state import ClinicState
from app.demo.vocabulary import VITAL_DISPLAY
from store.clock import instant
from store.fhirjson import Resource, concept
from store.naming import LOINC, OBS_CATEGORY, V3_INTERPRETATION, VITAL_CODES, VITALS_PANEL
from store.vitals import INTERPRETATION_DISPLAY, interpret


class VitalsWriter(ClinicState):
    def vitals(
        self,
        m: Member,
        plan: Plan,
        pat: dict[str, str],
        enc: dict[str, str],
        prac: dict[str, str],
        when: dt.datetime,
    ) -> tuple[Resource, str]:
        rng = self.rng
        base = plan.setdefault("vitals_base", self.vitals_base(m, plan["conds"]))
        age = age_on(m.birth, when.date())
        adult = age >= 18
        v: dict[str, float] = {}
        if age >= 3:
            sys_ = base["sys"] + rng.gauss(0, 9)
            dia = base["dia"] + rng.gauss(0, 6)
            if adult and self.chance(0.035 + (0.04 if "htn" in plan["conds"] else 0)):
                sys_, dia = rng.uniform(181, 210), rng.uniform(105, 128)
            v["bp_systolic"], v["bp_diastolic"] = round(sys_), round(min(dia, sys_ - 20))
        v["pulse"] = round(base["pulse"] + rng.gauss(0, 7))
        temp = 98.2 + rng.gauss(0, 0.4)
        r = rng.random()
        if r < 0.05:
            temp = rng.uniform(100.5, 102.6)
        elif r < 0.058:
            temp = rng.uniform(103.1, 104.2)
        v["temperature_f"] = round(temp, 1)
        v["respiration_rate"] = round(base["resp"] + rng.gauss(0, 1.5))
        r = rng.random()
        v["oxygen_saturation"] = (
            rng.randrange(96, 101)
            if r > 0.06
            else rng.randrange(94, 96)
            if r > 0.025
            else rng.randrange(88, 94)
        )
        growing = base["height"] + 2.3 * (age - m.age) if age >= 2 else 20 + 12 * age
        h = growing if age < 18 else base["height"]
        w = max(6.0, base["weight"] * (h / base["height"]) ** 2 * (1 + rng.gauss(0, 0.015)))
        v["height_inches"] = round(h, 1)
        v["weight_lbs"] = round(w, 1)
        if age >= 2:
            v["bmi"] = round(703 * w / (h * h), 1)
        components = []
        flags = []
        for key, value in v.items():
            display, unit = VITAL_DISPLAY[key]
            comp: dict[str, Any] = {
                "code": concept(LOINC, VITAL_CODES[key], display),
                "valueQuantity": quantity(value, unit),
            }
            flag = interpret(key, value, adult)
            if flag:
                comp["interpretation"] = [concept(V3_INTERPRETATION, flag, INTERPRETATION_DISPLAY[flag])]
                flags.append(f"{display} {flag}")
            components.append(comp)
        summary = (
            ", ".join(
                s
                for s in (
                    f"BP {v['bp_systolic']:.0f}/{v['bp_diastolic']:.0f}" if "bp_systolic" in v else "",
                    f"HR {v['pulse']:.0f}",
                    f"T {v['temperature_f']}F",
                    f"RR {v['respiration_rate']:.0f}",
                    f"SpO2 {v['oxygen_saturation']:.0f}%",
                    f"Wt {v['weight_lbs']} lb",
                )
                if s
            )
            + "."
        )
        panel: Resource = {
            "resourceType": "Observation",
            "id": self.id("obs"),
            "status": "final",
            "category": [concept(OBS_CATEGORY, "vital-signs", "Vital Signs")],
            "code": concept(
                LOINC,
                VITALS_PANEL,
                "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel",
                "Vital signs",
            ),
            "subject": pat,
            "encounter": enc,
            "effectiveDateTime": instant(when),
            "performer": [prac],
            "component": components,
        }
        if flags:
            panel["note"] = [{"text": "Abnormal: " + "; ".join(flags)}]
        return panel, "Vitals: " + summary

    def vitals_base(self, m: Member, conds: list[str]) -> dict[str, float]:
        rng = self.rng
        if m.age >= 18:
            height = rng.gauss(64.5 if m.gender == "female" else 69.5, 2.8)
            bmi = rng.gauss(28.5 if "t2dm" in conds or "sleep_apnea" in conds else 26.5, 4.5)
            pulse, resp = rng.gauss(72, 7), rng.gauss(15, 1.5)
        else:
            height = 20 + 12 * m.age if m.age < 2 else 30 + 2.3 * m.age
            bmi = rng.gauss(17 if m.age < 10 else 20, 2)
            pulse, resp = (
                max(75.0, 125 - 3.5 * m.age + rng.gauss(0, 6)),
                max(14.0, 30 - m.age + rng.gauss(0, 2)),
            )
        htn = "htn" in conds
        return {
            "height": height,
            "weight": max(7.0, min(bmi, 55) * height * height / 703),
            "sys": (112 if m.age < 18 else 118 + 0.25 * (m.age - 18)) + (18 if htn else 0) + rng.gauss(0, 6),
            "dia": (68 if m.age < 18 else 76) + (10 if htn else 0) + rng.gauss(0, 4),
            "pulse": pulse,
            "resp": resp,
        }

