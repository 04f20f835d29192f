"""The org catalogs (alert, tag and custom-field definitions; allergy, medication, disease and communication-type
definitions), a patient's custom field values and form, and referral attributions, over the records of
resolvers/model/catalog.py, field_value.py and referral.py."""

from __future__ import annotations

from graph.record import object_type
from graph.types import alert  # noqa: F401 - AlertScope, the type of a field
from resolvers.model.catalog import (
    FIELD_TYPE_DESCRIPTIONS,
    AlertDefinition,
    AllergyDefinition,
    CommunicationTypeDefinition,
    DiseaseDefinition,
    FieldDefinition,
    FieldType,
    MedicationDefinition,
    TagDefinition,
)
from resolvers.model.common import enum_type
from resolvers.model.field_value import FieldForm, FieldValue
from resolvers.model.referral import AttributionRole, ReferralAttribution, SourceKind

enum_type(FieldType, "The kind of value a custom field holds, and the text form its values take.",
          FIELD_TYPE_DESCRIPTIONS)
enum_type(AttributionRole, "Role of a referral attribution in the patient's acquisition.", {
    AttributionRole.PRIMARY: "First-touch attribution set at intake; at most one active per patient.",
    AttributionRole.SECONDARY: "An additional touchpoint.",
    AttributionRole.ASSIST: "A contributing factor.",
})
enum_type(SourceKind, "Which kind of source a referral attribution names.", {
    SourceKind.REFERRAL_SOURCE: "A marketing referral source (an organization).",
    SourceKind.REFERRAL_PARTNER: "A referral partner (an organization).",
    SourceKind.PROVIDER: "An in-house provider (a practitioner).",
    SourceKind.REFERRING_PATIENT: "An existing patient.",
})
object_type(AlertDefinition, description="An org alert definition: the catalog entry patient alerts instantiate.")
object_type(TagDefinition, description="An org tag definition: the catalog entry patient tags refer to.")
object_type(FieldDefinition, description="An org custom field definition: a field every patient chart can fill.")
object_type(AllergyDefinition, description="An org allergy definition: an allergen (with its code) that allergies "
                                           "are recorded from.")
object_type(MedicationDefinition, description="An org medication definition: a medication (with its RxNorm code) "
                                              "that medication-list entries are recorded from.")
object_type(DiseaseDefinition, description="An org disease definition: a disease or problem (with its SNOMED CT and "
                                           "ICD-10-CM codes) that problems are recorded from.")
object_type(CommunicationTypeDefinition, description="An org communication type: the kind of communication a log "
                                                     "entry is (its code becomes the entry's category).")
object_type(FieldValue, description="A patient's value of one custom field.")
object_type(FieldForm, description="The custom fields form of a patient: every active field with its value.")
object_type(ReferralAttribution, description="How a patient was acquired: one source, a role and a note.")

__all__ = ["AlertDefinition", "AllergyDefinition", "AttributionRole", "CommunicationTypeDefinition",
           "DiseaseDefinition", "FieldDefinition", "FieldForm", "FieldType", "FieldValue", "MedicationDefinition",
           "ReferralAttribution", "SourceKind", "TagDefinition"]
