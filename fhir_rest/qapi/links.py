"""Visit links of an appointment (seed 002 ``visitUrl``, ``providerVisitUrl``, ``patientVisitUrl``): one per
role, stable (the same appointment always gets the same link), unguessable and saying nothing of the patient.

A link's token is HMAC-SHA256 (RFC 2104, Python's ``hmac``) of the tenant, the appointment's FHIR id and the
role under the server's link key — ``FHIRGRAPH_QAPI_LINK_SECRET``, or when unset a random key generated once
and shared by every instance through the store — cut to 128 bits, base64url. Links point at
``FHIRGRAPH_QAPI_VISIT_BASE_URL`` (default ``<base>/visits``), where the video-visit front end takes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import quote

from starlette.requests import Request

from fhir_rest.services import services

ROLES = ("patient", "provider")
TOKEN_BYTES = 16


async def _key(request: Request) -> bytes:
    state = request.app.state
    cached: bytes | None = getattr(state, "qapi_link_key", None)
    if cached is not None:
        return cached
    svc = services(request)
    configured = svc.settings.qapi_link_secret.get_secret_value()
    secret = configured or await svc.repo.identity.shared_secret("qapi-links", secrets.token_hex(32))
    key = hashlib.sha256(secret.encode()).digest()
    state.qapi_link_key = key
    return key


def token(key: bytes, tenant: str, appointment_id: str, role: str) -> str:
    mac = hmac.new(key, f"{tenant}\n{appointment_id}\n{role}".encode(), hashlib.sha256).digest()[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _base(request: Request) -> str:
    settings = services(request).settings
    if settings.qapi_visit_base_url:
        return settings.qapi_visit_base_url.rstrip("/")
    root = settings.base_url.rstrip("/") or f"{request.url.scheme}://{request.url.netloc}"
    return f"{root}/visits"


async def visit_url(request: Request, tenant: str, appointment_id: str, role: str = "patient") -> str:
    return f"{_base(request)}/{role}/{token(await _key(request), tenant, appointment_id, role)}"


def teams_url(provider_url: str, said: str | None) -> str:
    """A Microsoft Teams meeting deep link (``l/meeting/new``) carrying the provider's visit link; its subject
    names the appointment by its SAID only."""
    subject = quote(f"Visit {said}" if said else "Visit")
    return f"https://teams.microsoft.com/l/meeting/new?subject={subject}&content={quote(provider_url, safe='')}"
