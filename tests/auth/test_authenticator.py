"""API keys and the anonymous default: a wrong credential never falls back to the default."""

from __future__ import annotations

import pytest

from auth.api_keys import ApiKeys
from auth.authenticator import Authenticator
from auth.principal import Principal
from store.errors import Unauthorized

KEYS = ApiKeys("key-a=clinic-a, key-b=clinic-b:front-desk ,=nobody, broken")
DEFAULT = Principal("trial", "system")


def test_keys_name_their_tenant_and_subject() -> None:
    a, b = KEYS.lookup("key-a"), KEYS.lookup("key-b")
    assert a is not None and (a.tenant, a.subject, a.via) == ("clinic-a", "api-key:clinic-a", "api-key")
    assert b is not None and (b.tenant, b.subject) == ("clinic-b", "front-desk")
    assert KEYS.lookup("") is None and KEYS.lookup("key-a ") is None and KEYS.lookup("broken") is None


def test_the_principal_never_prints_a_key() -> None:
    assert "key-a" not in repr(KEYS.lookup("key-a")) and "key-a" not in repr(KEYS)


async def test_anonymous_callers_get_the_default_only_when_allowed() -> None:
    assert await Authenticator(KEYS, DEFAULT).authenticate(None) is DEFAULT
    assert await Authenticator(KEYS, None).authenticate(None) is None


@pytest.mark.parametrize("default", [DEFAULT, None])
async def test_a_wrong_credential_is_unauthorized(default: Principal | None) -> None:
    with pytest.raises(Unauthorized):
        await Authenticator(KEYS, default).authenticate("not-a-key")
