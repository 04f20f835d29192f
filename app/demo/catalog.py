"""The demo clinic's org catalogs (seed 003 settings): a tag definition per demo tag, an alert definition per demo
alert, a few custom fields, and an allergy, disease, medication and communication-type definition per allergen,
condition, medication and communication category the demo charts use, as the GraphQL catalogs write them
(resolvers/model/catalog.py), so that the demo patients' tags, alerts and chart records resolve their
definitions."""

from __future__ import annotations

from collections.abc import Iterator

from app.demo.vocabulary import (
    ACUTE_CONDITIONS,
    ALERTS,
    ALLERGENS,
    COMMUNICATION_TYPES,
    CONDITIONS,
    ICD10,
    MEDS,
    PATIENT_TAGS,
)
from resolvers.model import catalog
from resolvers.model.alert import AlertScope
from store.fhirjson import Resource, reference

TAG_COLORS = {"vip": "#8E44AD", "payment-plan": "#2980B9", "high-risk": "#C0392B", "referral": "#16A085",
              "portal-user": "#7F8C8D", "needs-interpreter": "#D35400", "collections": "#E74C3C",
              "new-patient": "#27AE60"}
FIELDS = (  # name, type, options, required
    ("Preferred pharmacy", catalog.FieldType.TEXT, None, False),
    ("Referral source", catalog.FieldType.DROPDOWN, ["Physician", "Friend or family", "Insurance", "Web search"],
     False),
    ("Consent to text reminders", catalog.FieldType.BOOLEAN, None, True),
)
CREATED = "2024-01-02"


def tag_definition_id(code: str) -> str:
    return f"tagdef-{code}"


def alert_definition_id(code: str) -> str:
    return f"alertdef-{code}"


def allergy_definition(code: str) -> dict[str, str]:
    """The link of a demo allergy to its allergen's definition (a reference with its name)."""
    return reference("Basic", f"allergydef-{code}", ALLERGEN_NAMES[code])


def disease_definition(code: str) -> dict[str, str]:
    return reference("Basic", f"diseasedef-{code}", DISEASE_NAMES[code])


def medication_definition(key: str) -> dict[str, str]:
    return reference("Basic", f"meddef-{key}", MEDS[key][1])


def communication_type(code: str) -> dict[str, str]:
    return reference("Basic", f"commtype-{code}", dict(COMMUNICATION_TYPES)[code])


ALLERGEN_NAMES = {code: display.split(" (")[0] for _, code, display, _, _ in ALLERGENS}
DISEASE_NAMES = {str(c[0]): str(c[1]).rsplit(" (", 1)[0] for c in (*CONDITIONS.values(), *ACUTE_CONDITIONS)}


def catalogs() -> Iterator[Resource]:
    """The definitions, in the order the settings pages list them."""
    for n, (code, display) in enumerate(PATIENT_TAGS):
        yield _entry(catalog.TAG_KIND, tag_definition_id(code), {"name": display, "color": TAG_COLORS.get(code),
                                                                 "item_order": n})
    for n, (code, display, category, scope, urgent) in enumerate(ALERTS):
        yield _entry(catalog.ALERT_KIND, alert_definition_id(code), {
            "name": display, "category": category, "item_order": n,
            "default_scope": AlertScope(scope), "default_is_urgent": urgent})
    for n, (name, kind, options, required) in enumerate(FIELDS):
        yield _entry(catalog.FIELD_KIND, f"fielddef-{n + 1}", {
            "name": name, "field_type": kind, "is_required": required, "item_order": n,
            **({"dropdown_options": options} if options else {})})
    for system, code, _, category, _ in ALLERGENS:
        yield _entry(catalog.ALLERGY_KIND, f"allergydef-{code}", {
            "name": ALLERGEN_NAMES[code], "code": code, "code_system": system, "allergy_category": category})
    for code, name in DISEASE_NAMES.items():
        yield _entry(catalog.DISEASE_KIND, f"diseasedef-{code}", {
            "name": name, "snomed_code": code, "icd10_code": ICD10[code]})
    for key, (rx_cui, name, _) in MEDS.items():
        yield _entry(catalog.MEDICATION_KIND, f"meddef-{key}", {"name": name, "rx_cui": rx_cui})
    for n, (code, name) in enumerate(COMMUNICATION_TYPES):
        yield _entry(catalog.COMMUNICATION_TYPE_KIND, f"commtype-{code}", {"name": name, "code": code,
                                                                          "item_order": n})


def _entry(kind: str, rid: str, fields: dict[str, object]) -> Resource:
    res = catalog.new_basic(kind)
    res["id"], res["created"] = rid, CREATED
    catalog.apply_fields(res, {k: v for k, v in fields.items() if v is not None})
    return res
