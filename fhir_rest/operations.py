"""FHIR operations on resources: ``Patient/[id]/$everything`` and ``$validate`` (type and instance level).
Bulk Data is fhir_rest/bulk/, ``$docref`` fhir_rest/docref.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from auth.audit_doors import tell
from auth.policy import authorize
from fhir_rest import bundles
from fhir_rest.endpoints import base_url, page_count, read_body
from fhir_rest.outcomes import FhirResponse, operation_outcome
from fhir_rest.parameters import operation_parameters
from fhir_rest.services import services
from store.confinement import compartment_types
from store.errors import DomainError, Invalid, NotFound, TimedOut, TooManyRequests, Unavailable
from store.keys import date_range
from store.params import PARAMS
from store.types import Confinement, PrincipalLike, Resource

COMPARTMENT_TYPES = compartment_types()
# Left out unless _type names them: the server's own trail of who saw the record (as a Bulk Data export does).
NOT_BY_DEFAULT = frozenset({"AuditEvent"})
VALIDATION_MODES = ("create", "update", "delete")
EVERYTHING_PARAMS = ("_since", "_type", "_count", "_cursor", "_format")


def _principal(request: Request) -> PrincipalLike:
    principal: PrincipalLike = request.scope["auth"]
    return principal


# ---------------------------------------------------------------------------------------------- $everything


async def everything(request: Request) -> Response:
    """``GET|POST [base]/Patient/[id]/$everything`` (https://hl7.org/fhir/R4/patient-operation-everything.html): the
    patient's compartment (store/confinement.py ``COMPARTMENT``) as a searchset Bundle, the Patient first, paged
    with ``_count`` and ``next`` links; ``_since`` (changed at or after), ``_type`` (only these types; the audit
    trail, AuditEvent, only when named there). Each type
    is read under the caller's own scopes for it: one it may not search is left out, or refused when ``_type``
    names it. A POST takes them in a Parameters body (and the query string), as any operation."""
    pid = request.path_params["id"]
    principal, repo = _principal(request), services(request).repo
    given = await operation_parameters(request, "$everything")
    if "handling=strict" in request.headers.get("prefer", ""):  # otherwise unknown parameters are ignored
        for name, _ in given:
            if name not in EVERYTHING_PARAMS:
                raise Invalid(f"$everything does not take '{name[:40]}'", paths=[name[:40]])
    query: dict[str, list[str]] = {}
    for name, value in given:
        query.setdefault(name, []).append(value)
    patient = await repo.read(principal, "Patient", pid, within=authorize(principal, "read", "Patient").within)
    tell(request.scope, resource=patient)  # the audit trail records whose record it was
    asked = [t.strip() for v in query.get("_type", ()) for t in v.split(",") if t.strip()]
    for t in asked:
        if t not in COMPARTMENT_TYPES:
            raise Invalid(f"_type: {t[:64]} is not a type of the Patient compartment" if t in PARAMS else
                          f"_type: unknown resource type '{t[:64]}'", paths=["_type"])
        authorize(principal, "search", t)  # asked for by name: refused (403) rather than left out
    types = [t for t in COMPARTMENT_TYPES if (t in asked if asked else t not in NOT_BY_DEFAULT)]
    params: list[tuple[str, str]] = []
    since = next(iter(query.get("_since", ())), None)
    if since is not None:
        if date_range(since) is None or len(since) < 10:
            raise Invalid("_since must be a FHIR instant", paths=["_since"])
        params.append(("_lastUpdated", f"ge{since}"))
    count = page_count(request, next(iter(query.get("_count", ())), None))

    def within_of(t: str) -> Confinement | None:
        return authorize(principal, "read" if t == "Patient" else "search", t).within

    cursor = next(iter(query.get("_cursor", ())), None)
    page = await repo.compartment(principal, pid, types, params=params, count=count, cursor=cursor,
                                  within_of=within_of)
    echo: list[tuple[str, str]] = [("_count", str(count))]
    if since is not None:
        echo.append(("_since", since))
    if asked:
        echo.append(("_type", ",".join(types)))
    return FhirResponse(bundles.searchset(base_url(request), f"Patient/{pid}/$everything", page, params=echo,
                                          count=count))


# ---------------------------------------------------------------------------------------------- $validate

# Errors that mean the validation could not be performed (a 4xx/5xx), not that the content is invalid.
NOT_A_FINDING = (Unavailable, TimedOut, TooManyRequests)


async def validate(request: Request) -> Response:
    """``POST [base]/[type]/$validate`` and ``[base]/[type]/[id]/$validate``
    (https://hl7.org/fhir/R4/operation-resource-validate.html): the body is the resource, or a Parameters with
    ``resource``, ``mode`` (create, update, delete: the last two at the instance level) and ``profile``. The
    answer is an OperationOutcome, 200 whether or not the content is valid: the write path's own checks
    (store/validation.py, the confinement of the caller's scopes, the type's write guards), each offending
    element named in an issue's ``expression``. Nothing is written."""
    rt = request.path_params["type"]
    rid = request.path_params.get("id")
    if rt not in PARAMS:
        raise NotFound(f"Resource type {rt[:64]} is not supported by this server")
    body = await read_body(request)
    resource, mode, profile = _validate_parameters(body, rid)
    principal = _principal(request)
    # The interaction the validated write would be; a general validation, the one it is closest to.
    within = authorize(principal, mode or ("update" if rid else "create"), rt).within
    issues: list[dict[str, Any]] = []
    if profile:
        issues.append({"severity": "warning", "code": "not-supported",
                       "diagnostics": f"Profile {profile[:200]} was not checked: the content was validated "
                                      "against the base FHIR R4 definitions only"})
    try:
        await services(request).repo.validate(principal, rt, resource, mode=mode, rid=rid, within=within)
    except NOT_A_FINDING:
        raise
    except DomainError as exc:
        issues = [*operation_outcome(exc)["issue"], *issues]
    if not any(i["severity"] == "error" for i in issues):
        if resource is not None:
            tell(request.scope, resource=resource)  # the Patient the content is about, for the audit trail
        issues.insert(0, {"severity": "information", "code": "informational",
                          "diagnostics": "All OK" if mode is None else f"The {mode} would be accepted"})
    return FhirResponse({"resourceType": "OperationOutcome", "issue": issues})


def _validate_parameters(body: Any, rid: str | None) -> tuple[Resource | None, str | None, str | None]:
    """(resource, mode, profile) of a $validate body."""
    if body.get("resourceType") != "Parameters":
        return body, None, None
    resource = mode = profile = None
    for i, item in enumerate(body.get("parameter") or []):
        if not isinstance(item, dict):
            raise Invalid(f"Parameters.parameter[{i}] is not an object", paths=[f"Parameters.parameter[{i}]"])
        name = item.get("name")
        if name == "resource":
            resource = item.get("resource")
            if not isinstance(resource, dict):
                raise Invalid("The resource parameter holds no resource", paths=[f"Parameters.parameter[{i}]"])
        elif name == "mode":
            mode = item.get("valueCode")
            if mode not in VALIDATION_MODES:
                raise Invalid(f"mode takes {', '.join(VALIDATION_MODES)}", paths=[f"Parameters.parameter[{i}]"])
        elif name == "profile":
            profile = item.get("valueUri") or item.get("valueCanonical")
    if mode in ("update", "delete") and rid is None:
        raise Invalid(f"mode {mode} validates against a resource: use [type]/[id]/$validate", paths=["mode"])
    if mode == "create" and rid is not None:
        raise Invalid("mode create is validated at the type level: [type]/$validate", paths=["mode"])
    if resource is None and mode != "delete":
        raise Invalid("$validate needs the resource to validate (the body, or a resource parameter)",
                      paths=["resource"])
    return resource, mode, profile
