"""The one policy: decisions, their confinement and granular filters, refusals naming the needed scope."""

from __future__ import annotations

import pytest

from auth.policy import Decision, authorize, may
from auth.principal import Principal
from store.errors import Forbidden
from store.types import Confinement, Slice, SystemPrincipal

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


def who(*scopes: str, patient: str | None = None) -> Principal:
    return Principal("t", "s", scopes=frozenset(scopes), patient=patient)


def test_system_scopes_and_system_principals_see_the_whole_tenant() -> None:
    for principal in (who("system/*.*"), SystemPrincipal("t")):
        decision = authorize(principal, "update", "Observation")
        assert decision == Decision("update", "Observation", None)
        assert decision.patient is None and decision.filters == ()


def test_a_patient_scope_confines_to_the_launch_patients_compartment() -> None:
    decision = authorize(who("patient/*.rs", "launch/patient", patient="p1"), "search", "Observation")
    assert decision.patient == "p1"
    assert decision.within == Confinement((Slice("p1"),))


def test_granular_filters_are_carried() -> None:
    decision = authorize(who(f"patient/Observation.rs?category={LAB}", patient="p1"), "search", "Observation")
    assert decision.patient == "p1"
    assert decision.filters == ((("category", LAB),),)


@pytest.mark.parametrize(("principal", "interaction", "rt", "needed"), [
    (who("patient/*.rs", patient="p1"), "create", "Observation",
     "requires patient/Observation.c or user/Observation.c"),
    (who("user/Patient.rs"), "read", "Observation", "requires user/Observation.r or system/Observation.r"),
    (who("patient/*.rs", patient="p1"), "read", "Practitioner", "Practitioner is in no patient compartment"),
    (who("patient/*.rs"), "read", "Observation", "a patient/ scope needs a launch patient"),
    (who(), "read", "Patient", "requires user/Patient.r or system/Patient.r"),
    (who("system/*.rs"), "create", "Patient", "requires system/Patient.c or user/Patient.c"),
    (who("user/*.rs", "system/Patient.r"), "create", "Patient", "requires user/Patient.c or system/Patient.c"),
    (who("openid", "fhirUser", "not a scope"), "search", "Patient", "requires user/Patient.s"),
    # the audit trail: wildcards below system/ do not grant it (issue 11)
    (who("user/*.rs"), "search", "AuditEvent",
     "requires user/AuditEvent.s or system/AuditEvent.s (a patient/* or user/* scope does not grant AuditEvent"),
    (who("patient/*.rs", patient="p1"), "read", "AuditEvent", "requires patient/AuditEvent.r or user/AuditEvent.r"),
    (who("user/*.*"), "read", "AuditEvent", "does not grant AuditEvent"),
])
def test_refusals_name_the_scope_that_would_grant(principal: Principal, interaction: str, rt: str,
                                                  needed: str) -> None:
    with pytest.raises(Forbidden) as caught:
        authorize(principal, interaction, rt)
    assert caught.value.message.startswith("insufficient_scope: ")
    assert needed in caught.value.message
    assert may(principal, interaction, rt) is None


def test_decisions_are_shared_objects() -> None:
    # Decided once per scope set: the hot path is a lookup.
    a = authorize(who("patient/*.rs", patient="p9"), "read", "Condition")
    b = authorize(who("patient/*.rs", patient="p9"), "read", "Condition")
    assert a is b


def test_unknown_types_are_decided_by_the_wildcard_without_being_remembered() -> None:
    assert authorize(who("system/*.*"), "read", "NoSuchType").within is None
    with pytest.raises(Forbidden):
        authorize(who("patient/*.rs", patient="p1"), "read", "NoSuchType")


def test_types_the_server_does_not_keep_are_decided_the_same_each_time_and_kept_within_a_bound() -> None:
    """A decision on an unknown type (the store's 404) or interaction is remembered with the scope set's table,
    and client-chosen names never grow that table without bound."""
    from auth import policy

    granted, refused = who("system/*.*", "bound-test"), who("user/Patient.rs", "bound-test")
    assert authorize(granted, "read", "Unicorn") == authorize(granted, "read", "Unicorn") == Decision(
        "read", "Unicorn", None)
    for _ in range(2):
        with pytest.raises(Forbidden, match="requires user/Unicorn.r or system/Unicorn.r"):
            authorize(refused, "read", "Unicorn")
    for i in range(policy._TABLE_MAX + 50):
        authorize(granted, "read", f"Unicorn{i}")
    assert len(policy._table(granted.scopes, None)) == policy._TABLE_MAX
    assert authorize(granted, "read", f"Unicorn{policy._TABLE_MAX + 49}").resource_type == \
        f"Unicorn{policy._TABLE_MAX + 49}"
