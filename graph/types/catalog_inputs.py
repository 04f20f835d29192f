"""Inputs of the org catalogs, custom field values, referral attributions and alert changes. Optional fields of
the *Patch inputs default to UNSET (PATCH semantics: a field left out is untouched, sent as null is cleared)."""

from __future__ import annotations

import strawberry
from strawberry import UNSET

from graph.types.alert import AlertScope, AlertStatus
from graph.types.catalog import AttributionRole, FieldType

_NAME = "Display name, 1–120 characters (trimmed)."
_DESCRIPTION = "Longer explanation for staff, up to 1,000 characters; null or blank clears it."
_CATEGORY = "Free-form grouping, e.g. \"clinical\"; null clears it."
_ORDER = "Position in lists and forms, 0 or more (lists sort by itemOrder, then name)."


@strawberry.input(description="A new org alert definition.")
class AlertDefinitionInput:
    name: str = strawberry.field(description=_NAME)
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    category: str | None = strawberry.field(default=None, description=_CATEGORY)
    default_scope: AlertScope | None = strawberry.field(
        default=None, description="Scope of new alerts of this definition when none is given; default PATIENT.")
    default_is_urgent: bool | None = strawberry.field(
        default=None, description="Urgency of new alerts of this definition when none is given; default false.")
    item_order: int | None = strawberry.field(default=None, description=_ORDER + " Default 0.")


@strawberry.input(description="Changes to an alert definition: only the fields sent are modified.")
class AlertDefinitionPatch:
    name: str | None = strawberry.field(default=UNSET, description=_NAME + " Cannot be cleared.")
    description: str | None = strawberry.field(default=UNSET, description=_DESCRIPTION)
    category: str | None = strawberry.field(default=UNSET, description=_CATEGORY)
    default_scope: AlertScope | None = strawberry.field(default=UNSET, description="New default scope.")
    default_is_urgent: bool | None = strawberry.field(default=UNSET, description="New default urgency.")
    item_order: int | None = strawberry.field(default=UNSET, description=_ORDER)


@strawberry.input(description="A new org tag definition.")
class TagDefinitionInput:
    name: str = strawberry.field(description=_NAME)
    color: str | None = strawberry.field(default=None, description="Display colour, CSS hex: #RGB or #RRGGBB.")
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    category: str | None = strawberry.field(default=None, description=_CATEGORY)
    item_order: int | None = strawberry.field(default=None, description=_ORDER + " Default 0.")


@strawberry.input(description="Changes to a tag definition: only the fields sent are modified.")
class TagDefinitionPatch:
    name: str | None = strawberry.field(default=UNSET, description=_NAME + " Cannot be cleared.")
    color: str | None = strawberry.field(default=UNSET, description="CSS hex colour (#RGB or #RRGGBB); null clears.")
    description: str | None = strawberry.field(default=UNSET, description=_DESCRIPTION)
    category: str | None = strawberry.field(default=UNSET, description=_CATEGORY)
    item_order: int | None = strawberry.field(default=UNSET, description=_ORDER)


@strawberry.input(description="A new org custom field definition.")
class FieldDefinitionInput:
    name: str = strawberry.field(description=_NAME)
    field_type: FieldType = strawberry.field(description="What kind of value the field holds.")
    dropdown_options: list[str] | None = strawberry.field(
        default=None, description="Allowed values of a DROPDOWN field (required for it, refused for other "
                                  "types): 1–100 distinct, non-blank options of up to 200 characters.")
    is_required: bool | None = strawberry.field(
        default=None, description="Whether the field must have a value once set; default false.")
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=None, description=_ORDER + " Default 0.")


@strawberry.input(description="Changes to a custom field definition: only the fields sent are modified.")
class FieldDefinitionPatch:
    name: str | None = strawberry.field(default=UNSET, description=_NAME + " Cannot be cleared.")
    field_type: FieldType | None = strawberry.field(
        default=UNSET, description="New type; values already stored keep their form until set again.")
    dropdown_options: list[str] | None = strawberry.field(
        default=UNSET, description="New DROPDOWN options (replaces the list); null clears them.")
    is_required: bool | None = strawberry.field(default=UNSET, description="Whether the field is required.")
    description: str | None = strawberry.field(default=UNSET, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=UNSET, description=_ORDER)


@strawberry.input(description="One custom field value to set or clear.")
class FieldValueInput:
    field_definition_id: strawberry.ID = strawberry.field(
        description="Id of an active custom field definition (unknown or archived → NOT_FOUND).")
    value: str | None = strawberry.field(
        default=None, description="The value in its type's text form (see FieldType); null or blank clears it "
                                  "(refused with VALIDATION for a required field).")


@strawberry.input(description="Changes to a patient alert: only the fields sent are modified.")
class AlertPatch:
    scope: AlertScope | None = strawberry.field(default=UNSET, description="New scope; cannot be cleared.")
    is_urgent: bool | None = strawberry.field(default=UNSET, description="Whether the alert is urgent.")
    status: AlertStatus | None = strawberry.field(
        default=UNSET, description="New status; DISABLED records now as dateDisabled unless dateDisabled is sent, "
                                   "ACTIVE clears dateDisabled.")
    note: str | None = strawberry.field(default=UNSET, description="Free-text note, up to 2,000 characters.")
    disable_on: str | None = strawberry.field(default=UNSET, description="Date (YYYY-MM-DD) it stops applying.")
    date_disabled: str | None = strawberry.field(
        default=UNSET, description="When it was disabled: ISO 8601 date-time with a time zone.")


@strawberry.input(description="A new referral attribution: exactly one of the four source ids.")
class ReferralAttributionInput:
    referral_source_id: strawberry.ID | None = strawberry.field(
        default=None, description="A marketing referral source: the id of an Organization.")
    referral_partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="A referral partner: the id of an Organization.")
    provider_id: strawberry.ID | None = strawberry.field(default=None, description="An in-house provider's id.")
    referring_patient_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the patient who referred this one (not the patient itself).")
    attribution_role: AttributionRole | None = strawberry.field(
        default=None, description="Role of the attribution; a second active PRIMARY → CONFLICT.")
    source_note: str | None = strawberry.field(default=None, description="Free-text note, up to 2,000 characters.")


@strawberry.input(description="Changes to a referral attribution; its source cannot change.")
class ReferralAttributionPatch:
    attribution_role: AttributionRole | None = strawberry.field(
        default=UNSET, description="New role (null clears it); a second active PRIMARY → CONFLICT.")
    source_note: str | None = strawberry.field(default=UNSET, description="New note; null clears it.")


_ALLERGY_CATEGORY = ("food, medication, environment or biologic: the category an allergy recorded from it gets "
                     "unless the allergy sets its own.")
_SNOMED = "SNOMED CT concept id, 6–18 digits."


@strawberry.input(description="A new org allergy definition: an allergen staff pick when recording an allergy.")
class AllergyDefinitionInput:
    name: str = strawberry.field(description=_NAME + " Recorded allergies show it as their allergen.")
    code: str | None = strawberry.field(
        default=None, description="Code of the allergen in codeSystem, up to 100 characters without spaces.")
    code_system: str | None = strawberry.field(
        default=None, description="Code system URI of code (http://, https:// or urn:); default SNOMED CT "
                                  "(http://snomed.info/sct). Needs a code.")
    allergy_category: str | None = strawberry.field(default=None, description=_ALLERGY_CATEGORY)
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=None, description=_ORDER + " Default 0.")


@strawberry.input(description="Changes to an allergy definition: only the fields sent are modified. Allergies "
                              "already recorded keep the allergen and code they were recorded with.")
class AllergyDefinitionPatch:
    name: str | None = strawberry.field(default=UNSET, description=_NAME + " Cannot be cleared.")
    code: str | None = strawberry.field(default=UNSET, description="New allergen code; null clears it.")
    code_system: str | None = strawberry.field(
        default=UNSET, description="New code system URI of the code; null: SNOMED CT.")
    allergy_category: str | None = strawberry.field(default=UNSET, description=_ALLERGY_CATEGORY)
    description: str | None = strawberry.field(default=UNSET, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=UNSET, description=_ORDER)


@strawberry.input(description="A new org medication definition: a medication staff pick when recording one.")
class MedicationDefinitionInput:
    name: str = strawberry.field(description=_NAME + " Recorded medications show it as their name.")
    rx_cui: str | None = strawberry.field(default=None, description="RxNorm concept id (RXCUI), 1–10 digits.")
    category: str | None = strawberry.field(default=None, description=_CATEGORY)
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=None, description=_ORDER + " Default 0.")


@strawberry.input(description="Changes to a medication definition: only the fields sent are modified. "
                              "Medications already recorded keep the name and code they were recorded with.")
class MedicationDefinitionPatch:
    name: str | None = strawberry.field(default=UNSET, description=_NAME + " Cannot be cleared.")
    rx_cui: str | None = strawberry.field(default=UNSET, description="New RXCUI; null clears it.")
    category: str | None = strawberry.field(default=UNSET, description=_CATEGORY)
    description: str | None = strawberry.field(default=UNSET, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=UNSET, description=_ORDER)


@strawberry.input(description="A new org disease definition: a disease or problem staff pick when recording one.")
class DiseaseDefinitionInput:
    name: str = strawberry.field(description=_NAME + " Recorded problems show it as their name.")
    snomed_code: str | None = strawberry.field(default=None, description=_SNOMED)
    icd10_code: str | None = strawberry.field(
        default=None, description="ICD-10-CM code, e.g. E11.9 (letters are upper-cased).")
    category: str | None = strawberry.field(default=None, description=_CATEGORY)
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=None, description=_ORDER + " Default 0.")


@strawberry.input(description="Changes to a disease definition: only the fields sent are modified. Problems "
                              "already recorded keep the name and codes they were recorded with.")
class DiseaseDefinitionPatch:
    name: str | None = strawberry.field(default=UNSET, description=_NAME + " Cannot be cleared.")
    snomed_code: str | None = strawberry.field(default=UNSET, description=_SNOMED + " Null clears it.")
    icd10_code: str | None = strawberry.field(default=UNSET, description="ICD-10-CM code; null clears it.")
    category: str | None = strawberry.field(default=UNSET, description=_CATEGORY)
    description: str | None = strawberry.field(default=UNSET, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=UNSET, description=_ORDER)


_COMM_CODE = ("Category code of communications logged with this type: lower-case letters, digits, - and _, at "
              "most 40 (e.g. reminder, billing).")


@strawberry.input(description="A new org communication type: what staff pick when logging a communication.")
class CommunicationTypeDefinitionInput:
    name: str = strawberry.field(description=_NAME)
    code: str | None = strawberry.field(default=None, description=_COMM_CODE)
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=None, description=_ORDER + " Default 0.")


@strawberry.input(description="Changes to a communication type: only the fields sent are modified. Entries "
                              "already logged keep the category they were logged with.")
class CommunicationTypeDefinitionPatch:
    name: str | None = strawberry.field(default=UNSET, description=_NAME + " Cannot be cleared.")
    code: str | None = strawberry.field(default=UNSET, description=_COMM_CODE + " Null clears it.")
    description: str | None = strawberry.field(default=UNSET, description=_DESCRIPTION)
    item_order: int | None = strawberry.field(default=UNSET, description=_ORDER)
