"""Root fields of the org catalogs (alert, tag and custom-field definitions; allergy, medication, disease and
communication-type definitions), a patient's custom field values and referral attributions, and the alert
changes (update, disable, archive, bulk dismiss). ``Query`` and ``Mutation`` (graph/query.py, graph/mutation.py)
inherit them.

Every catalog has the same six root fields (``_catalog``): a list in catalog order (a Relay connection, and its
numbered pages), one by id, create (once per idempotency key), update with baseVersion, archive."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from graph.chart_roots import IdempotencyKey
from graph.context import Info
from graph.pagination import Connection, Page
from graph.types.alert import Alert, BulkDismissResult
from graph.types.catalog import (
    AlertDefinition,
    AllergyDefinition,
    CommunicationTypeDefinition,
    DiseaseDefinition,
    FieldDefinition,
    FieldForm,
    FieldValue,
    MedicationDefinition,
    ReferralAttribution,
    TagDefinition,
)
from graph.types.catalog_inputs import (
    AlertDefinitionInput,
    AlertDefinitionPatch,
    AlertPatch,
    AllergyDefinitionInput,
    AllergyDefinitionPatch,
    CommunicationTypeDefinitionInput,
    CommunicationTypeDefinitionPatch,
    DiseaseDefinitionInput,
    DiseaseDefinitionPatch,
    FieldDefinitionInput,
    FieldDefinitionPatch,
    FieldValueInput,
    MedicationDefinitionInput,
    MedicationDefinitionPatch,
    ReferralAttributionInput,
    ReferralAttributionPatch,
    TagDefinitionInput,
    TagDefinitionPatch,
)
from graph.types.inputs import fields_of
from resolvers import alert as alert_r
from resolvers import catalog as catalog_r
from resolvers import field_value as field_value_r
from resolvers import referral as referral_r
from resolvers.model import alert as alert_m
from resolvers.model import catalog as catalog_m
from resolvers.model import field_value as field_value_m
from resolvers.model import referral as referral_m
from resolvers.pagination import DEFAULT_PAGE_SIZE, First, NumberedPage, PageNumber, PageSize, Relay, numbered
from resolvers.pagination import Connection as ConnectionRecord

Resolver = Callable[..., Awaitable[Any]]

Search = Annotated[str | None, strawberry.argument(
    description="Only definitions whose name contains this text (case- and accent-insensitive).")]
Category = Annotated[str | None, strawberry.argument(
    description="Only definitions of this category (exact, any case).")]
IncludeArchived = Annotated[bool, strawberry.argument(description="Also list archived entries (default false).")]
After = Annotated[str | None, strawberry.argument(description="Cursor of the last edge of the previous page.")]
DefinitionId = Annotated[strawberry.ID, strawberry.argument(
    description="Id of the definition (unknown, or of another catalog → NOT_FOUND).")]
BaseVersion = Annotated[int, strawberry.argument(
    description="The version you last read; a stale one → VERSION_CONFLICT (re-read, then retry).")]
PatientId = Annotated[strawberry.ID, strawberry.argument(description="Id of the patient (unknown → NOT_FOUND).")]
AlertId = Annotated[strawberry.ID, strawberry.argument(
    description="Id of the patient's alert (unknown or another patient's → NOT_FOUND).")]
AttributionId = Annotated[strawberry.ID, strawberry.argument(
    description="Id of the patient's attribution (unknown or another patient's → NOT_FOUND).")]

_CATALOG_ERRORS = " Errors: VALIDATION (extensions.field names the input field), NOT_FOUND"
_VERSIONED_ERRORS = _CATALOG_ERRORS + ", VERSION_CONFLICT (stale baseVersion)."
_CREATE_ERRORS = " Errors: VALIDATION (extensions.field names the input field), CONFLICT (idempotencyKey misused)."


# ---------------------------------------------------------------------------------------------- catalogs


def _lister(kind: str, *, by_category: bool) -> Resolver:
    if by_category:
        async def categorized(info: Info, search: Search = None, category: Category = None,
                              include_archived: IncludeArchived = False, first: First = None,
                              after: After = None) -> ConnectionRecord[Any]:
            return await catalog_r.list_definitions(info.context, kind, Relay(first, after), search=search,
                                                    category=category, include_archived=include_archived)
        return categorized

    async def plain(info: Info, search: Search = None, include_archived: IncludeArchived = False,
                    first: First = None, after: After = None) -> ConnectionRecord[Any]:
        return await catalog_r.list_definitions(info.context, kind, Relay(first, after), search=search,
                                                include_archived=include_archived)
    return plain


def _page_lister(kind: str, *, by_category: bool) -> Resolver:
    """The numbered twin of ``_lister``: the same filters, page and pageSize instead of the cursors."""
    if by_category:
        async def categorized(info: Info, search: Search = None, category: Category = None,
                              include_archived: IncludeArchived = False, page: PageNumber = 1,
                              page_size: PageSize = DEFAULT_PAGE_SIZE) -> NumberedPage[Any]:
            return await catalog_r.list_definitions(info.context, kind, numbered(info.context, page, page_size),
                                                    search=search, category=category,
                                                    include_archived=include_archived)
        return categorized

    async def plain(info: Info, search: Search = None, include_archived: IncludeArchived = False,
                    page: PageNumber = 1, page_size: PageSize = DEFAULT_PAGE_SIZE) -> NumberedPage[Any]:
        return await catalog_r.list_definitions(info.context, kind, numbered(info.context, page, page_size),
                                                search=search, include_archived=include_archived)
    return plain


def _getter(kind: str) -> Resolver:
    async def get(info: Info, id: DefinitionId) -> Any:
        return await catalog_r.find_definition(info.context, kind, id)
    return get


def _creator(kind: str, input_type: type, label: str) -> Resolver:
    async def create(info: Info, input: Any, idempotency_key: IdempotencyKey = None) -> Any:
        return await catalog_r.create_definition(info.context, kind, fields_of(input), idempotency_key)
    # the input's type is the catalog's: set on the annotations strawberry reads (the others are this module's)
    create.__annotations__["input"] = Annotated[input_type, strawberry.argument(description=f"The new {label}.")]
    return create


def _updater(kind: str, patch_type: type) -> Resolver:
    async def update(info: Info, id: DefinitionId, base_version: BaseVersion, input: Any) -> Any:
        return await catalog_r.update_definition(info.context, kind, id, base_version, fields_of(input))
    update.__annotations__["input"] = Annotated[patch_type, strawberry.argument(
        description="The fields to change; the others stay as they are.")]
    return update


def _archiver(kind: str) -> Resolver:
    async def archive(info: Info, id: DefinitionId, base_version: BaseVersion) -> Any:
        return await catalog_r.archive_definition(info.context, kind, id, base_version)
    return archive


def _catalog(kind: str, record: Any, label: str, order: str, *, by_category: bool = True) -> tuple[Any, Any, Any]:
    """The list (as a connection and as numbered pages) and get fields of one catalog, described alike."""
    what = (f"The org's {label}s in {order} order (itemOrder, then name); archived ones only with "
            f"includeArchived")
    listed = strawberry.field(resolver=_lister(kind, by_category=by_category), graphql_type=Connection[record],
                              description=f"{what}.")
    paged = strawberry.field(
        resolver=_page_lister(kind, by_category=by_category), graphql_type=Page[record],
        description=f"{what}: one numbered page (page, pageSize, total). Errors: VALIDATION (page or pageSize "
                    f"out of range).")
    one = strawberry.field(
        resolver=_getter(kind), graphql_type=record | None,
        description=f"One {label} by id (archived ones included). Errors: NOT_FOUND (no such {label} in your "
                    f"practice: the field is null, the error names `id`).")
    return listed, paged, one


def _catalog_mutations(kind: str, record: Any, label: str, input_type: type, patch_type: type,
                       create_note: str = "") -> tuple[Any, Any, Any]:
    """The create, update and archive mutations of one catalog, described alike."""
    article = "an" if label[0] in "aeiou" else "a"
    return (
        strawberry.mutation(resolver=_creator(kind, input_type, label), graphql_type=record,
                            description=f"Create {article} {label}; sent again with the same idempotencyKey and "
                                        f"input, it answers the first call's.{create_note}{_CREATE_ERRORS}"),
        strawberry.mutation(resolver=_updater(kind, patch_type), graphql_type=record,
                            description=f"PATCH the {label}: only the fields sent change.{_VERSIONED_ERRORS}"),
        strawberry.mutation(resolver=_archiver(kind), graphql_type=record,
                            description=f"Archive (soft-delete) the {label}: hidden from lists by default, no longer "
                                        f"assignable; what already refers to it keeps resolving. Archiving it "
                                        f"again → VALIDATION.{_VERSIONED_ERRORS}"),
    )


# (kind, record type, label, list order, its list filters by category, input, patch, a note on create)
CATALOGS = {
    "alert": (catalog_m.ALERT_KIND, AlertDefinition, "alert definition", "catalog", True, AlertDefinitionInput,
              AlertDefinitionPatch, ""),
    "tag": (catalog_m.TAG_KIND, TagDefinition, "tag definition", "catalog", True, TagDefinitionInput,
            TagDefinitionPatch, ""),
    "field": (catalog_m.FIELD_KIND, FieldDefinition, "custom field definition", "form", False, FieldDefinitionInput,
              FieldDefinitionPatch, " A DROPDOWN field needs dropdownOptions; other types refuse them."),
    "allergy": (catalog_m.ALLERGY_KIND, AllergyDefinition, "allergy definition", "picker", False,
                AllergyDefinitionInput, AllergyDefinitionPatch, ""),
    "medication": (catalog_m.MEDICATION_KIND, MedicationDefinition, "medication definition", "picker", True,
                   MedicationDefinitionInput, MedicationDefinitionPatch, ""),
    "disease": (catalog_m.DISEASE_KIND, DiseaseDefinition, "disease definition", "picker", True,
                DiseaseDefinitionInput, DiseaseDefinitionPatch, ""),
    "communication_type": (catalog_m.COMMUNICATION_TYPE_KIND, CommunicationTypeDefinition, "communication type",
                           "picker", False, CommunicationTypeDefinitionInput, CommunicationTypeDefinitionPatch, ""),
}


def _queries(name: str) -> tuple[Any, Any, Any]:
    kind, record, label, order, by_category, *_ = CATALOGS[name]
    return _catalog(kind, record, label, order, by_category=by_category)


def _mutations(name: str) -> tuple[Any, Any, Any]:
    kind, record, label, _, _, input_type, patch_type, note = CATALOGS[name]
    return _catalog_mutations(kind, record, label, input_type, patch_type, note)


# ---------------------------------------------------------------------------------------------- query


FIELD_VALUES_PAGE_SIZE = 100  # seed 003: a patient's field values come 100 to a page unless asked otherwise


async def patient_field_values(info: Info, patient_id: PatientId, first: Annotated[int | None, strawberry.argument(
        description="Page size (default and maximum: the page cap, 100 unless the server sets another).")] = None,
        after: After = None) -> ConnectionRecord[field_value_m.FieldValue]:
    return await field_value_r.field_values(info.context, patient_id, Relay(first, after))


async def patient_field_value_page(
        info: Info, patient_id: PatientId, page: PageNumber = 1,
        page_size: Annotated[int | None, strawberry.argument(description=(
            f"Items per page (default {FIELD_VALUES_PAGE_SIZE}, or the page cap when the server sets a lower one), 1 "
            "up to the page cap (100 unless the server sets another); outside that → VALIDATION."))] = None,
) -> NumberedPage[field_value_m.FieldValue]:
    if page_size is None:
        page_size = min(FIELD_VALUES_PAGE_SIZE, info.context.settings.max_page_size)
    return await field_value_r.field_values(info.context, patient_id, numbered(info.context, page, page_size))


async def patient_field_form(info: Info, patient_id: PatientId) -> field_value_m.FieldForm:
    return await field_value_r.field_form(info.context, patient_id)


async def patient_referral_attributions(info: Info, patient_id: PatientId, include_archived: IncludeArchived = False,
                                        first: First = None,
                                        after: After = None) -> ConnectionRecord[referral_m.ReferralAttribution]:
    return await referral_r.list_attributions(info.context, patient_id, Relay(first, after),
                                              include_archived=include_archived)


async def patient_referral_attribution_page(info: Info, patient_id: PatientId,
                                            include_archived: IncludeArchived = False, page: PageNumber = 1,
                                            page_size: PageSize = DEFAULT_PAGE_SIZE
                                            ) -> NumberedPage[referral_m.ReferralAttribution]:
    return await referral_r.list_attributions(info.context, patient_id, numbered(info.context, page, page_size),
                                              include_archived=include_archived)


@strawberry.type
class CatalogQuery:
    alert_definitions, alert_definition_page, alert_definition = _queries("alert")
    tag_definitions, tag_definition_page, tag_definition = _queries("tag")
    field_definitions, field_definition_page, field_definition = _queries("field")
    allergy_definitions, allergy_definition_page, allergy_definition = _queries("allergy")
    medication_definitions, medication_definition_page, medication_definition = _queries("medication")
    disease_definitions, disease_definition_page, disease_definition = _queries("disease")
    (communication_type_definitions, communication_type_definition_page,
     communication_type_definition) = _queries("communication_type")
    patient_field_values = strawberry.field(
        resolver=patient_field_values, graphql_type=Connection[FieldValue],
        description="The custom field values set on a patient, in form order (unset fields left out). "
                    "Errors: NOT_FOUND (patient).")
    patient_field_value_page = strawberry.field(
        resolver=patient_field_value_page, graphql_type=Page[FieldValue],
        description="The custom field values set on a patient, in form order: one numbered page (page, pageSize, "
                    "total). Errors: NOT_FOUND (patient), VALIDATION (page or pageSize out of range).")
    patient_field_form = strawberry.field(
        resolver=patient_field_form, graphql_type=FieldForm,
        description="Every active custom field definition with the patient's current value (or null), in order: "
                    "renders the whole form in one call. Errors: NOT_FOUND (patient).")
    patient_referral_attributions = strawberry.field(
        resolver=patient_referral_attributions, graphql_type=Connection[ReferralAttribution],
        description="How the patient was acquired, newest first; archived attributions only with "
                    "includeArchived. Errors: NOT_FOUND (patient).")
    patient_referral_attribution_page = strawberry.field(
        resolver=patient_referral_attribution_page, graphql_type=Page[ReferralAttribution],
        description="How the patient was acquired, newest first: one numbered page (page, pageSize, total); "
                    "archived attributions only with includeArchived. Errors: NOT_FOUND (patient), VALIDATION "
                    "(page or pageSize out of range).")


# ---------------------------------------------------------------------------------------------- mutation


async def upsert_patient_field_values(info: Info, patient_id: PatientId, fields: Annotated[
        list[FieldValueInput], strawberry.argument(description="1–100 values, each field at most once.")]
        ) -> list[field_value_m.FieldValue]:
    return await field_value_r.upsert_field_values(info.context, patient_id, [fields_of(f) for f in fields])


async def create_referral_attribution(info: Info, patient_id: PatientId,
                                      input: Annotated[ReferralAttributionInput, strawberry.argument(
        description="The new referral attribution.")]) -> referral_m.ReferralAttribution:
    return await referral_r.create_attribution(info.context, patient_id, fields_of(input))


async def update_referral_attribution(info: Info, patient_id: PatientId, id: AttributionId, base_version: BaseVersion,
                                      input: Annotated[ReferralAttributionPatch, strawberry.argument(
        description="The fields to change; the others stay as they are.")]) -> referral_m.ReferralAttribution:
    return await referral_r.update_attribution(info.context, patient_id, id, base_version, fields_of(input))


async def archive_referral_attribution(info: Info, patient_id: PatientId, id: AttributionId,
                                       base_version: BaseVersion) -> referral_m.ReferralAttribution:
    return await referral_r.archive_attribution(info.context, patient_id, id, base_version)


async def update_alert(info: Info, patient_id: PatientId, id: AlertId, base_version: BaseVersion,
                       input: Annotated[AlertPatch, strawberry.argument(
        description="The fields to change; the others stay as they are.")]) -> alert_m.Alert:
    return await alert_r.update_alert(info.context, patient_id, id, base_version, fields_of(input))


async def disable_alert(info: Info, patient_id: PatientId, id: AlertId, base_version: BaseVersion) -> alert_m.Alert:
    return await alert_r.disable_alert(info.context, patient_id, id, base_version)


async def archive_alert(info: Info, patient_id: PatientId, id: AlertId, base_version: Annotated[
        int | None, strawberry.argument(description="The version you last read (optional here); a stale one → "
                                                    "VERSION_CONFLICT.")] = None) -> alert_m.Alert:
    return await alert_r.archive_alert(info.context, patient_id, id, base_version)


async def bulk_dismiss_alerts(info: Info, patient_id: PatientId, alert_ids: Annotated[
        list[strawberry.ID], strawberry.argument(description="Ids of the patient's alerts to archive, at most 50.")]
        ) -> alert_m.BulkDismissResult:
    return await alert_r.bulk_dismiss(info.context, patient_id, [str(i) for i in alert_ids])


@strawberry.type
class CatalogMutation:
    create_alert_definition, update_alert_definition, archive_alert_definition = _mutations("alert")
    create_tag_definition, update_tag_definition, archive_tag_definition = _mutations("tag")
    create_field_definition, update_field_definition, archive_field_definition = _mutations("field")
    create_allergy_definition, update_allergy_definition, archive_allergy_definition = _mutations("allergy")
    create_medication_definition, update_medication_definition, archive_medication_definition = _mutations(
        "medication")
    create_disease_definition, update_disease_definition, archive_disease_definition = _mutations("disease")
    (create_communication_type_definition, update_communication_type_definition,
     archive_communication_type_definition) = _mutations("communication_type")
    upsert_patient_field_values = strawberry.mutation(
        resolver=upsert_patient_field_values, graphql_type=list[FieldValue],
        description="Set or clear several custom field values of a patient at once (all checked, then one write). "
                    "Each value is typed by its definition (see FieldType). Returns the values sent, as stored. "
                    "Errors: NOT_FOUND (patient, unknown or archived definition), VALIDATION (a value of the wrong "
                    "type, a dropdown value not among its options, clearing a required field, a field twice, more "
                    "than 100 values; extensions.field names it, e.g. fields[2].value).")
    create_referral_attribution = strawberry.mutation(
        resolver=create_referral_attribution, graphql_type=ReferralAttribution,
        description="Record how the patient was acquired. Errors: VALIDATION (no source or several), NOT_FOUND "
                    "(patient or source), CONFLICT (a second active PRIMARY attribution).")
    update_referral_attribution = strawberry.mutation(
        resolver=update_referral_attribution, graphql_type=ReferralAttribution,
        description="Change an attribution's role or note (its source is fixed). Errors: NOT_FOUND, CONFLICT "
                    "(a second active PRIMARY), VALIDATION, VERSION_CONFLICT.")
    archive_referral_attribution = strawberry.mutation(
        resolver=archive_referral_attribution, graphql_type=ReferralAttribution,
        description="Archive (soft-delete) an attribution. Errors: NOT_FOUND, VALIDATION (already archived), "
                    "VERSION_CONFLICT.")
    update_alert = strawberry.mutation(
        resolver=update_alert, graphql_type=Alert,
        description="PATCH a patient alert: scope, urgency, status, note, disable date, disabled time. Errors: "
                    "NOT_FOUND, VALIDATION, VERSION_CONFLICT.")
    disable_alert = strawberry.mutation(
        resolver=disable_alert, graphql_type=Alert,
        description="Disable an active alert (hidden from the chart, kept; dateDisabled = now). Errors: NOT_FOUND, "
                    "INVALID_TRANSITION (not active), VERSION_CONFLICT.")
    archive_alert = strawberry.mutation(
        resolver=archive_alert, graphql_type=Alert,
        description="Archive (dismiss) an alert: left out of default listings; an archived alert is returned "
                    "unchanged. Errors: NOT_FOUND, VERSION_CONFLICT.")
    bulk_dismiss_alerts = strawberry.mutation(
        resolver=bulk_dismiss_alerts, graphql_type=BulkDismissResult,
        description="Archive up to 50 of a patient's alerts at once; already archived ones are skipped. Every id "
                    "is checked first: an unknown one, or another patient's, → NOT_FOUND and nothing changes; more "
                    "than 50 → VALIDATION.")
