"""Root fields of the org catalogs (alert, tag and custom-field definitions), a patient's custom field values
and referral attributions, and the alert changes (update, disable, archive, bulk dismiss). ``Query`` and
``Mutation`` (graph/query.py, graph/mutation.py) inherit them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from graph.context import Info
from graph.pagination import Connection
from graph.types.alert import Alert, BulkDismissResult
from graph.types.catalog import (
    AlertDefinition,
    FieldDefinition,
    FieldForm,
    FieldValue,
    ReferralAttribution,
    TagDefinition,
)
from graph.types.catalog_inputs import (
    AlertDefinitionInput,
    AlertDefinitionPatch,
    AlertPatch,
    FieldDefinitionInput,
    FieldDefinitionPatch,
    FieldValueInput,
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
from resolvers.loaders import settle
from resolvers.model import alert as alert_m
from resolvers.model import catalog as catalog_m
from resolvers.model import field_value as field_value_m
from resolvers.model import referral as referral_m
from resolvers.pagination import Connection as ConnectionRecord

Resolver = Callable[..., Awaitable[Any]]
ALERT, TAG, FIELD = catalog_m.ALERT_KIND, catalog_m.TAG_KIND, catalog_m.FIELD_KIND

Search = Annotated[str | None, strawberry.argument(
    description="Only definitions whose name contains this text (case- and accent-insensitive).")]
Category = Annotated[str | None, strawberry.argument(
    description="Only definitions of this category (exact, any case).")]
IncludeArchived = Annotated[bool, strawberry.argument(description="Also list archived entries (default false).")]
First = Annotated[int | None, strawberry.argument(description="Page size (default 20, at most 100).")]
After = Annotated[str | None, strawberry.argument(description="Cursor of the last edge of the previous page.")]
DefinitionId = Annotated[strawberry.ID, strawberry.argument(description="Id of the definition.")]
BaseVersion = Annotated[int, strawberry.argument(
    description="The version you last read; a stale one → VERSION_CONFLICT (re-read, then retry).")]
PatientId = Annotated[strawberry.ID, strawberry.argument(description="Id of the patient (unknown → NOT_FOUND).")]
AlertId = Annotated[strawberry.ID, strawberry.argument(
    description="Id of the patient's alert (unknown or another patient's → NOT_FOUND).")]
AttributionId = Annotated[strawberry.ID, strawberry.argument(
    description="Id of the patient's attribution (unknown or another patient's → NOT_FOUND).")]

_CATALOG_ERRORS = " Errors: VALIDATION (extensions.field names the input field), NOT_FOUND"
_VERSIONED_ERRORS = _CATALOG_ERRORS + ", VERSION_CONFLICT (stale baseVersion)."


# ---------------------------------------------------------------------------------------------- query


async def alert_definitions(info: Info, search: Search = None, category: Category = None,
                            include_archived: IncludeArchived = False, first: First = None,
                            after: After = None) -> ConnectionRecord[catalog_m.AlertDefinition]:
    return await catalog_r.list_definitions(info.context, ALERT, search=search, category=category,
                                            include_archived=include_archived, first=first, after=after)


async def tag_definitions(info: Info, search: Search = None, category: Category = None,
                          include_archived: IncludeArchived = False, first: First = None,
                          after: After = None) -> ConnectionRecord[catalog_m.TagDefinition]:
    return await catalog_r.list_definitions(info.context, TAG, search=search, category=category,
                                            include_archived=include_archived, first=first, after=after)


async def field_definitions(info: Info, search: Search = None, include_archived: IncludeArchived = False,
                            first: First = None, after: After = None) -> ConnectionRecord[catalog_m.FieldDefinition]:
    return await catalog_r.list_definitions(info.context, FIELD, search=search, include_archived=include_archived,
                                            first=first, after=after)


async def alert_definition(info: Info, id: DefinitionId) -> catalog_m.AlertDefinition | None:
    found: catalog_m.AlertDefinition | None = await settle(catalog_r.get_definition(info.context, ALERT, id))
    return found


async def tag_definition(info: Info, id: DefinitionId) -> catalog_m.TagDefinition | None:
    found: catalog_m.TagDefinition | None = await settle(catalog_r.get_definition(info.context, TAG, id))
    return found


async def field_definition(info: Info, id: DefinitionId) -> catalog_m.FieldDefinition | None:
    found: catalog_m.FieldDefinition | None = await settle(catalog_r.get_definition(info.context, FIELD, id))
    return found


async def patient_field_values(info: Info, patient_id: PatientId, first: Annotated[int | None, strawberry.argument(
        description="Page size (default and maximum 100).")] = None,
        after: After = None) -> ConnectionRecord[field_value_m.FieldValue]:
    return await field_value_r.field_values(info.context, patient_id, first, after)


async def patient_field_form(info: Info, patient_id: PatientId) -> field_value_m.FieldForm:
    return await field_value_r.field_form(info.context, patient_id)


async def patient_referral_attributions(info: Info, patient_id: PatientId, include_archived: IncludeArchived = False,
                                        first: First = None,
                                        after: After = None) -> ConnectionRecord[referral_m.ReferralAttribution]:
    return await referral_r.list_attributions(info.context, patient_id, include_archived=include_archived,
                                              first=first, after=after)


@strawberry.type
class CatalogQuery:
    alert_definitions = strawberry.field(
        resolver=alert_definitions, graphql_type=Connection[AlertDefinition],
        description="The org's alert definitions in catalog order (itemOrder, then name); archived ones only with "
                    "includeArchived.")
    alert_definition = strawberry.field(resolver=alert_definition, graphql_type=AlertDefinition | None,
                                        description="One alert definition (archived included); null when unknown.")
    tag_definitions = strawberry.field(
        resolver=tag_definitions, graphql_type=Connection[TagDefinition],
        description="The org's tag definitions in catalog order; archived ones only with includeArchived.")
    tag_definition = strawberry.field(resolver=tag_definition, graphql_type=TagDefinition | None,
                                      description="One tag definition (archived included); null when unknown.")
    field_definitions = strawberry.field(
        resolver=field_definitions, graphql_type=Connection[FieldDefinition],
        description="The org's custom field definitions in form order; archived ones only with includeArchived.")
    field_definition = strawberry.field(resolver=field_definition, graphql_type=FieldDefinition | None,
                                        description="One custom field definition (archived included); null when "
                                                    "unknown.")
    patient_field_values = strawberry.field(
        resolver=patient_field_values, graphql_type=Connection[FieldValue],
        description="The custom field values set on a patient, in form order (unset fields left out). "
                    "Errors: NOT_FOUND (patient).")
    patient_field_form = strawberry.field(
        resolver=patient_field_form, graphql_type=FieldForm,
        description="Every active custom field definition with the patient's current value (or null), in order: "
                    "renders the whole form in one call. Errors: NOT_FOUND (patient).")
    patient_referral_attributions = strawberry.field(
        resolver=patient_referral_attributions, graphql_type=Connection[ReferralAttribution],
        description="How the patient was acquired, newest first; archived attributions only with "
                    "includeArchived. Errors: NOT_FOUND (patient).")


# ---------------------------------------------------------------------------------------------- mutation


async def create_alert_definition(info: Info, input: Annotated[AlertDefinitionInput, strawberry.argument(
        description="The new alert definition.")]) -> catalog_m.AlertDefinition:
    result: catalog_m.AlertDefinition = await catalog_r.create_definition(info.context, ALERT, fields_of(input))
    return result


async def update_alert_definition(info: Info, id: DefinitionId, base_version: BaseVersion,
                                  input: Annotated[AlertDefinitionPatch, strawberry.argument(
        description="The fields to change; the others stay as they are.")]) -> catalog_m.AlertDefinition:
    result: catalog_m.AlertDefinition = await catalog_r.update_definition(info.context, ALERT, id, base_version,
                                                                          fields_of(input))
    return result


async def archive_alert_definition(info: Info, id: DefinitionId,
                                   base_version: BaseVersion) -> catalog_m.AlertDefinition:
    result: catalog_m.AlertDefinition = await catalog_r.archive_definition(info.context, ALERT, id, base_version)
    return result


async def create_tag_definition(info: Info, input: Annotated[TagDefinitionInput, strawberry.argument(
        description="The new tag definition.")]) -> catalog_m.TagDefinition:
    result: catalog_m.TagDefinition = await catalog_r.create_definition(info.context, TAG, fields_of(input))
    return result


async def update_tag_definition(info: Info, id: DefinitionId, base_version: BaseVersion,
                                input: Annotated[TagDefinitionPatch, strawberry.argument(
        description="The fields to change; the others stay as they are.")]) -> catalog_m.TagDefinition:
    result: catalog_m.TagDefinition = await catalog_r.update_definition(info.context, TAG, id, base_version,
                                                                        fields_of(input))
    return result


async def archive_tag_definition(info: Info, id: DefinitionId, base_version: BaseVersion) -> catalog_m.TagDefinition:
    result: catalog_m.TagDefinition = await catalog_r.archive_definition(info.context, TAG, id, base_version)
    return result


async def create_field_definition(info: Info, input: Annotated[FieldDefinitionInput, strawberry.argument(
        description="The new custom-field definition.")]) -> catalog_m.FieldDefinition:
    result: catalog_m.FieldDefinition = await catalog_r.create_definition(info.context, FIELD, fields_of(input))
    return result


async def update_field_definition(info: Info, id: DefinitionId, base_version: BaseVersion,
                                  input: Annotated[FieldDefinitionPatch, strawberry.argument(
        description="The fields to change; the others stay as they are.")]) -> catalog_m.FieldDefinition:
    result: catalog_m.FieldDefinition = await catalog_r.update_definition(info.context, FIELD, id, base_version,
                                                                          fields_of(input))
    return result


async def archive_field_definition(info: Info, id: DefinitionId,
                                   base_version: BaseVersion) -> catalog_m.FieldDefinition:
    result: catalog_m.FieldDefinition = await catalog_r.archive_definition(info.context, FIELD, id, base_version)
    return result


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


def _catalog_mutations(label: str, record: Any, create: Resolver, update: Resolver, archive: Resolver,
                       create_note: str = "") -> tuple[Any, Any, Any]:
    """The create, update and archive mutations of one catalog, described alike."""
    article = "an" if label[0] in "aeiou" else "a"
    return (
        strawberry.mutation(resolver=create, graphql_type=record,
                            description=f"Create {article} {label}.{create_note}{_CATALOG_ERRORS}."),
        strawberry.mutation(resolver=update, graphql_type=record,
                            description=f"PATCH the {label}: only the fields sent change.{_VERSIONED_ERRORS}"),
        strawberry.mutation(resolver=archive, graphql_type=record,
                            description=f"Archive (soft-delete) the {label}: hidden from lists by default, no longer "
                                        f"assignable; what already refers to it keeps resolving. Archiving it "
                                        f"again → VALIDATION.{_VERSIONED_ERRORS}"),
    )


@strawberry.type
class CatalogMutation:
    create_alert_definition, update_alert_definition, archive_alert_definition = _catalog_mutations(
        "alert definition", AlertDefinition, create_alert_definition, update_alert_definition,
        archive_alert_definition)
    create_tag_definition, update_tag_definition, archive_tag_definition = _catalog_mutations(
        "tag definition", TagDefinition, create_tag_definition, update_tag_definition, archive_tag_definition)
    create_field_definition, update_field_definition, archive_field_definition = _catalog_mutations(
        "custom field definition", FieldDefinition, create_field_definition, update_field_definition,
        archive_field_definition, " A DROPDOWN field needs dropdownOptions; other types refuse them.")
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
