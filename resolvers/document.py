"""Documents and signed notes: a patient's (records: resolvers/model/document.py)."""

from __future__ import annotations

from resolvers import chart
from resolvers.context import Info
from resolvers.loaders import MISSING, Soon, ready, then
from resolvers.model import document as model
from resolvers.model.patient import Patient
from resolvers.pagination import Connection, resolve_connection


def patient_documents(root: Patient, info: Info, first: int | None = None, after: str | None = None
                      ) -> Soon[Connection[model.Document]]:
    loader = info.context.loaders.documents_by_patient
    rows = ready(loader, str(root.id))
    if rows is MISSING:
        return then(loader.load(str(root.id)), patient_documents, root, info, first=first, after=after)
    return resolve_connection(rows, key=chart.by_date("date"), rid=lambda r: r["id"], node=model.from_fhir,
                              first=first, after=after, descending=True)
