"""The one policy (DESIGN.md decision 12): may this principal do this interaction on this resource type, and
inside what? Every door asks ``authorize`` and passes the decision's ``within`` to the store, which applies it
(a filter on searches, a check on reads and writes: store/confinement.py); a refusal is ``Forbidden``, which each
door renders in its own shape (403 + ``WWW-Authenticate: Bearer error="insufficient_scope"``, ``FORBIDDEN``,
``{"error": {"message"}}``).

Interactions are SMART's (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html): ``create``,
``read`` (also vread and an instance's history), ``update`` (also patch), ``delete``, ``search`` (also a type's
history). It runs on every request: one cached table lookup per call once a scope set has been seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from auth.scopes import INTERACTIONS, LETTERS, NAMED_ONLY, Grants, grants_for, grants_operation
from store.confinement import has_compartment
from store.errors import Forbidden
from store.params import SUPPORTED_TYPES
from store.types import Confinement, PrincipalLike, Slice


@dataclass(frozen=True, slots=True)
class Decision:
    """A granted interaction: ``within`` is what the store confines it to (None: the whole tenant); ``patient``
    the compartment it is confined to (None: not confined to one patient's); ``filters`` the parameter sets of
    SMART v2 granular scopes, any one of which a resource must match (empty: no such restriction)."""

    interaction: str
    resource_type: str
    within: Confinement | None
    patient: str | None = None
    filters: tuple[tuple[tuple[str, str], ...], ...] = ()


# Clients may append to the audit trail only with a scope naming it (an import from another system): system/*.*
# (API keys, the trial default) does not (seed 000: the trail is the clinic's, immutable).
AUDIT_WRITERS = frozenset({"system/AuditEvent.c", "system/AuditEvent.write", "system/AuditEvent.cruds",
                           "system/AuditEvent.*"})
AUDIT_REFUSAL = "insufficient_scope: writing AuditEvents requires system/AuditEvent.c (wildcards do not grant it)"


def authorize(principal: PrincipalLike, interaction: str, resource_type: str) -> Decision:
    """The decision for ``principal`` doing ``interaction`` on ``resource_type``, or ``Forbidden`` naming the
    scope that would grant it. A principal carrying no scopes is granted nothing."""
    scopes: frozenset[str] = getattr(principal, "scopes", None) or frozenset()
    patient: str | None = getattr(principal, "patient", None)
    table = _table(scopes, patient)
    found = table.get((interaction, resource_type))
    if found is None:  # a type the server does not keep (the store answers 404) or an unknown interaction
        found = _decide(grants_for(scopes, patient), interaction, resource_type)
        if len(table) < _TABLE_MAX:  # remembered too, within a bound: the client chooses these names
            table[(interaction, resource_type)] = found
    if isinstance(found, str):
        raise Forbidden(found)
    return found


# Decisions one scope set's table holds: every supported (interaction, type), then this many others.
_TABLE_MAX = len(INTERACTIONS) * len(SUPPORTED_TYPES) + 2 + 256


def may(principal: PrincipalLike, interaction: str, resource_type: str) -> Decision | None:
    """``authorize`` without the exception: None when refused (to filter what a caller may not see)."""
    try:
        return authorize(principal, interaction, resource_type)
    except Forbidden:
        return None


@lru_cache(maxsize=4096)
def _table(scopes: frozenset[str], patient: str | None) -> dict[tuple[str, str], Decision | str]:
    # Every (interaction, supported type) decided at once, the first time a scope set is seen: later calls
    # are a dict lookup. Refusals are kept as their message.
    grants = grants_for(scopes, patient)
    table = {(i, rt): _decide(grants, i, rt) for i in INTERACTIONS for rt in SUPPORTED_TYPES}
    if not scopes & AUDIT_WRITERS:  # the audit trail is the server's own: wildcards never write to it
        for interaction in ("create", "update"):
            table[(interaction, "AuditEvent")] = AUDIT_REFUSAL
    return table


def _decide(grants: Grants, interaction: str, rt: str) -> Decision | str:
    if interaction not in LETTERS:
        return f"insufficient_scope: unknown interaction {interaction[:20]}"
    slices = grants.slices(interaction, rt)
    if not slices:
        return _refusal(grants, interaction, rt)
    if slices == (Slice(),):
        return Decision(interaction, rt, None)
    patients = {s.patient for s in slices}
    patient = next(iter(patients)) if len(patients) == 1 else None
    filters = tuple(s.params for s in slices if s.params) if all(s.params for s in slices) else ()
    return Decision(interaction, rt, Confinement(slices), patient, filters)


def _refusal(grants: Grants, interaction: str, rt: str) -> str:
    letter = LETTERS[interaction]
    levels: tuple[str, ...] = ("patient", "user") if grants.patient is not None else ("user", "system")
    # The scope family the caller holds first: a system client is told system/Patient.c, not user/ first.
    held = {s.level for s in grants.scopes}
    levels = tuple(sorted(levels, key=lambda level: level not in held))
    message = f"insufficient_scope: {interaction} of {rt} requires " + " or ".join(
        f"{level}/{rt}.{letter}" for level in levels)
    if rt in NAMED_ONLY:
        message += f" (a patient/* or user/* scope does not grant {rt}: only one naming it, or system/*)"
    elif grants.would_need_compartment(interaction, rt):
        if grants.patient is None:
            message += " (a patient/ scope needs a launch patient)"
        elif not has_compartment(rt):
            message += f" ({rt} is in no patient compartment: a patient/ scope cannot grant it)"
    return message



# ---------------------------------------------------------------------------------------------- Bulk Data


def authorize_export(principal: PrincipalLike, level: str, types: list[str], asked: bool) -> tuple[list[str], str]:
    """Bulk Data kick-off (``level``: system, Patient or Group): the ``types`` the caller may export and how it
    was granted — ``"operation"`` by seed 004's operation scope (``system/*.$export``; ``system/Patient.$export``
    or ``system/Group.$export`` for those levels), every type; else ``"resources"``, the SMART equivalent the Bulk
    Data IG names: search of each type over the whole tenant (a confined scope grants no export of it).
    ``asked``: the client named the types (``_type``), so one it may not export is ``Forbidden``; otherwise
    those are left out. ``Forbidden`` when nothing remains."""
    scopes: frozenset[str] = getattr(principal, "scopes", None) or frozenset()
    if grants_operation(scopes, "export", "*" if level == "system" else level):
        return types, "operation"
    allowed = [rt for rt in types if (d := may(principal, "search", rt)) is not None and d.within is None]
    if asked and len(allowed) < len(types):
        refused = next(rt for rt in types if rt not in allowed)
        raise Forbidden(f"insufficient_scope: exporting {refused} requires system/{refused}.rs (or "
                        f"system/*.$export)")
    if not allowed:
        raise Forbidden("insufficient_scope: an export requires system/*.$export or system/<type>.rs scopes")
    return allowed, "resources"


def job_owner(principal: PrincipalLike) -> str:
    """Who a background job (an export) belongs to: the client (or API key subject) that asked for it."""
    client = getattr(principal, "client_id", None)
    return f"client:{client}" if client else f"subject:{principal.subject}"


def authorize_job(principal: PrincipalLike, owner: str, granted: str, operation: str) -> None:
    """A Bulk Data status request (``operation`` ``bulkdata-status``) or file download (``download``) on a job:
    only its owner, with seed 004's scope for it (``system/*.$bulkdata-status``; ``system/Document.read`` for
    files) unless the job was granted by resource scopes (the Bulk Data IG: the token that kicked it off suffices).
    Anything else is ``NotFound`` to the caller: another client's job is not revealed."""
    from store.errors import NotFound

    if job_owner(principal) != owner:
        raise NotFound("No such export job")
    if granted == "resources":
        return
    scopes: frozenset[str] = getattr(principal, "scopes", None) or frozenset()
    if operation == "download":
        if may(principal, "read", "Binary") is None and not _scope_in(scopes, "Document.read", "Document.r",
                                                                      "Document.rs", "*.read", "*.rs", "*.*"):
            raise Forbidden("insufficient_scope: downloading export files requires system/Document.read")
        return
    if not grants_operation(scopes, "bulkdata-status", "*"):
        raise Forbidden("insufficient_scope: export status requires system/*.$bulkdata-status")


def _scope_in(scopes: frozenset[str], *tails: str) -> bool:
    return any(f"{level}/{tail}" in scopes for level in ("system", "user") for tail in tails)
