"""API keys of FHIRGRAPH_API_KEYS with optional SMART scopes."""

from __future__ import annotations

from auth.api_keys import ApiKeys


def test_api_keys_may_carry_scopes_and_default_to_system() -> None:
    keys = ApiKeys("k1=clinic-a,k2=clinic-b:integrator:system/Subscription.rs user/Patient.read")
    k1, k2 = keys.lookup("k1"), keys.lookup("k2")
    assert k1 is not None and k1.scopes == frozenset({"system/*.*"})
    assert k2 is not None and k2.subject == "integrator"
    assert k2.scopes == frozenset({"system/Subscription.rs", "user/Patient.read"})


def test_an_invalid_key_scope_is_refused_without_quoting_the_key() -> None:
    try:
        ApiKeys("sekrit-value=clinic:sub:patient/*.rw")
    except ValueError as exc:
        assert "sekrit" not in str(exc) and "item 1" in str(exc)
    else:
        raise AssertionError("an invalid scope was accepted")
