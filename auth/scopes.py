"""SMART on FHIR scopes: the grammar (App Launch v1 and v2, https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html)
and what a set of them grants, precomputed once per set (``grants_for``).

Resource scopes are ``<level>/<type>.<permissions>[?<param>=<value>&...]``:

- level ``patient`` (confined to the launch patient's compartment), ``user`` (what the user may see: the whole
  tenant here, until per-user access lands) or ``system`` (backend services: the whole tenant);
- type a FHIR resource type or ``*``;
- permissions v1 ``read`` (= ``rs``), ``write`` (= ``cud``), ``*`` (= ``cruds``), or v2 any non-empty subset of
  ``c r u d s`` in that order;
- a v2 scope may narrow itself with search parameters (granular scopes), e.g.
  ``patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory``.

The audit trail (``AuditEvent``, ``NAMED_ONLY``) is the clinic administrators' (seed 000): a ``patient/*`` or
``user/*`` wildcard does not cover it, only a scope naming it (``user/AuditEvent.rs``, ``system/AuditEvent.read``…)
or a ``system/*`` one (a clinic's own backend service or API key acts for the clinic).

``launch``, ``launch/patient``, ``launch/encounter``, ``openid``, ``fhirUser``, ``profile``, ``offline_access`` and
``online_access`` are valid and grant no data access. Anything else is invalid: ignored for grants (the
authorization server refuses it when asked, with ``is_valid``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

from store.confinement import has_compartment
from store.params import param_table
from store.types import Slice

# interaction → its SMART v2 permission letter
LETTERS = {"create": "c", "read": "r", "update": "u", "delete": "d", "search": "s"}
INTERACTIONS = tuple(LETTERS)
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
LEVELS = ("patient", "user", "system")
CONTEXT_SCOPES = frozenset({"launch", "launch/patient", "launch/encounter", "openid", "fhirUser", "profile",
                            "offline_access", "online_access"})

# Operation scopes (seed 004, Bulk Data as that EHR grants it): ``system/*.$export``, ``system/Group.$export``,
# ``system/Patient.$export``, ``system/*.$bulkdata-status``; ``$docref`` likewise. Valid; they grant the operation
# they name and no resource access (the SMART v2 equivalents are resource scopes: auth/policy.py).
_OPERATION = re.compile(r"(system|user)/(\*|[A-Z][A-Za-z]{0,63})\.\$(export|bulkdata-status|docref)", re.ASCII)
_SCOPE = re.compile(r"(patient|user|system)/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]{1,5})(?:\?(.{1,1000}))?", re.ASCII)
_V2 = re.compile(r"c?r?u?d?s?")
# Types a patient/ or user/ wildcard does not cover (module docstring): only a scope naming them, or system/*.
NAMED_ONLY = frozenset({"AuditEvent"})


@dataclass(frozen=True)
class ResourceScope:
    """One parsed resource scope: its level, type (``*`` for all), permission letters and granular parameters."""

    level: str
    type: str
    letters: frozenset[str]
    params: tuple[tuple[str, str], ...] = ()
    v2: bool = True

    def allows(self, interaction: str, rt: str) -> bool:
        return LETTERS[interaction] in self.letters and self.covers(rt)

    def covers(self, rt: str) -> bool:
        """Whether this scope's type covers ``rt``: its own, or ``*`` (but ``NAMED_ONLY`` types below system/)."""
        return self.type == rt or (self.type == "*" and (rt not in NAMED_ONLY or self.level == "system"))


def parse(scope: str) -> ResourceScope | str | None:
    """The resource scope ``scope`` spells; the string itself for a valid non-resource scope (``openid``…);
    None when it is not a valid SMART scope."""
    if scope in CONTEXT_SCOPES or _OPERATION.fullmatch(scope):
        return scope
    m = _SCOPE.fullmatch(scope)
    if m is None:
        return None
    level, rt, perms, query = m.groups()
    if perms in V1:
        if query is not None:  # granular parameters are a v2 feature
            return None
        return ResourceScope(level, rt, frozenset(V1[perms]), v2=False)
    if not _V2.fullmatch(perms):
        return None
    params: tuple[tuple[str, str], ...] = ()
    if query is not None:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            return None
        if not pairs or any(not name or not value for name, value in pairs):
            return None
        params = tuple(pairs)
    return ResourceScope(level, rt, frozenset(perms), params)


def grants_operation(scopes: frozenset[str], operation: str, rt: str) -> bool:
    """Whether ``scopes`` hold an operation scope for ``$operation`` on ``rt`` (or on ``*``)."""
    for scope in scopes:
        m = _OPERATION.fullmatch(scope)
        if m is not None and m.group(3) == operation and m.group(2) in ("*", rt):
            return True
    return False


def is_valid(scope: str) -> bool:
    """Whether ``scope`` is a scope this server understands (for the authorization server's requests)."""
    return parse(scope) is not None


def covered(scope: str, registered: list[str]) -> bool:
    """Whether ``scope`` asks for no more than ``registered`` grants (seed 004: never beyond the registration):
    the same scope, or a resource scope of the same level whose type, permissions and granular parameters a
    registered one covers (``patient/*.rs`` covers ``patient/Observation.r``; ``patient/*.read`` covers
    ``patient/Observation.rs``; ``user/*.rs`` does not cover ``user/AuditEvent.rs``: ``NAMED_ONLY``)."""
    if scope in registered:
        return True
    asked = parse(scope)
    if not isinstance(asked, ResourceScope):
        return False
    for item in registered:
        have = parse(item)
        if (isinstance(have, ResourceScope) and have.level == asked.level and have.covers(asked.type)
                and asked.letters <= have.letters and set(have.params) <= set(asked.params)):
            return True
    return False


def split(scopes: str) -> list[str]:
    """The scopes of an OAuth ``scope`` parameter (space-separated, RFC 6749 §3.3)."""
    return [s for s in scopes.split(" ") if s]


@lru_cache(maxsize=4096)
def resource_scopes(scopes: frozenset[str]) -> tuple[ResourceScope, ...]:
    """The valid resource scopes among ``scopes``, parsed once per set; invalid ones are ignored."""
    parsed = (parse(s) for s in sorted(scopes))
    return tuple(p for p in parsed if isinstance(p, ResourceScope))


# ---------------------------------------------------------------------------------------------- grants


@dataclass(frozen=True)
class Grants:
    """What one set of scopes grants a caller whose launch patient is ``patient``: per (interaction, type), the
    slices of the tenant it may act on (store/types.py ``Slice``) — none: not granted; one ``Slice()``: all of
    it. Immutable; built once per (scopes, patient) by ``grants_for``."""

    scopes: tuple[ResourceScope, ...]
    patient: str | None

    def slices(self, interaction: str, rt: str) -> tuple[Slice, ...]:
        found: list[Slice] = []
        for scope in self.scopes:
            if not scope.allows(interaction, rt):
                continue
            if scope.level == "patient":
                if self.patient is None or not has_compartment(rt):
                    continue  # a patient/ scope grants only inside a launch patient's compartment
                part = Slice(self.patient, scope.params)
            else:
                part = Slice(None, scope.params)
            if scope.params and not _has_params(rt, scope.params):
                continue  # granular parameters this type does not have: nothing of it matches
            if part == Slice():
                return (part,)
            found.append(part)
        # A slice without parameters admits everything a narrower one of the same patient would.
        whole = {s.patient for s in found if not s.params}
        return tuple(dict.fromkeys(s for s in found if not s.params or s.patient not in whole))

    def would_need_compartment(self, interaction: str, rt: str) -> bool:
        """Whether only patient/ scopes would grant this, had the type a compartment or the caller a patient."""
        return any(s.level == "patient" and s.allows(interaction, rt) for s in self.scopes)


def _has_params(rt: str, params: tuple[tuple[str, str], ...]) -> bool:
    table = param_table(rt)
    return all(name.partition(":")[0] in table for name, _ in params)


@lru_cache(maxsize=4096)
def grants_for(scopes: frozenset[str], patient: str | None) -> Grants:
    """The grants of a principal's scopes and launch patient (cached: the hot path never re-parses scopes)."""
    return Grants(resource_scopes(scopes), patient)
