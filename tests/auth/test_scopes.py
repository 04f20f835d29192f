"""SMART scope grammar (v1 and v2, granular, non-resource scopes) and what a scope set grants."""

from __future__ import annotations

import pytest

from auth import scopes
from auth.scopes import ResourceScope, grants_for
from store.types import Slice

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


@pytest.mark.parametrize(("scope", "level", "rt", "letters"), [
    ("patient/*.read", "patient", "*", "rs"),
    ("user/Observation.write", "user", "Observation", "cud"),
    ("system/*.*", "system", "*", "cruds"),
    ("user/Patient.*", "user", "Patient", "cruds"),
    ("patient/Observation.rs", "patient", "Observation", "rs"),
    ("system/Subscription.cruds", "system", "Subscription", "cruds"),
    ("user/Encounter.cud", "user", "Encounter", "cud"),
    ("patient/Condition.s", "patient", "Condition", "s"),
])
def test_resource_scopes_parse_in_both_versions(scope: str, level: str, rt: str, letters: str) -> None:
    parsed = scopes.parse(scope)
    assert isinstance(parsed, ResourceScope)
    assert (parsed.level, parsed.type, parsed.letters) == (level, rt, frozenset(letters))
    assert scopes.is_valid(scope)


def test_a_granular_scope_keeps_its_search_parameters() -> None:
    parsed = scopes.parse(f"patient/Observation.rs?category={LAB}")
    assert isinstance(parsed, ResourceScope)
    assert parsed.params == (("category", LAB),)
    two = scopes.parse("user/Observation.rs?category=vital-signs&code=http://loinc.org|8867-4")
    assert isinstance(two, ResourceScope)
    assert two.params == (("category", "vital-signs"), ("code", "http://loinc.org|8867-4"))


@pytest.mark.parametrize("scope", ["launch", "launch/patient", "openid", "fhirUser", "offline_access",
                                   "online_access"])
def test_context_scopes_are_valid_and_grant_nothing(scope: str) -> None:
    assert scopes.parse(scope) == scope
    grants = grants_for(frozenset({scope}), "p1")
    assert all(not grants.slices(i, "Patient") for i in scopes.INTERACTIONS)


@pytest.mark.parametrize("scope", [
    "", "patient", "patient/*", "admin/*.read", "patient/observation.read", "patient/*.rw", "patient/*.sr",
    "patient/*.rr", "patient/*.readwrite", "patient/*.read?category=x", "patient/Observation.rs?",
    "patient/Observation.rs?category=", "patient/Observation.rs?=x", "Patient/*.read", "user/*.x",
])
def test_invalid_scopes_are_refused_and_ignored(scope: str) -> None:
    assert scopes.parse(scope) is None and not scopes.is_valid(scope)
    assert scopes.resource_scopes(frozenset({scope})) == ()


@pytest.mark.parametrize(("v1", "v2"), [("patient/*.read", "patient/*.rs"), ("user/Observation.write",
                                                                             "user/Observation.cud"),
                                        ("system/*.*", "system/*.cruds")])
def test_v1_and_v2_spellings_grant_the_same(v1: str, v2: str) -> None:
    a, b = grants_for(frozenset({v1}), "p1"), grants_for(frozenset({v2}), "p1")
    for rt in ("Patient", "Observation", "Practitioner"):
        for interaction in scopes.INTERACTIONS:
            assert a.slices(interaction, rt) == b.slices(interaction, rt), (interaction, rt)


def test_read_is_r_and_s_write_is_c_u_d() -> None:
    read = grants_for(frozenset({"user/Observation.read"}), None)
    assert [i for i in scopes.INTERACTIONS if read.slices(i, "Observation")] == ["read", "search"]
    write = grants_for(frozenset({"user/Observation.write"}), None)
    assert [i for i in scopes.INTERACTIONS if write.slices(i, "Observation")] == ["create", "update", "delete"]
    assert not write.slices("read", "Patient")


def test_patient_scopes_are_confined_to_the_launch_patient_or_grant_nothing() -> None:
    confined = grants_for(frozenset({"patient/*.rs"}), "p1")
    assert confined.slices("read", "Observation") == (Slice("p1"),)
    assert confined.slices("read", "Patient") == (Slice("p1"),)
    assert confined.slices("read", "Practitioner") == ()  # in no patient compartment
    assert grants_for(frozenset({"patient/*.rs"}), None).slices("read", "Observation") == ()


def test_user_and_system_scopes_are_not_confined() -> None:
    for level in ("user", "system"):
        assert grants_for(frozenset({f"{level}/*.rs"}), "p1").slices("read", "Practitioner") == (Slice(),)


def test_granular_scopes_restrict_and_a_plain_one_subsumes_them() -> None:
    lab = grants_for(frozenset({f"patient/Observation.rs?category={LAB}"}), "p1")
    assert lab.slices("search", "Observation") == (Slice("p1", (("category", LAB),)),)
    both = grants_for(frozenset({f"patient/Observation.rs?category={LAB}", "patient/Observation.rs"}), "p1")
    assert both.slices("search", "Observation") == (Slice("p1"),)
    whole = grants_for(frozenset({f"patient/Observation.rs?category={LAB}", "user/Observation.rs"}), "p1")
    assert whole.slices("search", "Observation") == (Slice(),)
    # A wildcard granular scope grants only the types having that parameter.
    wild = grants_for(frozenset({"user/*.rs?category=x"}), None)
    assert wild.slices("search", "Condition") == (Slice(None, (("category", "x"),)),)
    assert wild.slices("search", "Patient") == ()


def test_grants_are_cached_per_scope_set() -> None:
    assert grants_for(frozenset({"user/*.rs"}), None) is grants_for(frozenset({"user/*.rs"}), None)


def test_patient_and_user_wildcards_do_not_cover_the_audit_trail() -> None:
    # Issue 11: AuditEvent only for a scope naming it, or a system/ one (the clinic's own services, API keys).
    for wildcard in ("user/*.rs", "user/*.read", "user/*.*", "patient/*.rs", "patient/*.read"):
        grants = grants_for(frozenset({wildcard}), "p1")
        assert grants.slices("search", "AuditEvent") == grants.slices("read", "AuditEvent") == ()
        assert grants.slices("search", "Observation") != ()
    for named in ("user/AuditEvent.rs", "user/AuditEvent.read", "system/AuditEvent.rs", "system/AuditEvent.read",
                  "system/*.rs", "system/*.*"):
        assert grants_for(frozenset({named}), None).slices("search", "AuditEvent") == (Slice(),)
    assert grants_for(frozenset({"patient/AuditEvent.rs"}), "p1").slices("search", "AuditEvent") == (Slice("p1"),)


def test_a_wildcard_registration_does_not_cover_an_audit_scope() -> None:
    assert not scopes.covered("user/AuditEvent.rs", ["user/*.rs"])
    assert not scopes.covered("patient/AuditEvent.r", ["patient/*.read"])
    assert scopes.covered("user/AuditEvent.s", ["user/AuditEvent.rs"])
    assert scopes.covered("system/AuditEvent.rs", ["system/*.rs"])
    assert scopes.covered("user/*.r", ["user/*.rs"]) and scopes.covered("user/Observation.rs", ["user/*.rs"])
