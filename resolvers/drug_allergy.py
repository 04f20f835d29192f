"""Drug–allergy interaction warnings (seed 003 ``interaction_warnings``, returned when an allergy or a
medication is recorded).

A small curated table, not a drug knowledge base: each drug class lists its ingredients by name and RxNorm
ingredient CUI (RXCUI of the IN term). An allergy belongs to a class when its allergen names the class or one of
its ingredients (or carries one of its RxNorm codes); a medication belongs to it when its name contains an
ingredient name or its RxNorm code is one of the ingredient CUIs (product-level codes such as SCDs are matched by
their name). Same class → HIGH; a class listed under ``CROSS`` for the allergy's class → MODERATE.

To extend: add the class to ``CLASSES`` (names lower-case, CUIs of the ingredient terms) and, when it
cross-reacts with another class, to ``CROSS``; add a case to tests/graph/test_chart_interactions.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import strawberry

from resolvers.model.interaction import InteractionSeverity, InteractionWarning
from store.fhirjson import code_of, text_of
from store.naming import RXNORM

Resource = dict[str, Any]


@dataclass(frozen=True)
class DrugClass:
    name: str
    words: frozenset[str]  # the class's own names an allergen may use ("penicillin", "sulfa")
    ingredients: dict[str, str]  # ingredient name → RxNorm ingredient CUI ("" when not listed)


def _cls(name: str, words: tuple[str, ...], ingredients: dict[str, str]) -> DrugClass:
    return DrugClass(name, frozenset(words), ingredients)


CLASSES = (
    _cls("penicillins", ("penicillin", "penicillins", "pcn"),
         {"amoxicillin": "723", "ampicillin": "733", "penicillin g": "7980", "penicillin v": "7984",
          "penicillin": "", "dicloxacillin": "", "nafcillin": "", "piperacillin": "", "augmentin": ""}),
    _cls("cephalosporins", ("cephalosporin", "cephalosporins"),
         {"cephalexin": "2231", "cefazolin": "2180", "ceftriaxone": "2193", "cefuroxime": "2194", "cefdinir": "",
          "cefadroxil": "", "cefepime": ""}),
    _cls("sulfonamide antibiotics", ("sulfa", "sulfonamide", "sulfonamides", "sulfa drugs"),
         {"sulfamethoxazole": "10180", "sulfadiazine": "", "bactrim": ""}),
    _cls("macrolides", ("macrolide", "macrolides"),
         {"erythromycin": "4053", "azithromycin": "18631", "clarithromycin": "21212"}),
    _cls("fluoroquinolones", ("fluoroquinolone", "fluoroquinolones", "quinolone", "quinolones"),
         {"ciprofloxacin": "2551", "levofloxacin": "82122", "moxifloxacin": ""}),
    _cls("tetracyclines", ("tetracyclines",),
         {"tetracycline": "10395", "doxycycline": "3640", "minocycline": "6980"}),
    _cls("lincosamides", ("lincosamide", "lincosamides"), {"clindamycin": "2582"}),
    _cls("nsaids", ("nsaid", "nsaids", "non-steroidal anti-inflammatory"),
         {"aspirin": "1191", "ibuprofen": "5640", "naproxen": "7258", "diclofenac": "3355", "ketorolac": "35827",
          "celecoxib": "140587", "meloxicam": "41493"}),
    _cls("opioids", ("opioid", "opioids", "opiate", "opiates", "narcotic", "narcotics"),
         {"codeine": "2670", "morphine": "7052", "hydrocodone": "5489", "oxycodone": "7804", "tramadol": "10689"}),
    _cls("amide local anesthetics", ("local anesthetic", "local anesthetics", "amide anesthetic"),
         {"lidocaine": "6387", "bupivacaine": "1815", "articaine": "", "mepivacaine": "", "prilocaine": ""}),
)
# allergy class → medication classes with known cross-reactivity
CROSS = {"penicillins": ("cephalosporins",)}


def _words(concept: Any) -> str:
    """A concept's text and displays as space-separated lower-case words, padded: phrases match whole words."""
    texts = [text_of(concept), *(c.get("display") for c in (concept or {}).get("coding") or ())]
    return f" {re.sub(r'[^a-z0-9]+', ' ', ' '.join(t for t in texts if t).casefold())} "


def _has(haystack: str, phrase: str) -> bool:
    return f" {phrase} " in haystack


def allergy_classes(allergy: Resource) -> set[str]:
    """The drug classes an AllergyIntolerance is about."""
    text = _words(allergy.get("code"))
    codes = {c.get("code") for c in (allergy.get("code") or {}).get("coding") or () if c.get("system") == RXNORM}
    return {c.name for c in CLASSES
            if any(_has(text, w) for w in c.words) or any(_has(text, i) for i in c.ingredients)
            or codes & {cui for cui in c.ingredients.values() if cui}}


def medication_classes(med: Resource) -> set[str]:
    """The drug classes a MedicationStatement's medication belongs to."""
    concept = med.get("medicationCodeableConcept")
    text = _words(concept)
    cui = code_of(concept, RXNORM)
    return {c.name for c in CLASSES
            if any(_has(text, i) for i in c.ingredients) or (cui and cui in c.ingredients.values())}


def _active_allergy(res: Resource) -> bool:
    return code_of(res.get("clinicalStatus")) in (None, "active")


def warnings(allergies: list[Resource], medications: list[Resource]) -> list[InteractionWarning]:
    """Every (allergy, medication) pair that interacts; only active allergies and current medications."""
    out: list[InteractionWarning] = []
    meds = [(m, medication_classes(m)) for m in medications if m.get("status") in ("active", "intended", "on-hold")]
    for allergy in allergies:
        if not _active_allergy(allergy):
            continue
        allergen = text_of(allergy.get("code"))
        for cls in sorted(allergy_classes(allergy)):
            for med, med_classes in meds:
                name = text_of(med.get("medicationCodeableConcept"))
                if cls in med_classes:
                    severity, matched = InteractionSeverity.HIGH, cls
                    message = f"{name} is one of the {cls}; the patient is allergic to {allergen}."
                else:
                    matched = next((x for x in CROSS.get(cls, ()) if x in med_classes), "")
                    if not matched:
                        continue
                    severity = InteractionSeverity.MODERATE
                    message = (f"{name} is one of the {matched}, which may cross-react with {cls}; the patient is "
                               f"allergic to {allergen}.")
                out.append(InteractionWarning(
                    allergy_id=strawberry.ID(allergy["id"]), allergen=allergen,
                    medication_id=strawberry.ID(med["id"]), medication=name, drug_class=matched,
                    severity=severity, message=message))
    return out

