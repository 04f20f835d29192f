"""Callers with narrow scopes, end to end, before access tokens exist: an app whose authenticator also knows
test keys standing for any ``Principal`` (a patient-context one, say), registered while the app runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from app.settings import Settings
from auth.principal import Principal
from tests.conftest import ServerThread, drop_test_database, free_port


class PrincipalKeys:
    """Test-only stand-in for ``ApiKeys``: a key is looked up to the principal it was registered for."""

    def __init__(self) -> None:
        self.table: dict[str, Principal] = {}

    def __bool__(self) -> bool:
        return True

    def lookup(self, key: str) -> Principal | None:
        return self.table.get(key)


class Scoped:
    def __init__(self, server: ServerThread, keys: PrincipalKeys):
        self.server, self.keys = server, keys
        self.url = server.url

    def key(self, tenant: str, *scopes: str, patient: str | None = None, subject: str = "tester") -> str:
        """A new key acting as a principal of ``tenant`` with ``scopes`` (and launch ``patient``)."""
        key = f"scoped-{uuid.uuid4().hex}"
        self.keys.table[key] = Principal(tenant, subject, scopes=frozenset(scopes), via="token", patient=patient)
        return key


@contextmanager
def scoped_app(settings: Settings) -> Iterator[Scoped]:
    from app.main import create_app

    own = settings.model_copy(update={"db_name": f"fhirgraph_scoped_{uuid.uuid4().hex[:8]}",
                                      "allow_anonymous": False})
    app = create_app(own)
    keys = PrincipalKeys()
    app.state.services.authenticator.keys = keys
    srv = ServerThread(app, free_port())
    srv.start()
    try:
        yield Scoped(srv, keys)
    finally:
        srv.stop()
        drop_test_database(own)
