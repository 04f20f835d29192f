"""The demo clinic's org catalogs (seed 003 settings): a tag definition per demo tag, an alert definition per demo
alert and a few custom fields, as the GraphQL catalogs write them (resolvers/model/catalog.py), so that the demo
patients' tags and alerts resolve their definitions' names and colours."""

from __future__ import annotations

from collections.abc import Iterator

from app.demo.vocabulary import ALERTS, PATIENT_TAGS
from resolvers.model import catalog
from resolvers.model.alert import AlertScope
from store.fhirjson import Resource

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


def _entry(kind: str, rid: str, fields: dict[str, object]) -> Resource:
    res = catalog.new_basic(kind)
    res["id"], res["created"] = rid, CREATED
    catalog.apply_fields(res, {k: v for k, v in fields.items() if v is not None})
    return res
