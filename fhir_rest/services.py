"""What the REST doors (FHIR and qapi) use of the running app, typed: the composition root's services object
(app/services.py) satisfies ``RestServices``; every endpoint reaches it through ``services(request)``."""

from __future__ import annotations

from typing import Any, Protocol, cast

from pydantic import SecretStr
from starlette.requests import HTTPConnection

from auth.audit import AuditTrail
from store.repository import Repository


class RestSettings(Protocol):
    @property
    def base_url(self) -> str: ...

    @property
    def default_page_size(self) -> int: ...

    @property
    def qapi_link_secret(self) -> SecretStr: ...

    @property
    def qapi_visit_base_url(self) -> str: ...

    @property
    def qapi_linking_secrets(self) -> SecretStr: ...

    @property
    def bundle_max_entries(self) -> int: ...

    @property
    def db_timeout_s(self) -> float: ...

    @property
    def export_keep_s(self) -> float: ...

    @property
    def export_retry_after_s(self) -> float: ...


class WebhookWaker(Protocol):
    def on_event(self, tenant: str, event: dict[str, Any]) -> None: ...


class ExportWaker(Protocol):
    def wake(self) -> None: ...


class RestServices(Protocol):
    @property
    def repo(self) -> Repository: ...

    @property
    def settings(self) -> RestSettings: ...

    @property
    def webhooks(self) -> WebhookWaker | None: ...

    @property
    def audit(self) -> AuditTrail | None: ...

    @property
    def exports(self) -> ExportWaker | None: ...


def services(connection: HTTPConnection) -> RestServices:
    return cast(RestServices, connection.app.state.services)


def services_of(scope: Any) -> RestServices:
    """The same, from an ASGI scope (for the read lane, in front of the route table)."""
    return cast(RestServices, scope["app"].state.services)
