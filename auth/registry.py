"""Registering clients and users (the CLI, the demo and the admin API share it)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import InvalidClientError

from auth.models import INTROSPECT_SCOPE, key_set
from auth.passwords import MIN_LENGTH, hash_password
from auth.scopes import is_valid as smart_scope
from store.errors import Conflict, Invalid
from store.identity import IdentityStore, digest
from store.types import check_tenant

# api_key: an integrator of the vendor API (seed 002's Api-Key header), a registered client with scopes too.
GRANTS = ("authorization_code", "client_credentials", "api_key")
FHIR_USER_TYPES = ("Practitioner", "Patient", "RelatedPerson")
# How long a revocation is kept: past the longest an access token may live (FHIRGRAPH_ACCESS_TOKEN_LIFETIME_S is
# at most a day), whatever lifetime the instance or CLI recording it was configured with.
REVOCATION_TTL_S = 24 * 3600 + 300

# Managing clients, users and grants through the admin API (auth/admin.py); never granted by a wildcard.
ADMIN_SCOPE = "fhirgraph/admin"


def is_valid(scope: str) -> bool:
    return scope in (ADMIN_SCOPE, INTROSPECT_SCOPE) or smart_scope(scope)


DEFAULT_SCOPES = ("launch", "launch/patient", "openid", "fhirUser", "offline_access", "online_access",
                  "patient/*.rs", "user/*.rs", "patient/*.read", "user/*.read")


def _new_client_id() -> str:
    """A random client id that does not begin with "-", which a command line would take for an option
    (``fhirgraph clients disable --client-id -Xy…``)."""
    while (client_id := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return client_id


async def add_client(identity: IdentityStore, *, name: str, tenant: str, redirect_uris: list[str],
                     public: bool = False, grant: str = "authorization_code", scopes: list[str] | None = None,
                     jwks: dict[str, Any] | None = None, jwks_url: str | None = None,
                     client_id: str | None = None) -> dict[str, Any]:
    """Register a client; returns it as the CLI prints it (``client_secret`` only here, once, for confidential
    clients that authenticate with a secret)."""
    check_tenant(tenant)
    if grant not in GRANTS:
        raise Invalid(f"grant must be one of {', '.join(GRANTS)}")
    if not name.strip():
        raise Invalid("a client needs a name")
    if grant == "authorization_code" and not redirect_uris:
        raise Invalid("an authorization_code client needs at least one redirect URI")
    for uri in redirect_uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
            raise Invalid(f"redirect URI must be an absolute http(s) URI without a fragment: {uri[:64]}")
    if grant in ("client_credentials", "api_key") and public:
        raise Invalid(f"a {grant} client cannot be a public client")
    if jwks is not None:
        try:
            key_set(jwks)
        except InvalidClientError as exc:
            raise Invalid(str(exc.description)) from None
    if jwks_url is not None and urlsplit(jwks_url).scheme != "https":
        raise Invalid("the JWKS URL must be https")
    scopes = list(scopes or (["system/*.rs"] if grant in ("client_credentials", "api_key") else DEFAULT_SCOPES))
    bad = [s for s in scopes if not is_valid(s)]
    if bad:
        raise Invalid(f"not a SMART scope: {bad[0][:64]}")
    client_id = client_id or _new_client_id()
    secret = None if public or jwks is not None or jwks_url is not None or grant == "api_key" \
        else secrets.token_urlsafe(32)
    api_key = "fgk_" + secrets.token_urlsafe(32) if grant == "api_key" else None
    doc: dict[str, Any] = {"_id": client_id, "tenant": tenant, "name": name.strip(), "public": public,
                           "redirect_uris": redirect_uris, "grant_types": [grant], "scope": scopes,
                           "disabled": False}
    if secret is not None:
        doc["secret"] = digest(secret)
    if api_key is not None:
        doc["api_key"] = digest(api_key)
    if jwks is not None:
        doc["jwks"] = jwks
    if jwks_url is not None:
        doc["jwks_url"] = jwks_url
    try:
        await identity.add_client(doc)
    except Exception as exc:
        if type(exc).__name__ == "DuplicateKeyError":
            raise Conflict("a client with this id exists") from None
        raise
    shown = {"client_id": client_id, "name": doc["name"], "tenant": tenant, "public": public,
             "redirect_uris": redirect_uris, "grant_types": [grant], "scope": " ".join(scopes)}
    if secret is not None:
        shown["client_secret"] = secret
    if api_key is not None:
        shown["api_key"] = api_key
    return shown


async def add_user(identity: IdentityStore, *, username: str, password: str, fhir_user: str,
                   tenant: str) -> dict[str, Any]:
    check_tenant(tenant)
    kind, _, rid = fhir_user.partition("/")
    if kind not in FHIR_USER_TYPES or not rid or "/" in rid:
        raise Invalid("fhirUser must be Practitioner/ID, Patient/ID or RelatedPerson/ID")
    if not username or len(username) > 128 or any(c.isspace() for c in username):
        raise Invalid("a username is 1-128 characters without spaces")
    if len(password) < MIN_LENGTH:
        raise Invalid(f"a password has at least {MIN_LENGTH} characters")
    doc = {"_id": f"{tenant}/{username}", "tenant": tenant, "username": username, "fhir_user": fhir_user,
           "password": await hash_password(password), "disabled": False}
    if not await identity.add_user(doc):
        raise Conflict("this tenant already has a user of that name")
    return {"username": username, "tenant": tenant, "fhirUser": fhir_user}


LAUNCH_S = 3600


async def add_launch(identity: IdentityStore, *, tenant: str, patient: str, encounter: str | None = None,
                     client_id: str | None = None, ttl_s: int = LAUNCH_S) -> dict[str, Any]:
    """Issue an EHR launch parameter (SMART ``launch``) carrying a patient (and encounter) context, for one
    client when ``client_id`` is given (an EHR launches a given app)."""
    check_tenant(tenant)
    launch = secrets.token_urlsafe(24)
    await identity.add_launch(launch, {"tenant": tenant, "patient": patient, "encounter": encounter,
                                       "client_id": client_id}, ttl_s)
    return {"launch": launch, "tenant": tenant, "patient": patient, "encounter": encounter, "client_id": client_id,
            "expires_in": ttl_s}


DEMO_CLIENT = "demo-app"
DEMO_REDIRECTS = ["http://localhost:8080/callback", "http://127.0.0.1:8080/callback"]


async def add_demo(identity: IdentityStore, *, tenant: str, practitioner: str | None,
                   patient: str | None) -> dict[str, Any] | None:
    """The demo clinic's public SMART client and two logins (a practitioner's, a patient's) with fresh random
    passwords; None when the demo client exists already (the store was set up before)."""
    if await identity.client(DEMO_CLIENT) is not None:
        return None
    shown: dict[str, Any] = {"client": await add_client(identity, name="Demo SMART app", tenant=tenant,
                                                        redirect_uris=DEMO_REDIRECTS, public=True,
                                                        client_id=DEMO_CLIENT), "users": []}
    for username, fhir_user in (("demo-practitioner", f"Practitioner/{practitioner}" if practitioner else None),
                                ("demo-patient", f"Patient/{patient}" if patient else None)):
        if fhir_user is not None:
            password = secrets.token_urlsafe(12)
            await add_user(identity, username=username, password=password, fhir_user=fhir_user, tenant=tenant)
            shown["users"].append({"username": username, "password": password, "fhirUser": fhir_user})
    return shown


async def disable_client(identity: IdentityStore, *, client_id: str, tenant: str) -> bool:
    """Disable a client (seed 004): it gets no token any more, its refresh tokens are gone and every access
    token issued to it is refused by every instance within the revocation poll. False when unknown."""
    found = await identity.set_client(client_id, tenant, {"disabled": True})
    if found is None:
        return False
    await identity.drop_refresh(client_id=client_id)
    await identity.revoke("client", client_id, REVOCATION_TTL_S)
    return True


async def revoke_grant(identity: IdentityStore, *, client_id: str, tenant: str, username: str) -> None:
    """End a user's authorization of a client: its refresh tokens, and every access token it holds."""
    subject = f"{tenant}/{username}"
    await identity.drop_refresh(client_id=client_id, user=subject)
    await identity.drop_codes(client_id, subject)
    await identity.revoke("grant", f"{client_id} {subject}", REVOCATION_TTL_S)
