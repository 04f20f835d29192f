"""The Query root: entry points of the patient, scheduling and episode domains."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.catalog_roots import CatalogQuery
from graph.chart_roots import ChartQuery
from graph.context import Info
from graph.pagination import Connection, Page
from graph.types.appointment import Appointment
from graph.types.encounter import Encounter
from graph.types.episode import Episode
from graph.types.inputs import AppointmentFilter, PatientFilter, PatientSort, fields_of
from graph.types.patient import (
    Patient,
    PatientCountsByLocation,
    PatientSearchPage,
    PatientStatus,
    PatientSummary,
)
from graph.types.patient_import import PatientImport
from graph.types.practitioner import Practitioner
from resolvers import appointment as appointment_r
from resolvers import encounter as encounter_r
from resolvers import episode as episode_r
from resolvers import patient as patient_r
from resolvers import patient_import as patient_import_r
from resolvers import practitioner as practitioner_r
from resolvers import prefetch
from resolvers.loaders import settle_found
from resolvers.model import appointment as appointment_m
from resolvers.model import encounter as encounter_m
from resolvers.model import episode as episode_m
from resolvers.model import patient as patient_m
from resolvers.model import patient_import as import_m
from resolvers.model import practitioner as practitioner_m
from resolvers.pagination import DEFAULT_PAGE_SIZE, After, Before, First, Last, NumberedPage, PageNumber, PageSize
from resolvers.pagination import Connection as ConnectionRecord


def _selected(info: Info, name: str) -> bool:
    return any(s.name == name for f in info.selected_fields for s in getattr(f, "selections", ()))


async def get_patient(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The patient's id.")],
) -> patient_m.Patient | None:
    found: patient_m.Patient = await settle_found(patient_r.get_patient(info.context, id), "Patient", id)
    return found


async def list_patients(
    info: Info,
    first: Annotated[int | None, strawberry.argument(description=(
        f"Page forward: at most this many patients (default {DEFAULT_PAGE_SIZE}, as the numbered patientPage); 0 up "
        "to the page cap (100 unless the server sets another); outside that → VALIDATION."))] = None,
    after: After = None,
    last: Annotated[int | None, strawberry.argument(description=(
        f"Page backward: at most this many patients (default {DEFAULT_PAGE_SIZE}); 0 up to the page cap (100 unless "
        "the server sets another); outside that → VALIDATION."))] = None,
    before: Before = None,
    filter: Annotated[PatientFilter | None, strawberry.argument(
        description="Which patients (default: all but archived).")] = None,
    sort: Annotated[PatientSort | None, strawberry.argument(
        description="Order of the list (default: first name, then last name, ascending).")] = None,
) -> ConnectionRecord[patient_m.Patient]:
    found = await patient_r.list_patients(
        info.context, flt=fields_of(filter) if filter is not None else None,
        sort_field=sort.field.value if sort is not None and sort.field is not None else None,
        descending=sort is not None and sort.direction.value == "desc",
        first=first, after=after, last=last, before=before, want_total=_selected(info, "totalCount"))
    # the page's relations loaded before graphql-core walks it: its resolvers then answer synchronously
    await prefetch.prefetch(info.context, [str(e.node.id) for e in found.edges], prefetch.wanted(
        prefetch.selections(info.selected_fields, "edges", "node")))
    return found


async def patient_page(
    info: Info,
    page: PageNumber = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
    filter: Annotated[PatientFilter | None, strawberry.argument(description="Filters; see PatientFilter.")] = None,
    sort: Annotated[PatientSort | None, strawberry.argument(
        description="Sort (default last name, then first name, A→Z).")] = None,
) -> NumberedPage[patient_m.Patient]:
    return await patient_r.page_patients(
        info.context, page=page, page_size=page_size, flt=fields_of(filter) if filter is not None else None,
        sort_field=sort.field.value if sort is not None and sort.field is not None else None,
        descending=sort is not None and sort.direction.value == "desc")


async def patient_import(
    info: Info, job_id: Annotated[strawberry.ID, strawberry.argument(description="The jobId importPatients gave.")]
) -> import_m.PatientImport | None:
    return await patient_import_r.get_import(info.context, job_id)


_QUERY = Annotated[str, strawberry.argument(description="Text typed so far; empty or blank gives an empty list.")]
_LIMIT = Annotated[int, strawberry.argument(
    description="At most this many results (default 20); 0 up to the page cap (100 unless the server sets another), "
                "outside that → VALIDATION.")]


async def search_patients(info: Info, query: _QUERY, limit: _LIMIT = 20) -> list[patient_m.PatientSummary]:
    return await patient_r.search_patients(info.context, query, limit)


async def search_patients_page(info: Info, query: _QUERY, limit: _LIMIT = 20) -> patient_m.PatientSearchPage:
    return await patient_r.search_patients_page(info.context, query, limit)


async def patient_counts_by_location(
    info: Info,
    date_from: Annotated[str | None, strawberry.argument(
        description="First visit on or after this date (inclusive), YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, strawberry.argument(
        description="First visit before this date (exclusive: the day itself is not counted), YYYY-MM-DD.")] = None,
    statuses: Annotated[list[PatientStatus] | None, strawberry.argument(
        description="Count only these statuses (default: active).")] = None,
) -> patient_m.PatientCountsByLocation:
    return await patient_r.patient_counts_by_location(info.context, date_from, date_to, statuses)


async def check_duplicate_patients(
    info: Info,
    last_name: Annotated[str, strawberry.argument(description="Last name of the patient about to be created.")],
    date_of_birth: Annotated[str | None, strawberry.argument(
        description="Their date of birth, YYYY-MM-DD (matched with lastName).")] = None,
    email: Annotated[str | None, strawberry.argument(description="Their email address.")] = None,
    mobile_phone: Annotated[str | None, strawberry.argument(description="Their mobile phone number.")] = None,
    ssn: Annotated[str | None, strawberry.argument(description="Their US Social Security number.")] = None,
) -> list[patient_m.PatientSummary]:
    return await patient_r.check_duplicates(info.context, last_name=last_name, date_of_birth=date_of_birth,
                                            email=email, mobile_phone=mobile_phone, ssn=ssn)


async def get_appointment(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The appointment's id.")],
) -> appointment_m.Appointment | None:
    found: appointment_m.Appointment = await settle_found(appointment_r.get_appointment(info.context, id),
                                                          "Appointment", id)
    return found


async def list_appointments(
    info: Info,
    filter: Annotated[AppointmentFilter | None, strawberry.argument(
        description="Which appointments (default: all).")] = None,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> ConnectionRecord[appointment_m.Appointment]:
    return await appointment_r.list_appointments(info.context, fields_of(filter) if filter is not None else None,
                                                 first, after, last, before)


async def get_episode(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The episode's id.")],
) -> episode_m.Episode | None:
    found: episode_m.Episode = await settle_found(episode_r.get_episode(info.context, id), "Episode", id)
    return found


async def get_practitioner(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The practitioner's id.")],
) -> practitioner_m.Practitioner | None:
    found: practitioner_m.Practitioner = await settle_found(practitioner_r.get_practitioner(info.context, id),
                                                            "Practitioner", id)
    return found


async def get_encounter(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The encounter's id.")],
) -> encounter_m.Encounter | None:
    found: encounter_m.Encounter = await settle_found(encounter_r.get_encounter(info.context, id), "Encounter", id)
    return found


@strawberry.type(description="Reads: patients and their charts, appointments, episodes, practitioners, "
                             "encounters, the org catalogs. A field answering one record by id is nullable: an id "
                             "naming nothing you can see answers null there, with a NOT_FOUND error naming the "
                             "argument (extensions.field), and the other fields of the request still answer.")
class Query(CatalogQuery, ChartQuery):
    patient = strawberry.field(
        graphql_type=Patient | None, resolver=get_patient,
        description="One patient by id. Errors: NOT_FOUND (none in your clinic, or outside your access): the field "
                    "is null, the error names `id`.")
    patients = strawberry.field(
        graphql_type=Connection[Patient], resolver=list_patients,
        description="Patients, keyset-paginated (Relay). Archived patients only when asked for.")
    patient_page = strawberry.field(
        graphql_type=Page[Patient], resolver=patient_page,
        description="The classic numbered patient list: one page with page, pageSize and total (same filters and "
                    "sorts as patients). For scrolling through many patients prefer the patients connection. "
                    "Errors: VALIDATION (page < 1, pageSize out of range, malformed date), NOT_FOUND (unknown "
                    "provider or location in the filter, extensions.field names it).")
    patient_import = strawberry.field(
        graphql_type=PatientImport | None, resolver=patient_import,
        description="A background patient import: progress (processed of total), counts and, once COMPLETED, "
                    "the per-row results. Errors: NOT_FOUND (no such import in your practice; imports are kept "
                    "24 hours): the field is null, the error names `jobId`.")
    search_patients = strawberry.field(
        graphql_type=list[PatientSummary], resolver=search_patients,
        description="Typeahead over first, last, preferred name and chart number; empty → [].")
    search_patients_page = strawberry.field(
        graphql_type=PatientSearchPage, resolver=search_patients_page,
        description="searchPatients with the number of patients matching in all, to show \"12 of 240\".")
    patient_counts_by_location = strawberry.field(
        graphql_type=PatientCountsByLocation, resolver=patient_counts_by_location,
        description="Patient counts per location, by first-visit date range and statuses.")
    check_duplicate_patients = strawberry.field(
        graphql_type=list[PatientSummary], resolver=check_duplicate_patients,
        description="Existing patients matching any duplicate signal: last name + date of birth, email, mobile phone "
                    "or SSN.")
    appointment = strawberry.field(
        graphql_type=Appointment | None, resolver=get_appointment,
        description="One appointment by id. Errors: NOT_FOUND (none in your clinic): the field is null, the error "
                    "names `id`.")
    appointments = strawberry.field(
        graphql_type=Connection[Appointment], resolver=list_appointments,
        description="Appointments of your clinic, optionally filtered, keyset-paginated (Relay).")
    episode = strawberry.field(
        graphql_type=Episode | None, resolver=get_episode,
        description="One episode of care by id. Errors: NOT_FOUND (none in your clinic): the field is null, the "
                    "error names `id`.")
    practitioner = strawberry.field(
        graphql_type=Practitioner | None, resolver=get_practitioner,
        description="One practitioner (provider) by id. Errors: NOT_FOUND (none in your clinic): the field is null, "
                    "the error names `id`.")
    encounter = strawberry.field(
        graphql_type=Encounter | None, resolver=get_encounter,
        description="One encounter (visit) by id. Errors: NOT_FOUND (none in your clinic): the field is null, the "
                    "error names `id`.")
