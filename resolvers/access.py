"""The store as one GraphQL operation's caller may use it: every call the resolvers and their DataLoaders make
asks the policy first and passes its decision's confinement to the store — the one chokepoint, so every root
field, relation and mutation is covered (a refusal is ``Forbidden``, ``FORBIDDEN`` in GraphQL).

The policy itself is the auth package's (auth/policy.py); resolvers never import it: the GraphQL door passes it
in as an ``Authorize`` (graph/schema.py), the shape below. Interactions: reads by id are ``read``, searches and
the reverse references of relations are ``search``, mutations ``create``/``update``/``delete``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol

from store.errors import Forbidden
from store.idempotency import Claim
from store.repository import Repository
from store.transactions import Entry, Outcome
from store.types import Confinement, Page, PrincipalLike, Resource, WriteResult

WRITES = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


class Decided(Protocol):
    """What the resolvers use of a decision: what the store confines the interaction to (None: nothing)."""

    @property
    def within(self) -> Confinement | None: ...


class Authorize(Protocol):
    """The policy: the decision for a principal's interaction on a resource type, or ``Forbidden``."""

    def __call__(self, principal: PrincipalLike, interaction: str, resource_type: str) -> Decided: ...


class Guarded:
    """The repository's read and write calls (the same signatures), each authorized first."""

    def __init__(self, repo: Repository, authorize: Authorize):
        self.repo = repo
        self.authorize = authorize

    def decision(self, principal: PrincipalLike, interaction: str, rt: str) -> Decided | None:
        """The decision, or None when refused (to leave out what the caller may not see)."""
        try:
            return self.authorize(principal, interaction, rt)
        except Forbidden:
            return None

    def _within(self, principal: PrincipalLike, interaction: str, rt: str) -> Confinement | None:
        return self.authorize(principal, interaction, rt).within

    async def read(self, principal: PrincipalLike, rt: str, rid: str) -> Resource:
        return await self.repo.read(principal, rt, rid, within=self._within(principal, "read", rt))

    async def read_many(self, principal: PrincipalLike, rt: str, ids: Iterable[str],
                        elements: tuple[str, ...] | None = None) -> dict[str, Resource]:
        return await self.repo.read_many(principal, rt, ids, within=self._within(principal, "read", rt),
                                         elements=elements)

    async def search(self, principal: PrincipalLike, rt: str, params: list[tuple[str, str]] | None = None,
                     **kw: Any) -> Page:
        def readable(t: str) -> Confinement | None:
            return self._within(principal, "read", t)

        return await self.repo.search(principal, rt, params, within=self._within(principal, "search", rt),
                                      within_of=readable, **kw)

    async def typeahead(self, principal: PrincipalLike, rt: str, words: list[str], fields: list[str],
                        params: list[tuple[str, str]] | None = None, **kw: Any) -> Page:
        return await self.repo.typeahead(principal, rt, words, fields, params,
                                         within=self._within(principal, "search", rt), **kw)

    async def count_by(self, principal: PrincipalLike, rt: str, by: str,
                       params: list[tuple[str, str]] | None = None) -> tuple[dict[str, int], int]:
        return await self.repo.count_by(principal, rt, by, params, within=self._within(principal, "search", rt))

    async def count(self, principal: PrincipalLike, rt: str, params: list[tuple[str, str]] | None = None) -> int:
        return await self.repo.count(principal, rt, params, within=self._within(principal, "search", rt))

    async def find_by_reference(self, principal: PrincipalLike, rt: str, param: str, refs: list[str],
                                params: list[tuple[str, str]] | None = None, **kw: Any
                                ) -> list[tuple[Resource, list[str]]]:
        return await self.repo.find_by_reference(principal, rt, param, refs, params,
                                                 within=self._within(principal, "search", rt), **kw)

    async def create(self, principal: PrincipalLike, resource: Resource, **kw: Any) -> WriteResult:
        rt = resource.get("resourceType") if isinstance(resource, dict) else None
        within = self._within(principal, "create", rt) if isinstance(rt, str) else None  # else the store's Invalid
        return await self.repo.create(principal, resource, within=within, **kw)

    async def update(self, principal: PrincipalLike, rt: str, rid: str, resource: Resource,
                     **kw: Any) -> WriteResult:
        return await self.repo.update(principal, rt, rid, resource, within=self._within(principal, "update", rt),
                                      **kw)

    async def delete(self, principal: PrincipalLike, rt: str, rid: str) -> WriteResult | None:
        return await self.repo.delete(principal, rt, rid, within=self._within(principal, "delete", rt))

    async def transaction(self, principal: PrincipalLike, entries: list[Entry]) -> list[Outcome]:
        """Several writes, all or nothing (``Repository.transaction``), each entry asked of the policy first."""
        guarded = [replace(e, within=self._within(principal, WRITES[e.method], e.rt)) for e in entries]
        return await self.repo.transaction(principal, guarded)

    async def claim_idempotency(self, principal: PrincipalLike, rt: str, key: str, fingerprint: str) -> Claim:
        """Reserve an idempotency key for a create of ``rt`` (store/idempotency.py); only for callers who may
        create ``rt``."""
        self.authorize(principal, "create", rt)
        return await self.repo.claim_idempotency(principal, key, fingerprint)

    async def complete_idempotency(self, principal: PrincipalLike, key: str, owner: str,
                                   response: dict[str, Any]) -> None:
        await self.repo.complete_idempotency(principal, key, owner, response)

    async def release_idempotency(self, principal: PrincipalLike, key: str, owner: str) -> None:
        await self.repo.release_idempotency(principal, key, owner)
