"""The audit writer's templates (app/audit_template.py) encode exactly what the general path does
(store/audit.py ``Batch.encoded`` of auth/balp.py ``audit_event``), byte for byte, for every shape the recorder
makes; and the reads that make most of the trail are encoded from templates."""

from __future__ import annotations

import itertools
import time

import pytest

from app.audit_template import Templates
from app.audit_writer import RowPrincipal
from auth.balp import TOKEN_ISSUED, Access, audit_event, fresh_id
from store.audit import Batch

PRINCIPALS = [
    None,
    RowPrincipal("t", "api-key:ops", None, None, "api-key", None),
    RowPrincipal("t", "u-1", "app-1", "Practitioner/p-1", "token", None),
    RowPrincipal("t", "u-2", "app-2", None, "token", "pat-9"),
    RowPrincipal("t", "svc", "svc", None, "token", None),
    RowPrincipal("t", "QQQQ", "QQQQ", None, "token", None),  # a subject that looks like a sentinel
    RowPrincipal("t%b", "50%s%%off", "app%d", None, "token", None),  # what a template's format would read as a slot
]
ACCESSES = [
    dict(interaction="read", rt="Patient", rid="p-1"),
    dict(interaction="read", rt="Patient", rid="0123456789abcdef0123456789abcdef"),
    dict(interaction="read", rt="Observation", rid="o-1", patient="p-1"),
    dict(interaction="read", rt="Observation", rid="QQQ", patient="QQQ"),
    dict(interaction="vread", rt="Observation", rid="o-1", vid="2", patient="p-1"),
    dict(interaction="vread", rt="Patient", rid="p.1", vid="12"),
    dict(interaction="read", rt="Patient", rid="Q"),
    dict(interaction="read", rt="Patient", rid="not/an_id"),
    dict(interaction="search-type", rt="Observation", query="patient=p-1&code=1234-5&name=Smith"),
    dict(interaction="search-type", rt="Observation"),
    dict(interaction="history-instance", rt="Patient", rid="p-2"),
    dict(interaction="create", rt="Appointment", rid="a-1", patient="p-3"),
    dict(interaction="update", rt="Appointment", rid="a-1", patient="p-3", action="U"),
    dict(interaction="graphql-query", types=("Patient", "Observation"), description="query PatientChart"),
    dict(interaction="operation", rt="Group", rid="g-1", description="$export"),
    dict(interaction=TOKEN_ISSUED),
    dict(interaction="qapi", rt="Patient", rid="p-4", action="R"),
]


@pytest.mark.parametrize("status", [200, 201, 401, 403, 404, 500])
def test_templates_encode_what_the_general_path_does(status: int) -> None:
    batch = Batch("t")
    templates = Templates(batch, "fhirgraph")
    now = time.time()
    for n, (principal, shape) in enumerate(itertools.product(PRINCIPALS, ACCESSES * 3)):
        access = Access(now + n * 0.0137, principal, status=status, **shape)  # type: ignore[arg-type]
        event_id = fresh_id() if n % 5 else f"id-{n}"
        assert templates.encoded(event_id, access) == batch.encoded(audit_event(access, "fhirgraph", event_id))


def test_reads_are_encoded_from_templates() -> None:
    templates = Templates(Batch("t"), "fhirgraph")
    reader = RowPrincipal("t", "api-key:ops", None, None, "api-key", None)
    for i in range(100):
        templates.encoded(fresh_id(), Access(time.time(), reader, "read", 200, "Patient", f"p-{i % 7}"))
    assert templates.used == 100


def test_one_caller_s_reads_of_ids_of_every_length_share_no_wrong_template() -> None:
    # A template is keyed by its values' lengths (one slot a byte): ids, versions and Patient ids of many lengths
    # interleaved in one batch each take the template of their own lengths, or the general path.
    batch = Batch("t")
    templates = Templates(batch, "fhirgraph")
    reader = RowPrincipal("t", "api-key:ops", None, None, "api-key", None)
    now = time.time()
    for n in range(300):
        rid = "r" * (1 + n % 13)
        vid = None if n % 3 == 0 else str(10 ** (n % 4))
        patient = None if n % 2 else "p" * (1 + n % 5)
        access = Access(now + n * 0.011, reader, "vread" if vid else "read", 200, "Observation", rid, vid,
                        patient=patient)
        event_id = fresh_id() if n % 4 else f"e-{n}"
        assert templates.encoded(event_id, access) == batch.encoded(audit_event(access, "fhirgraph", event_id))
    assert templates.used > 200
