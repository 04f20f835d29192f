"""The audit trail's own search-key path (store/audit.py ``audit_keys``) keeps exactly the keys the general
extraction (store/keys.py ``extract``) would, for every shape of AuditEvent the recorder (auth/balp.py) makes."""

from __future__ import annotations

import itertools
import time

import pytest

from auth.balp import TOKEN_ISSUED, Access, audit_event
from auth.principal import Principal
from store.audit import _entity_keys, _instant_keys, audit_keys
from store.keys import date_keys, extract, reference_keys
from store.writes import server_meta

PRINCIPALS = [
    None,
    Principal(tenant="t", subject="api-key:ops", scopes=frozenset({"system/*.*"}), via="api-key"),
    Principal(tenant="t", subject="u-1", scopes=frozenset({"user/*.rs"}), via="token", client_id="app-1",
              user="Practitioner/p-1"),
    Principal(tenant="t", subject="u-2", scopes=frozenset({"patient/*.rs"}), via="token", client_id="app-2",
              patient="pat-9"),
    Principal(tenant="t", subject="svc", scopes=frozenset({"system/*.rs"}), via="token", client_id="svc"),
    Principal(tenant="t", subject="t/pat-user", scopes=frozenset({"patient/*.rs"}), via="token", client_id="app-3",
              user="Patient/pat-5", patient="pat-5"),
    Principal(tenant="t", subject="t/relative", scopes=frozenset({"patient/*.rs"}), via="token", client_id="app-3",
              user="RelatedPerson/rp-1", patient="pat-5"),
]
ACCESSES = [
    dict(interaction="read", rt="Patient", rid="p-1"),
    dict(interaction="vread", rt="Observation", rid="o-1", vid="2", patient="p-1"),
    dict(interaction="search-type", rt="Observation", query="patient=p-1&code=1234-5&name=Smith"),
    dict(interaction="search-system", query="_type=Patient"),
    dict(interaction="history-instance", rt="Patient", rid="p-2"),
    dict(interaction="create", rt="Appointment", rid="a-1", patient="p-3"),
    dict(interaction="graphql-query", types=("Patient", "Observation"), description="query PatientChart"),
    dict(interaction="operation", rt="Group", rid="g-1", description="$export"),
    dict(interaction=TOKEN_ISSUED, description="authorization_code"),
]


def test_audit_keys_equal_the_general_extraction_for_every_recorded_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    # The recorder's own shapes never fall back to the general extraction (that is the point of the fast path).
    monkeypatch.setattr("store.audit.extract", _no_fallback)
    stamp = "2026-12-02T03:00:00.123Z"
    meta = server_meta({}, 1, stamp, stamp)
    batch = []  # one batch, as store/audit.py keys it: one meta, one memo, the recorder's shared parts
    for principal, access, status in itertools.product(PRINCIPALS, ACCESSES, (200, 201, 401, 403, 404, 500)):
        event = audit_event(Access(time.time(), principal, status=status, **access), "fhirgraph")  # type: ignore[arg-type]
        batch.append({**event, "meta": meta})
    memo: dict[tuple[str, object], list[object]] = {}
    for resource in batch:
        assert audit_keys(resource) == extract(resource), resource
        assert audit_keys(resource, memo) == extract(resource), resource
    assert len(batch) == len(PRINCIPALS) * len(ACCESSES) * 6
    shared = [sig for sig in memo if sig[0] == "shared"]
    assert 0 < len(shared) < len(batch)  # what records of one client and interaction share was keyed once


def _no_fallback(resource: object) -> None:
    raise AssertionError("audit_keys fell back to the general extraction")


def test_audit_keys_hand_anything_unusual_to_the_general_extraction() -> None:
    event = audit_event(Access(time.time(), PRINCIPALS[1], "read", 200, "Patient", "p-1"), "fhirgraph")
    tagged = {**event, "meta": {"lastUpdated": "2026-12-02T03:00:00Z", "tag": [{"system": "s", "code": "c"}]}}
    assert audit_keys(tagged) == extract(tagged)
    assert audit_keys(tagged)["k"]["_tag"] == ["c", "s|c", "s|"]
    odd = {**event, "meta": {"lastUpdated": "2026-12-02T03:00:00Z"}, "period": {"start": "2026"},
           "subtype": {"system": "x", "code": "y"}, "agent": {"who": {"reference": "Device/d"}, "altId": "d"}}
    assert audit_keys(odd) == extract(odd)
    bad_dates = {**event, "meta": {"lastUpdated": "not a date"}, "recorded": "nor this"}
    assert audit_keys(bad_dates) == extract(bad_dates)


def test_a_patient_agent_puts_the_record_under_patient_and_a_client_under_its_id() -> None:
    """R4's AuditEvent ``patient`` is ``agent.who`` or ``entity.what`` that is a Patient; ``agent`` finds a client
    (known by identifier only) by its id and by ``system|value``; ``agent-name`` by the user's name."""
    principal = Principal(tenant="t", subject="t/jane", scopes=frozenset({"openid"}), via="token", client_id="app-9",
                          user="Patient/pat-7")
    event = audit_event(Access(time.time(), principal, TOKEN_ISSUED, 200), "fhirgraph")
    keys = audit_keys({**event, "meta": server_meta({}, 1, "2026-12-02T03:00:00Z", "2026-12-02T03:00:00Z")})
    assert "Patient/pat-7" in keys["k"]["patient"] and "entity" not in keys["k"]
    assert {"app-9", "https://fhirgraph.dev/fhir/sid/client-id|app-9", "Patient/pat-7"} <= set(keys["k"]["agent"])
    assert keys["k"]["agent-name"] == ["jane", "app-9"] and keys["e"]["agent-name"] == ["jane", "app-9"]


@pytest.mark.parametrize("text", ["2026-12-02T07:35:43.123Z", "2024-02-29T23:59:59.999Z", "1999-12-31T00:00:00.000Z",
                                  "2026-12-02T07:35:43Z", "2026-12-02T07:35:43.123+02:00", "2026-12-02",
                                  "2026-13-02T07:35:43.123Z", "2026-12-02T07:35:43.12xZ"])
def test_the_recorded_instant_keys_as_the_general_date_keys(text: str) -> None:
    assert _instant_keys(text) == date_keys([text])


@pytest.mark.parametrize("whats", [
    [{"reference": "Patient/p-1"}],
    [{"reference": "Patient/p-1"}, {"reference": "Patient/p-1"}],
    [{"reference": "Patient/p-1"}, {"reference": "Observation/o-1/_history/2"}],
    [{"reference": "https://example.org/fhir/Patient/p-1"}, {"reference": "#contained"}, {"reference": "p-7"}],
    [{"identifier": {"system": "s", "value": "v"}}, {"reference": "Patient/p-2", "display": "x"}, "Patient/p-3"],
    [],
])
def test_the_entity_keys_as_the_general_reference_keys(whats: list[object]) -> None:
    assert _entity_keys(whats) == reference_keys(whats)
