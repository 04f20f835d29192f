"""The bulk patient import's GraphQL types (records: resolvers/model/patient_import.py)."""

from __future__ import annotations

from graph.record import object_type
from resolvers.model.common import enum_type
from resolvers.model.patient_import import ImportMode, ImportStatus, PatientImport, RowError, RowResult, RowStatus

enum_type(ImportMode, "How importPatients treats rows naming a patient already there (same chart number, or "
                           "without one the same first name, last name and date of birth).", {
    "VALIDATE_ONLY": "Check every row and write nothing: each row comes back VALIDATED or FAILED.",
    "SKIP_EXISTING": "Create the new patients; leave existing ones as they are (SKIPPED).",
    "UPDATE_EXISTING": "Create the new patients; change existing ones to the row's fields (UPDATED, or SKIPPED "
                       "when nothing differs).",
}, name="PatientImportMode")
enum_type(RowStatus, "What happened to one row of an import.", {
    "CREATED": "A new patient was created.", "UPDATED": "The existing patient was changed.",
    "SKIPPED": "The existing patient was left as it was.", "VALIDATED": "The row is valid (VALIDATE_ONLY).",
    "FAILED": "The row was refused; see its error.",
}, name="PatientImportRowStatus")
enum_type(ImportStatus, "Where an import stands.", {
    "PENDING": "A background import still running: follow it with patientImport(jobId).",
    "COMPLETED": "Every row was handled.", "FAILED": "The import stopped before handling every row.",
}, name="PatientImportStatus")
object_type(RowError, name="PatientImportRowError", description="Why one row of an import was refused.")
object_type(RowResult, name="PatientImportRowResult", description="The outcome of one row of an import.")
object_type(PatientImport, description="A bulk patient import: counts, per-row results and, for a background "
                                       "import, its progress.")

__all__ = ["ImportMode", "ImportStatus", "PatientImport", "RowError", "RowResult", "RowStatus"]
