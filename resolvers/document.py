"""Documents and signed notes: a patient's (records: resolvers/model/document.py)."""

from __future__ import annotations

from resolvers import chart
from resolvers.context import Info
from resolvers.loaders import Soon, when_loaded
from resolvers.model import document as model
from resolvers.model.patient import Patient
from resolvers.pagination import After, Connection, First, resolve_connection


def patient_documents(
    root: Patient,
    info: Info,
    first: First = None,
    after: After = None,
) -> Soon[Connection[model.Document]]:
    return when_loaded(info.context.loaders.documents_by_patient, str(root.id), lambda rows: resolve_connection(
        rows, key=chart.by_date("date"), rid=lambda r: r["id"], node=model.from_fhir, first=first, after=after,
        descending=True))
