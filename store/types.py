"""Small shared types; imports nothing else from the package."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Resource = dict[str, Any]

# A tenant's name is the first part of every stored ``_id`` ("<tenant>/<type>/<id>") and of the keys built from
# it, so it may not hold a "/" (a tenant "a/Patient" would read tenant "a"'s ids) or anything else a key,
# regex or log line would have to escape.
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_tenant(name: str) -> str:
    """``name`` when it is a valid tenant name (``TENANT_NAME``), else ValueError."""
    if not isinstance(name, str) or not TENANT_NAME.fullmatch(name):
        raise ValueError("a tenant name is 1 to 64 ASCII letters, digits, '.', '_' or '-', starting with a "
                         "letter or digit")
    return name


class PrincipalLike(Protocol):
    """What the store needs of a caller: its tenant (clinic) and who it is, for provenance."""

    @property
    def tenant(self) -> str: ...

    @property
    def subject(self) -> str: ...


@dataclass(frozen=True)
class SystemPrincipal:
    """The system's own workers (relay, webhooks, loaders): the whole tenant, as ``system/*.*``."""

    tenant: str
    subject: str = "system"
    scopes: frozenset[str] = frozenset({"system/*.*"})
    patient: str | None = None


@dataclass(frozen=True)
class Slice:
    """One part of what a caller may see of a resource type: the Patient compartment of ``patient`` (None: not
    confined to one), and only resources matching every one of ``params`` (FHIR search parameters, as a SMART v2
    granular scope's ``?category=...`` names them; none: no such restriction)."""

    patient: str | None = None
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Confinement:
    """A store query option: only the resources at least one of ``any_of`` admits (none: nothing). The policy
    (auth/policy.py) decides it; the store applies it — a filter on searches, a check on reads by id and on
    writes. ``None`` where a query takes one means the whole tenant."""

    any_of: tuple[Slice, ...]


@dataclass
class Page:
    """One keyset page of a search. ``next_cursor`` is None on the last page; ``cursors[i]`` resumes after
    ``resources[i]``."""

    resources: list[Resource]
    cursors: Sequence[str] = field(default_factory=list)  # store/search.py RowCursors: encoded when read
    next_cursor: str | None = None
    prev_cursor: str | None = None
    total: int | None = None
    included: list[Resource] = field(default_factory=list)
    # Search parameters actually applied (for the Bundle's self link).
    applied: list[tuple[str, str]] = field(default_factory=list)
    # Asked for as JSON (Repository.search ``as_json``): each row as a store/fragments.py ``Stored`` (its resource's
    # JSON, resourceType and id) instead of ``resources`` (left empty).
    json: list[Any] | None = None


@dataclass
class WriteResult:
    resource: Resource
    created: bool
    event_seq: int | None = None


@dataclass(frozen=True)
class TenantResource:
    """A resource with its tenant and its sealed (secret) values: what the store hands the system's own
    cross-tenant workers (webhook delivery), never a door."""

    tenant: str
    resource: Resource
    sealed: dict[str, str]
