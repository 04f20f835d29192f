"""Per-request DataLoaders (DESIGN.md decision 10): one store call per (loader, depth), whatever the list sizes.

Two shapes: ``by id`` loaders batch ``Repository.read_many``; ``by reference`` loaders batch the reverse
references of many parents into one ``Repository.find_by_reference`` and group the rows per parent. Every
batch function returns one result per key, in key order (None / [] for a key with nothing).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar, cast

from strawberry.dataloader import DataLoader

from resolvers.access import Guarded
from resolvers.duplicate import Signals, load_duplicates
from store.errors import NotFound
from store.fhirjson import code_of
from store.naming import CS
from store.types import PrincipalLike, Resource

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
# What a relation resolver returns: the value at once when its batch is already loaded (graphql-core then
# completes it on its synchronous path), else an awaitable of it.
Soon: TypeAlias = T | Awaitable[T]

# Per-parent rows a reverse loader brings back in one call; generous, since a page of 100 patients with
# years of history easily reaches thousands of observations.
REVERSE_LIMIT = 50_000


def load_by_id(repo: Guarded, principal: PrincipalLike, rt: str, elements: tuple[str, ...] | None = None
               ) -> Callable[[list[str]], Awaitable[list[Resource | None]]]:
    async def batch(ids: list[str]) -> list[Resource | None]:
        found = await repo.read_many(principal, rt, ids, elements=elements)
        return [found.get(i) for i in ids]

    return batch


def load_by_reference(repo: Guarded, principal: PrincipalLike, rt: str, param: str, target: str,
                      params: list[tuple[str, str]] | None = None
                      ) -> Callable[[list[str]], Awaitable[list[list[Resource]]]]:
    """Batch: every ``rt`` whose ``param`` references ``<target>/<key>``, grouped per key."""

    async def batch(ids: list[str]) -> list[list[Resource]]:
        refs = [f"{target}/{i}" for i in ids]
        rows = await repo.find_by_reference(principal, rt, param, refs, params, limit=REVERSE_LIMIT)
        grouped: dict[str, list[Resource]] = {r: [] for r in refs}
        for resource, matched in rows:
            for ref in matched:
                grouped[ref].append(resource)
        return [grouped[r] for r in refs]

    return batch


def load_by_code(repo: Guarded, principal: PrincipalLike, rt: str, param: str, system: str,
                 code_of: Callable[[Resource], str | None]) -> Callable[[list[str]], Awaitable[list[list[Resource]]]]:
    """Batch: every ``rt`` whose token ``param`` is ``system|<key>``, in one search, grouped per key by
    ``code_of`` (an org catalog by its kind: small lists, read whole)."""

    async def batch(codes: list[str]) -> list[list[Resource]]:
        page = await repo.search(principal, rt, [(param, ",".join(f"{system}|{c}" for c in codes))],
                                 count=REVERSE_LIMIT)
        grouped: dict[str, list[Resource]] = {c: [] for c in codes}
        for resource in page.resources:
            code = code_of(resource)
            if code in grouped:
                grouped[code].append(resource)
        return [grouped[c] for c in codes]

    return batch


class Loaders:
    """The DataLoaders of one request. Names follow ``<things>_by_<key>``."""

    def __init__(self, repo: Guarded, principal: PrincipalLike):
        def by_id(rt: str) -> DataLoader[str, Resource | None]:
            return DataLoader(load_fn=load_by_id(repo, principal, rt))

        def by_ref(rt: str, param: str, target: str = "Patient",
                   params: list[tuple[str, str]] | None = None) -> DataLoader[str, list[Resource]]:
            return DataLoader(load_fn=load_by_reference(repo, principal, rt, param, target, params))

        self.patients_by_id = by_id("Patient")
        # Patients as a list of names shows them: their id and names only (resolvers/family.py), a tenth of the bytes.
        self.patient_names_by_id: DataLoader[str, Resource | None] = DataLoader(
            load_fn=load_by_id(repo, principal, "Patient", ("name",)))
        self.practitioners_by_id = by_id("Practitioner")
        self.locations_by_id = by_id("Location")
        self.appointments_by_id = by_id("Appointment")
        self.encounters_by_id = by_id("Encounter")
        self.episodes_by_id = by_id("EpisodeOfCare")
        self.medication_orders_by_id = by_id("MedicationRequest")
        # Org catalog entries and referral attributions (resolvers/catalog.py, resolvers/referral.py)
        self.basics_by_id = by_id("Basic")
        self.catalogs_by_kind: DataLoader[str, list[Resource]] = DataLoader(load_fn=load_by_code(
            repo, principal, "Basic", "code", CS["catalog"], lambda r: code_of(r.get("code"), CS["catalog"])))
        self.attributions_by_patient = by_ref("Basic", "subject",
                                              params=[("code", f"{CS['catalog']}|referral-attribution")])
        self.organizations_by_id = by_id("Organization")

        self.allergies_by_patient = by_ref("AllergyIntolerance", "patient")
        self.conditions_by_patient = by_ref("Condition", "patient")
        self.medications_by_patient = by_ref("MedicationStatement", "patient")
        self.observations_by_patient = by_ref("Observation", "patient",
                                              params=[("category", "vital-signs,social-history")])
        self.flags_by_patient = by_ref("Flag", "patient")
        self.episodes_by_patient = by_ref("EpisodeOfCare", "patient")
        self.appointments_by_patient = by_ref("Appointment", "patient")
        self.encounters_by_patient = by_ref("Encounter", "patient")
        self.documents_by_patient = by_ref("DocumentReference", "patient")
        self.communications_by_patient = by_ref("Communication", "patient")
        self.accounts_by_subject = by_ref("Account", "subject")
        self.accounts_by_guarantor = by_ref("Account", "guarantor")
        self.relations_by_patient = by_ref("RelatedPerson", "patient")
        self.relations_by_related_patient = by_ref("RelatedPerson", "related-patient")
        self.duplicates_by_signals: DataLoader[Signals, list[Resource]] = DataLoader(
            load_fn=load_duplicates(repo, principal))
        # GraphQL nodes already built from a loaded resource version, per request: a resource reached many
        # times (a practitioner of 1,000 appointments, a family member) is mapped once.
        self.nodes: dict[tuple[str, str, str | None], Any] = {}

    def prime(self, loader: DataLoader[str, Any], key: str, value: Any) -> None:
        """After a write: later loads of ``key`` in this request see the new version."""
        loader.prime(key, value, force=True)

    def forget(self, loader: DataLoader[str, Any], key: str) -> None:
        """After a write that changes a per-parent list: later loads of ``key`` in this request read it again."""
        if loader.cache_map.get(key) is not None:
            loader.clear(key)


MISSING: Any = object()


def node_of(loaders: Loaders, res: Resource, build: Callable[[Resource], T]) -> T:
    """The record of ``res`` built by ``build``, once per resource version and request."""
    key = (res["resourceType"], res["id"], (res.get("meta") or {}).get("versionId"))
    found = loaders.nodes.get(key)
    if found is None:
        found = loaders.nodes[key] = build(res)
    return cast(T, found)


def ready(loader: DataLoader[Any, Any], key: Any) -> Any:
    """The value of ``key`` when the loader already finished loading it, else ``MISSING``.

    Lets a relation resolve synchronously once its batch is in: graphql-core then completes the value on its
    synchronous path, with no coroutine, task or gather of its own."""
    fut = loader.cache_map.get(key)
    if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
        return fut.result()
    return MISSING


def when_loaded(loader: DataLoader[K, V], key: K, build: Callable[[V], T]) -> Soon[T]:
    """``build`` of the value of ``key``: at once when the loader already has it, else an awaitable of it after
    the (batched) load — the shape of every relation resolver."""
    value = ready(loader, key)
    if value is MISSING:
        return _after(loader.load(key), build)
    return build(value)


async def _after(load: Awaitable[V], build: Callable[[V], T]) -> T:
    return build(await load)


async def settle(value: Any) -> Any:
    """For async callers of resolvers that may answer synchronously."""
    if inspect.isawaitable(value):
        return await value
    return value


async def settle_found(value: Any, what: str, rid: str, field: str = "id") -> Any:
    """``settle`` for a look-up by id (a root query's): the record, or ``NotFound`` naming the argument ``field``
    when there is none the caller can see."""
    found = await settle(value)
    if found is None:
        raise NotFound(f"{what} {rid} not found", field=field)
    return found
