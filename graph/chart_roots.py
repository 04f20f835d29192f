"""Root fields of the patient chart (seed 003): one vital signs record by id; updating and archiving
allergies, medications (and discontinuing one), problems, vital signs and relationships; logging a
communication. ``Query`` and ``Mutation`` (graph/query.py, graph/mutation.py) inherit them.

Every write is a store write (validated, versioned, with its event, visible through FHIR REST). Errors
(``extensions.code``): NOT_FOUND (patient, record, provider or appointment unknown, or the record is on another
patient's chart or archived), VALIDATION (a value the seed does not allow; ``extensions.field`` names the input
field), VERSION_CONFLICT (``baseVersion`` is not the record's current version), INVALID_TRANSITION (a status
change the lifecycle does not allow)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from graph.context import Info
from graph.types.allergy import Allergy
from graph.types.chart_inputs import (
    AllergyPatch,
    CommunicationLogInput,
    MedicationPatch,
    ProblemPatch,
    RelationshipPatch,
    VitalSignsPatch,
)
from graph.types.communication_log import CommunicationLog
from graph.types.family import Relationship
from graph.types.inputs import fields_of
from graph.types.medication import Medication
from graph.types.problem import Problem
from graph.types.vital_signs import VitalSigns
from resolvers import allergy as allergy_r
from resolvers import communication_log as communication_log_r
from resolvers import family as family_r
from resolvers import medication as medication_r
from resolvers import problem as problem_r
from resolvers import vital_signs as vital_signs_r
from resolvers.context import Scope
from resolvers.model import allergy as allergy_m
from resolvers.model import communication_log as communication_log_m
from resolvers.model import family as family_m
from resolvers.model import medication as medication_m
from resolvers.model import problem as problem_m
from resolvers.model import vital_signs as vital_signs_m

PatientId = Annotated[strawberry.ID, strawberry.argument(description="The patient whose chart holds the record.")]
RecordId = Annotated[strawberry.ID, strawberry.argument(description="The record's id.")]
BaseVersion = Annotated[int, strawberry.argument(
    description="The record's current `version`, as last read; another one → VERSION_CONFLICT.")]
IdempotencyKey = Annotated[str | None, strawberry.argument(
    description="Any unique string (e.g. a UUID made when the form opens), at most 255 characters: sending the "
                "same key and input again answers the first call's record instead of writing a second one. The "
                "key with a different input, or while the first call runs, is CONFLICT. Kept 24 hours.")]
_CHANGES = strawberry.argument(description="The fields to change; those left out stay as they are.")
ArchiveVersion = Annotated[int | None, strawberry.argument(
    description="When given, the record's current `version`; another one → VERSION_CONFLICT.")]

_UPDATE = "Only the fields sent change; baseVersion is required. Errors: NOT_FOUND, VALIDATION, VERSION_CONFLICT."
_ARCHIVE = ("Archive (soft-delete): the record keeps its data and gets `deletedAt`, and leaves every list and the "
            "medical summary; later updates answer NOT_FOUND. Errors: NOT_FOUND, VERSION_CONFLICT.")


def _archiver(archive: Callable[[Scope, str, str, int | None], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The root resolver of an archive mutation: (patientId, id, baseVersion?) → the archived record."""
    async def resolve(info: Info, patient_id: PatientId, id: RecordId, base_version: ArchiveVersion = None) -> Any:
        return await archive(info.context, patient_id, id, base_version)

    return resolve


async def get_vital_signs(info: Info, patient_id: PatientId, id: RecordId) -> vital_signs_m.VitalSigns | None:
    return await vital_signs_r.get_vital_signs(info.context, patient_id, id)


async def update_allergy(info: Info, patient_id: PatientId, id: RecordId, base_version: BaseVersion,
                         input: Annotated[AllergyPatch, _CHANGES]) -> allergy_m.Allergy:
    return await allergy_r.update_allergy(info.context, patient_id, id, base_version, fields_of(input))


async def update_medication(info: Info, patient_id: PatientId, id: RecordId, base_version: BaseVersion,
                            input: Annotated[MedicationPatch, _CHANGES]) -> medication_m.Medication:
    return await medication_r.update_medication(info.context, patient_id, id, base_version, fields_of(input))


async def discontinue_medication(
    info: Info, patient_id: PatientId, id: RecordId, base_version: BaseVersion,
    reason: Annotated[str, strawberry.argument(description="Why the medication is stopped (required).")],
    date_stop: Annotated[str | None, strawberry.argument(
        description="When it was stopped (YYYY-MM-DD); today when left out.")] = None,
) -> medication_m.Medication:
    return await medication_r.discontinue_medication(info.context, patient_id, id, base_version, reason, date_stop)


async def update_problem(info: Info, patient_id: PatientId, id: RecordId, base_version: BaseVersion,
                         input: Annotated[ProblemPatch, _CHANGES]) -> problem_m.Problem:
    return await problem_r.update_problem(info.context, patient_id, id, base_version, fields_of(input))


async def update_vital_signs(info: Info, patient_id: PatientId, id: RecordId, base_version: BaseVersion,
                             input: Annotated[VitalSignsPatch, _CHANGES]) -> vital_signs_m.VitalSigns:
    return await vital_signs_r.update_vital_signs(info.context, patient_id, id, base_version, fields_of(input))


async def update_relationship(
    info: Info, id: RecordId, base_version: BaseVersion, input: Annotated[RelationshipPatch, _CHANGES],
    patient_id: Annotated[strawberry.ID, strawberry.argument(
        description="The relationship's source patient (the one it is listed under).")],
) -> family_m.Relationship:
    return await family_r.update_relationship(info.context, patient_id, id, base_version, fields_of(input))


async def archive_relationship(
    info: Info, id: RecordId,
    patient_id: Annotated[strawberry.ID, strawberry.argument(
        description="The relationship's source patient (the one it is listed under).")],
    base_version: ArchiveVersion = None,
) -> family_m.Relationship:
    return await family_r.archive_relationship(info.context, patient_id, id, base_version)


async def create_communication_log(
    info: Info, patient_id: PatientId,
    input: Annotated[CommunicationLogInput, strawberry.argument(description="The communication to log.")],
    idempotency_key: IdempotencyKey = None,
) -> communication_log_m.CommunicationLog:
    return await communication_log_r.create_communication_log(info.context, patient_id, fields_of(input),
                                                              idempotency_key)


@strawberry.type
class ChartQuery:
    vital_signs = strawberry.field(
        resolver=get_vital_signs, graphql_type=VitalSigns | None,
        description="One set of the patient's vital signs by id. Errors: NOT_FOUND when the patient or the "
                    "record is unknown, archived, or on another patient's chart: the field is null, the error "
                    "names `patientId` or `id`.")


@strawberry.type
class ChartMutation:
    update_allergy = strawberry.mutation(resolver=update_allergy, graphql_type=Allergy,
                                         description=f"Update an allergy. {_UPDATE}")
    archive_allergy = strawberry.mutation(
        resolver=_archiver(allergy_r.archive_allergy), graphql_type=Allergy, description=_ARCHIVE)
    update_medication = strawberry.mutation(resolver=update_medication, graphql_type=Medication,
                                            description=f"Update a medication. {_UPDATE}")
    discontinue_medication = strawberry.mutation(
        resolver=discontinue_medication, graphql_type=Medication,
        description="Stop an active or on-hold medication: status discontinued, with the reason and the stop "
                    "date; it moves to the medical summary's past medications. Errors: NOT_FOUND, VALIDATION "
                    "(empty reason, stop before start), INVALID_TRANSITION (already discontinued or completed), "
                    "VERSION_CONFLICT.")
    archive_medication = strawberry.mutation(
        resolver=_archiver(medication_r.archive_medication), graphql_type=Medication, description=_ARCHIVE)
    update_problem = strawberry.mutation(
        resolver=update_problem, graphql_type=Problem,
        description=f"Update a problem, e.g. resolve it (status RESOLVED). {_UPDATE} INVALID_TRANSITION for a "
                    "status change against the lifecycle (see ProblemPatch).")
    archive_problem = strawberry.mutation(
        resolver=_archiver(problem_r.archive_problem), graphql_type=Problem, description=_ARCHIVE)
    update_vital_signs = strawberry.mutation(
        resolver=update_vital_signs, graphql_type=VitalSigns,
        description=f"Correct a set of vital signs; the abnormal flags are computed again. {_UPDATE}")
    archive_vital_signs = strawberry.mutation(
        resolver=_archiver(vital_signs_r.archive_vital_signs), graphql_type=VitalSigns, description=_ARCHIVE)
    update_relationship = strawberry.mutation(
        resolver=update_relationship, graphql_type=Relationship,
        description=f"Change a relationship's type, guardian flag or note. {_UPDATE}")
    archive_relationship = strawberry.mutation(
        resolver=archive_relationship, graphql_type=Relationship,
        description="Archive (soft-delete) a relationship: it leaves relationships, guardians and dependents. "
                    "Errors: NOT_FOUND, VERSION_CONFLICT.")
    create_communication_log = strawberry.mutation(
        resolver=create_communication_log, graphql_type=CommunicationLog,
        description="Log a communication with the patient (source `user`). Entries are append-only. Errors: "
                    "NOT_FOUND (patient or appointment), VALIDATION (date-time, mode or direction), CONFLICT "
                    "(idempotencyKey misused).")
