"""The authorization server as one service: its parts, SMART's checks around authlib's authorization request,
the launch context a sign-in yields, and the discovery documents. Built by the composition root's lifespan."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from starlette.requests import Request as HttpRequest

from auth.authenticator import Authenticator
from auth.models import INTROSPECT_SCOPE, Client, GrantUser
from auth.registry import ADMIN_SCOPE
from auth.scopes import CONTEXT_SCOPES
from auth.server import Lifetimes, Request, SmartServer
from auth.signing import Signer
from auth.tokens import AccessTokens, RevocationWatcher
from store.errors import NotFound
from store.fhirjson import ref_id
from store.identity import IdentityStore, digest
from store.repository import Repository
from store.types import SystemPrincipal

TICKET_S = 600

CAPABILITIES = [
    "launch-standalone", "launch-ehr", "client-public", "client-confidential-symmetric",
    "client-confidential-asymmetric", "context-standalone-patient", "context-ehr-patient", "context-ehr-encounter",
    "permission-offline", "permission-online", "permission-patient", "permission-user", "permission-v1",
    "permission-v2", "sso-openid-connect", "authorize-post",
]


@dataclass
class Checked:
    """An authorization request that passed every check: what the consent page offers."""

    grant: Any
    client: Client
    scopes: list[str]
    launch: dict[str, Any] | None


class OAuth:
    def __init__(self, *, identity: IdentityStore, signer: Signer, tokens: AccessTokens, repo: Repository,
                 authenticator: Authenticator, lifetimes: Lifetimes, watcher: RevocationWatcher,
                 max_failures: int = 5, lockout_s: int = 900, jwks_allow_private: bool = False):
        self.identity = identity
        self.signer = signer
        self.tokens = tokens
        self.repo = repo
        self.authenticator = authenticator
        self.watcher = watcher
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.server = SmartServer(identity, tokens, lifetimes, asyncio.get_running_loop(),
                                  jwks_allow_private=jwks_allow_private)

    def origin(self, request: HttpRequest) -> str:
        return self.authenticator.origin(request.url.scheme, request.scope.get("headers", ()))

    async def check_authorization(self, req: Request, origin: str) -> Checked:
        """authlib's validation (client, exact redirect URI, response type, registered scopes, PKCE S256), then
        SMART's: ``aud`` must name this FHIR server and a ``launch`` must be one this server issued for the
        client's clinic. Raises the OAuth error (a redirect to the client once its redirect URI is known)."""
        grant = await self.server.run(self.server.get_consent_grant, req, None)
        client: Client = grant.client
        state = req.payload.state
        aud = (req.payload.data.get("aud") or "").rstrip("/")
        if aud not in self.authenticator.audiences(origin):
            raise InvalidRequestError("'aud' must be this server's FHIR base URL", state=state,
                                      redirect_uri=grant.redirect_uri)
        launch = None
        if req.payload.data.get("launch"):
            launch = await self.identity.launch(req.payload.data["launch"][:256])
            if launch is None or launch["tenant"] != client.tenant or launch.get("client_id") not in (
                    None, client.client_id):
                raise InvalidRequestError("Unknown or expired 'launch'", state=state,
                                          redirect_uri=grant.redirect_uri)
        return Checked(grant, client, str(req.scope or "").split(), launch)

    def ticket(self, user_id: str, client_id: str, request: str) -> str:
        """Proof, carried by the consent form, that this user signed in for this request moments ago."""
        now = int(time.time())
        return self.signer.sign({"typ": "sign-in", "sub": user_id, "cid": client_id,
                                 "req": digest(request), "iat": now, "exp": now + TICKET_S})

    def read_ticket(self, ticket: str, client_id: str, request: str) -> str | None:
        claims = self.signer.verify(ticket) if ticket and len(ticket) < 4096 else None
        if (claims is None or claims.get("typ") != "sign-in" or claims.get("cid") != client_id
                or claims.get("req") != digest(request) or not isinstance(claims.get("exp"), int)
                or claims["exp"] <= time.time()):
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) else None

    def needs_picker(self, checked: Checked, user: dict[str, Any]) -> bool:
        return ("launch/patient" in checked.scopes and checked.launch is None
                and str(user.get("fhir_user", "")).startswith("Practitioner/"))

    async def patients(self, tenant: str, count: int, name: str = "") -> list[tuple[str, str]]:
        """The picker's choices: the tenant's patients by family name, the first ``count``, or those whose name
        starts with ``name`` (FHIR ``name`` search) when the user searched."""
        params = [("name", name.strip()[:64])] if name.strip() else []
        page = await self.repo.search(SystemPrincipal(tenant), "Patient", params, count=count, sort="family")
        return [(str(p["id"]), _label(p)) for p in page.resources]

    @staticmethod
    def offered(checked: Checked, user: dict[str, Any]) -> list[str]:
        """The scopes a user may grant this request: never ``system/`` (backend services), the admin scope or
        ``introspect`` (a registration's permission, never a token's) in a sign-in, and ``user/`` — the whole
        clinic — only for a Practitioner; a Patient or RelatedPerson grants at most their patient's compartment."""
        practitioner = str(user.get("fhir_user", "")).startswith("Practitioner/")
        return [s for s in checked.scopes
                if not s.startswith("system/") and s not in (ADMIN_SCOPE, INTROSPECT_SCOPE)
                and (practitioner or not s.startswith("user/"))]

    async def context(self, checked: Checked, user: dict[str, Any], approved: list[str],
                      picked: str | None) -> GrantUser | None:
        """The launch context of the tokens: the EHR launch's, the user's own patient, a RelatedPerson's
        patient, or the patient a practitioner picked (None: the picker must be answered first)."""
        tenant, fhir_user = checked.client.tenant, str(user["fhir_user"])
        patient = encounter = None
        wants_patient = "launch/patient" in approved or "launch" in approved
        if checked.launch is not None and "launch" in approved and not fhir_user.startswith("Patient/"):
            patient, encounter = checked.launch.get("patient"), checked.launch.get("encounter")
        elif fhir_user.startswith("Patient/"):
            patient = fhir_user.partition("/")[2]
        elif fhir_user.startswith("RelatedPerson/") and wants_patient:
            try:
                related = await self.repo.read(SystemPrincipal(tenant), "RelatedPerson", fhir_user.partition("/")[2])
                patient = ref_id(related.get("patient"), "Patient")
            except NotFound:
                patient = None
        elif "launch/patient" in approved:
            if not picked or len(picked) > 64:
                return None
            try:
                await self.repo.read(SystemPrincipal(tenant), "Patient", picked)
            except NotFound:
                return None
            patient = picked
        return GrantUser(tenant=tenant, subject=str(user["_id"]), fhir_user=fhir_user, patient=patient,
                         encounter=encounter)

    def smart_configuration(self, origin: str) -> dict[str, Any]:
        auth = origin + "/auth"
        return {
            "issuer": auth, "jwks_uri": f"{auth}/jwks",
            "authorization_endpoint": f"{auth}/authorize", "token_endpoint": f"{auth}/token",
            "introspection_endpoint": f"{auth}/introspect", "revocation_endpoint": f"{auth}/revoke",
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic",
                                                      "client_secret_post", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS256", "ES256"],
            "scopes_supported": [*sorted(CONTEXT_SCOPES), "patient/*.rs", "patient/*.cruds", "user/*.rs",
                                 "user/*.cruds", "system/*.rs", "system/*.cruds", "patient/*.read",
                                 "patient/*.write", "user/*.read", "user/*.write", "system/*.read",
                                 "system/*.write", "system/*.*"],
            "capabilities": CAPABILITIES,
        }

    def openid_configuration(self, origin: str) -> dict[str, Any]:
        smart = self.smart_configuration(origin)
        keep = ("issuer", "jwks_uri", "authorization_endpoint", "token_endpoint", "introspection_endpoint",
                "revocation_endpoint", "grant_types_supported", "response_types_supported",
                "code_challenge_methods_supported", "token_endpoint_auth_methods_supported", "scopes_supported")
        return {**{k: smart[k] for k in keep}, "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"]}


def _label(patient: dict[str, Any]) -> str:
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    given = " ".join(g for g in name.get("given", []) if isinstance(g, str))
    text = ", ".join(p for p in (str(name.get("family") or ""), given) if p) or f"Patient {patient.get('id')}"
    born = patient.get("birthDate")
    return f"{text} ({born})" if born else text
