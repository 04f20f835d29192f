"""The Patient (seed 003 patient record), computed from a FHIR Patient. Scalar fields are plain attributes set
once when the node is built (resolvers/patient.py ``from_fhir``); relations resolve through DataLoaders."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from graph.context import Info
from graph.pagination import Connection
from graph.types.common import EntityRef, Tag
from resolvers.loaders import settle

if TYPE_CHECKING:
    from graph.types.alert import Alert, AlertStatus
    from graph.types.allergy import Allergy
    from graph.types.appointment import Appointment, AppointmentStatus
    from graph.types.communication_log import CommunicationDirection, CommunicationLog
    from graph.types.document import Document
    from graph.types.encounter import Encounter
    from graph.types.episode import Episode, EpisodeStatus
    from graph.types.family import Family, Relationship
    from graph.types.medical_summary import MedicalSummary
    from graph.types.medication import Medication
    from graph.types.practitioner import Practitioner
    from graph.types.problem import Problem, ProblemStatus
    from graph.types.vital_signs import VitalSigns


@strawberry.enum(description="Patient lifecycle status (seed 003).")
class PatientStatus(Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PROSPECTIVE = "prospective"
    DECEASED = "deceased"
    ARCHIVED = "archived"


@strawberry.enum
class AllergyReviewStatus(Enum):
    NOT_REVIEWED = "not_reviewed"
    NKDA = "nkda"
    REVIEWED = "reviewed"


@strawberry.enum
class ContactMethod(Enum):
    EMAIL = "email"
    MAIL = "mail"
    NONE = "none"
    PHONE = "phone"
    TEXT = "text"


@strawberry.enum
class Pronoun(Enum):
    HE_HIM = "he_him"
    SHE_HER = "she_her"
    THEY_THEM = "they_them"
    OTHER = "other"
    NOT_SPECIFIED = "not_specified"


_Appointment = Annotated["Appointment", strawberry.lazy("graph.types.appointment")]
_AppointmentStatus = Annotated["AppointmentStatus", strawberry.lazy("graph.types.appointment")]
_Episode = Annotated["Episode", strawberry.lazy("graph.types.episode")]
_EpisodeStatus = Annotated["EpisodeStatus", strawberry.lazy("graph.types.episode")]
_Practitioner = Annotated["Practitioner", strawberry.lazy("graph.types.practitioner")]


@strawberry.federation.type(keys=["id"], description="A patient record (seed 003), computed from FHIR Patient.")
class Patient:
    id: strawberry.ID
    version: int = strawberry.field(description="Optimistic concurrency version; pass it as baseVersion.")
    created_at: str | None
    updated_at: str | None
    status: PatientStatus
    first_name: str | None
    middle_name: str | None
    last_name: str | None
    preferred_name: str | None
    title: str | None
    full_name: str
    date_of_birth: str | None
    gender: str | None = strawberry.field(description="FHIR administrative gender: male, female, other, unknown.")
    pronoun: Pronoun | None
    marital_status: str | None
    preferred_language: str | None
    email: str | None
    mobile_phone: str | None
    home_phone: str | None
    work_phone: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    chart_number: str | None
    mrn: str | None
    social_security_number: str | None
    medicaid_id: str | None
    spid: str | None = strawberry.field(description="The qapi numeric patient id (seed 002).")
    hsid: str | None
    account_number: str | None
    location: EntityRef | None
    premedication_required: bool
    medical_urgent_note: str | None
    allergy_review_status: AllergyReviewStatus
    preferred_contact_method: ContactMethod | None
    preferred_confirmation_method: ContactMethod | None
    receives_email: bool
    receives_sms: bool
    consent_flags: int
    date_first_visit: str | None
    balance_total: float
    scheduling_restricted: bool = strawberry.field(
        description="Scheduling hold: true when status is inactive or the balance exceeds $500.")
    date_time_deceased: str | None
    emergency_contact_name: str | None
    emergency_contact_phone: str | None
    tags: list[Tag]
    primary_provider_id: strawberry.Private[str | None]
    secondary_provider_id: strawberry.Private[str | None]

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Patient | None:
        from resolvers import patient as patient_r

        return await settle(patient_r.get_patient(info, id))

    @strawberry.field
    def primary_provider(self, info: Info) -> _Practitioner | None:
        from resolvers import practitioner as practitioner_r

        return practitioner_r.get_practitioner(info, self.primary_provider_id)

    @strawberry.field
    def secondary_provider(self, info: Info) -> _Practitioner | None:
        from resolvers import practitioner as practitioner_r

        return practitioner_r.get_practitioner(info, self.secondary_provider_id)

    @strawberry.field(description="The chart header summary (seed 003 medical-summary).")
    def medical_summary(
        self, info: Info
    ) -> Annotated[MedicalSummary, strawberry.lazy("graph.types.medical_summary")]:
        from resolvers import medical_summary as summary_r

        return summary_r.get_medical_summary(info, self)

    @strawberry.field(description="Financial family (same guarantor), guardians, dependents, relationships.")
    def family(self, info: Info) -> Annotated[Family, strawberry.lazy("graph.types.family")]:
        from resolvers import family as family_r

        return family_r.get_family(info, self)

    @strawberry.field(description="Relationships where this patient is the source.")
    def relationships(
        self, info: Info
    ) -> list[Annotated[Relationship, strawberry.lazy("graph.types.family")]]:
        from resolvers import family as family_r

        return family_r.get_relationships(info, self.id)

    @strawberry.field
    def episodes(self, info: Info, status: _EpisodeStatus | None = None, first: int | None = None,
                       after: str | None = None) -> Connection[_Episode]:
        from resolvers import episode as episode_r

        return episode_r.get_patient_episodes(info, self.id, status=status, first=first, after=after)

    @strawberry.field
    def appointments(self, info: Info, date_from: str | None = None, date_to: str | None = None,
                           status: list[_AppointmentStatus] | None = None, first: int | None = None,
                           after: str | None = None, last: int | None = None,
                           before: str | None = None) -> Connection[_Appointment]:
        from resolvers import appointment as appointment_r

        return appointment_r.get_patient_appointments(
            info, self.id, date_from=date_from, date_to=date_to, status=status, first=first, after=after,
            last=last, before=before)

    @strawberry.field
    def encounters(self, info: Info, first: int | None = None, after: str | None = None
                         ) -> Connection[Annotated[Encounter, strawberry.lazy("graph.types.encounter")]]:
        from resolvers import encounter as encounter_r

        return encounter_r.get_patient_encounters(info, self.id, first=first, after=after)

    @strawberry.field
    def vital_signs(self, info: Info, date_from: str | None = None, date_to: str | None = None,
                          first: int | None = None, after: str | None = None
                          ) -> Connection[Annotated[VitalSigns, strawberry.lazy("graph.types.vital_signs")]]:
        from resolvers import clinical as clinical_r

        return clinical_r.get_vital_signs(info, self.id, date_from=date_from, date_to=date_to,
                                                first=first, after=after)

    @strawberry.field
    def allergies(self, info: Info, is_active: bool | None = None, first: int | None = None,
                        after: str | None = None
                        ) -> Connection[Annotated[Allergy, strawberry.lazy("graph.types.allergy")]]:
        from resolvers import clinical as clinical_r

        return clinical_r.get_allergies(info, self.id, is_active=is_active, first=first, after=after)

    @strawberry.field
    def medications(self, info: Info, is_active: bool | None = None, first: int | None = None,
                          after: str | None = None
                          ) -> Connection[Annotated[Medication, strawberry.lazy("graph.types.medication")]]:
        from resolvers import clinical as clinical_r

        return clinical_r.get_medications(info, self.id, is_active=is_active, first=first, after=after)

    @strawberry.field
    def problems(self, info: Info,
                       status: Annotated[ProblemStatus, strawberry.lazy("graph.types.problem")] | None = None,
                       first: int | None = None, after: str | None = None
                       ) -> Connection[Annotated[Problem, strawberry.lazy("graph.types.problem")]]:
        from resolvers import clinical as clinical_r

        return clinical_r.get_problems(info, self.id, status=status, first=first, after=after)

    @strawberry.field
    def alerts(self, info: Info,
                     status: Annotated[AlertStatus, strawberry.lazy("graph.types.alert")] | None = None,
                     include_family: bool = False, first: int | None = None, after: str | None = None
                     ) -> Connection[Annotated[Alert, strawberry.lazy("graph.types.alert")]]:
        from resolvers import clinical as clinical_r

        return clinical_r.get_alerts(info, self, status=status, include_family=include_family,
                                           first=first, after=after)

    @strawberry.field
    def communication_logs(
        self, info: Info, date_from: str | None = None, date_to: str | None = None, mode: str | None = None,
        direction: Annotated[CommunicationDirection, strawberry.lazy("graph.types.communication_log")]
        | None = None,
        q: str | None = None, first: int | None = None, after: str | None = None,
    ) -> Connection[Annotated[CommunicationLog, strawberry.lazy("graph.types.communication_log")]]:
        from resolvers import clinical as clinical_r

        return clinical_r.get_communication_logs(info, self.id, date_from=date_from, date_to=date_to,
                                                       mode=mode, direction=direction, q=q, first=first,
                                                       after=after)

    @strawberry.field
    def documents(self, info: Info, first: int | None = None, after: str | None = None
                        ) -> Connection[Annotated[Document, strawberry.lazy("graph.types.document")]]:
        from resolvers import clinical as clinical_r

        return clinical_r.get_documents(info, self.id, first=first, after=after)


@strawberry.type(description="Lightweight patient fields for typeahead and duplicate checks.")
class PatientSummary:
    id: strawberry.ID
    first_name: str | None
    last_name: str | None
    preferred_name: str | None
    date_of_birth: str | None
    status: PatientStatus
    mobile_phone: str | None
    email: str | None
    chart_number: str | None


@strawberry.type
class LocationCount:
    location: EntityRef
    count: int


@strawberry.type(description="Patient counts per location (seed 003 counts/by-location): no patient rows.")
class PatientCountsByLocation:
    items: list[LocationCount]
    total: int
    excluded_count: int = strawberry.field(description="Matching patients not grouped under a location.")
    statuses: list[PatientStatus]
    date_from: str | None
    date_to: str | None


@strawberry.type
class CreatePatientPayload:
    patient: Patient
    potential_duplicates: list[PatientSummary]
