"""Context-aware linking (seed 002): ``GET /integrations/linking?arg=`` redirects to the visit ``arg`` names.

``arg`` is ``URLEncode(Base64(salt) + Base64(IV) + Base64(AES-256-CBC(JSON)))`` — 12 characters of salt (8
bytes), 24 of IV (16 bytes), the rest the PKCS#7-padded ciphertext — under the key SHA-256(secret ‖ salt) (what
``openssl enc -aes-256-cbc -md sha256`` derives from a password and a salt), the secret being the practice's
(``FHIRGRAPH_QAPI_LINKING_SECRETS="tenant=secret,..."``; never logged). The link carries no credentials: the
practice is the one whose secret decrypts it. The JSON must match the seed's schema; ``visit`` names the
appointment (its SAID or id), ``type`` whose visit link to go to (a patient's, else the provider's). A
malformed, tampered or wrongly keyed ``arg`` is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import date
from typing import Any

import orjson
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fhir_rest.qapi import appointments, links
from fhir_rest.services import services
from store.errors import Invalid
from store.types import SystemPrincipal, check_tenant

PATH = "/integrations/linking"
MAX_ARG = 8192
TYPES = ("patient", "medicalAssistant", "provider")
SEXES = ("male", "female", "other", "unknown")
B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
REFUSED = "arg could not be decrypted: it is malformed, altered or not made with this practice's secret"


def secrets_of(spec: str) -> list[tuple[str, bytes]]:
    """(tenant, secret) pairs of ``FHIRGRAPH_QAPI_LINKING_SECRETS``."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        tenant, _, secret = item.partition("=")
        if tenant and secret:
            out.append((check_tenant(tenant.strip()), secret.encode()))
    return out


def decrypt(arg: str, secret: bytes) -> bytes | None:
    """The plaintext of ``arg`` under ``secret``, or None when it does not decrypt."""
    if len(arg) < 36 + 24 or not B64.fullmatch(arg[:12]) or not B64.fullmatch(arg[12:36]):
        return None
    try:
        salt, iv, sealed = (base64.b64decode(arg[:12], validate=True), base64.b64decode(arg[12:36], validate=True),
                            base64.b64decode(arg[36:], validate=True))
    except (binascii.Error, ValueError):
        return None
    if len(salt) != 8 or len(iv) != 16 or not sealed or len(sealed) % 16:
        return None
    key = hashlib.sha256(secret + salt).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(sealed) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


def check(data: Any) -> dict[str, Any]:
    """The seed's JSON Schema of the linking data, checked; the first violation is the 400's message."""
    if not isinstance(data, dict):
        raise Invalid("The linking data must be a JSON object")
    for name in ("user", "type", "visit", "date", "patient"):
        if name not in data:
            raise Invalid(f"The linking data lacks {name}", field=name)
    for name in ("user", "visit"):
        if not isinstance(data[name], str):
            raise Invalid(f"{name} must be a string", field=name)
    if data["type"] not in TYPES:
        raise Invalid(f"type must be one of {', '.join(TYPES)}", field="type")
    if isinstance(data["date"], bool) or not isinstance(data["date"], int | float):
        raise Invalid("date must be a number (a unix timestamp)", field="date")
    patient = data["patient"]
    if not isinstance(patient, dict):
        raise Invalid("patient must be an object", field="patient")
    for name in ("id", "sex", "dob", "firstName", "lastName"):
        if name not in patient:
            raise Invalid(f"patient lacks {name}", field=f"patient.{name}")
        if not isinstance(patient[name], str):
            raise Invalid(f"patient.{name} must be a string", field=f"patient.{name}")
    if patient["sex"] not in SEXES:
        raise Invalid(f"patient.sex must be one of {', '.join(SEXES)}", field="patient.sex")
    try:
        date.fromisoformat(patient["dob"])
    except ValueError:
        raise Invalid("patient.dob must be a date (YYYY-MM-DD)", field="patient.dob") from None
    return data


async def connect(request: Request) -> Response:
    raw = request.query_params.get("arg")
    if not raw:
        raise Invalid("arg is required", field="arg")
    if len(raw) > MAX_ARG:
        raise Invalid("arg is too long", field="arg")
    arg = raw.replace(" ", "+")  # a '+' the caller did not percent-encode arrives as a space
    for tenant, secret in secrets_of(services(request).settings.qapi_linking_secrets.get_secret_value()):
        plain = decrypt(arg, secret)
        if plain is None:
            continue
        try:
            data = orjson.loads(plain)
        except orjson.JSONDecodeError:
            continue  # padding that happened to look right under another practice's secret
        linked = check(data)
        principal = SystemPrincipal(tenant, "integrations-linking")
        appt = await appointments.find(services(request).repo, principal, linked["visit"][:64])
        role = "patient" if linked["type"] == "patient" else "provider"
        url = await links.visit_url(request, tenant, appt["id"], role)
        return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store",
                                                  "Referrer-Policy": "no-referrer"})
    raise Invalid(REFUSED, field="arg")


def route() -> Route:
    return Route(PATH, connect, methods=["GET"])

