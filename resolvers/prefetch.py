"""A page of patients' relations loaded before graphql-core walks the page: then every relation resolver finds its
batch loaded and answers synchronously (resolvers/loaders.py ``when_loaded``), where each patient's unloaded
fields were coroutines that graphql-core ran as tasks and gathered (~450 tasks per 50-patient chart).

Only loads, in the waves the resolvers' own loads make (the patients' lists; their guarantors' accounts; the
family members' flags and names and the appointments' practitioners), through the same per-request DataLoaders
with the same keys: a resolver then reads what it would have loaded itself, and a failed batch fails the fields
that read it as before (the DataLoader keeps the failure; nothing is raised here). What is prefetched follows the
page's selection (``Wanted``); a relation not prefetched is loaded by its resolver as ever."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any

from strawberry.types.nodes import SelectedField

from resolvers import family as family_r
from resolvers.context import Scope
from resolvers.loaders import MISSING, ready
from store.fhirjson import parse_reference, ref_id


@dataclass(frozen=True)
class Wanted:
    """The relations of a page's patients that its selection reads."""

    summary: bool = False  # medicalSummary: the clinical lists, the family's accounts and flags
    family: bool = False  # family: accounts, relationships, the members (``names``: for their names only)
    names: bool = False
    episodes: bool = False
    appointments: bool = False  # appointments, or an episode's
    practitioners: bool = False  # an appointment's practitioner
    observations: bool = False  # the vital signs' lists

    def __bool__(self) -> bool:
        return self.summary or self.family or self.episodes or self.appointments or self.observations


# The patient fields read from the patient's observations alone (resolvers/vital_signs.py).
OBSERVED = frozenset({"vitalSigns", "vitalSignsPage", "latestVitalsDate"})


def wanted(selections: Iterable[Any]) -> Wanted:
    """What the selections of a patient node (strawberry ``SelectedField``s) read; nothing when a fragment is
    among them (not looked into: its relations load as they resolve)."""
    found = _fields(selections)
    if found is None:
        return Wanted()
    family = _fields(getattr(found.get("family"), "selections", ())) or {}
    names = all(_names_only(getattr(family[k], "selections", ())) for k in ("guarantor", "members") if k in family)
    appointments = _fields(_deep(found.get("appointments"), "edges", "node")) or {}
    episode = _fields(_deep(found.get("episodes"), "edges", "node")) or {}
    episode_appointments = _fields(_deep(episode.get("appointments"), "edges", "node")) or {}
    return Wanted(summary="medicalSummary" in found, family="family" in found, names=names,
                  episodes="episodes" in found, appointments="appointments" in found or "appointments" in episode,
                  practitioners="practitioner" in appointments or "practitioner" in episode_appointments,
                  observations=not OBSERVED.isdisjoint(found))


def _fields(selections: Iterable[Any]) -> dict[str, SelectedField] | None:
    """The fields among ``selections`` by name; None when one is a fragment."""
    found: dict[str, SelectedField] = {}
    for s in selections:
        if not isinstance(s, SelectedField):
            return None
        found[s.name] = s
    return found


def _deep(field: SelectedField | None, *path: str) -> list[Any]:
    """The selections of the field at ``path`` under ``field`` (none when it is not selected)."""
    for name in path:
        field = next((s for s in field.selections if isinstance(s, SelectedField) and s.name == name),
                     None) if field is not None else None
    return field.selections if field is not None else []


def selections(fields: list[Any], *path: str) -> list[Any]:
    """The selections at ``path`` under the resolved field (``info.selected_fields``: the field itself)."""
    return _deep(fields[0], *path) if len(fields) == 1 and isinstance(fields[0], SelectedField) else []


def _names_only(selections: Iterable[Any]) -> bool:
    return all(isinstance(s, SelectedField) and s.name in family_r.NAME_FIELDS for s in selections)


async def prefetch(ctx: Scope, pids: list[str], want: Wanted) -> None:
    """Load what the relations ``want`` of patients ``pids`` read, wave by wave."""
    if not pids or not want:
        return
    loaders = ctx.loaders
    first: list[Awaitable[Any]] = []
    if want.summary:
        first += [loaders.allergies_by_patient.load_many(pids), loaders.medications_by_patient.load_many(pids),
                  loaders.conditions_by_patient.load_many(pids)]
    if want.summary or want.observations:
        first.append(loaders.observations_by_patient.load_many(pids))
    if want.summary or want.family:
        first.append(loaders.accounts_by_subject.load_many(pids))
    if want.family:
        first += [loaders.relations_by_patient.load_many(pids), loaders.relations_by_related_patient.load_many(pids)]
    if want.episodes:
        first.append(loaders.episodes_by_patient.load_many(pids))
    if want.appointments:
        first.append(loaders.appointments_by_patient.load_many(pids))
    await asyncio.gather(*first, return_exceptions=True)
    if want.summary or want.family:
        guarantors = [gid for pid in pids for acc in _loaded(loaders.accounts_by_subject, pid)
                      for g in acc.get("guarantor") or () if (gid := ref_id(g.get("party"), "Patient"))]
        await asyncio.gather(loaders.accounts_by_guarantor.load_many(list(dict.fromkeys(guarantors))),
                             return_exceptions=True)
    last: list[Awaitable[Any]] = []
    families = {pid: ids for pid in pids if (ids := family_r.family_member_ids_ready(ctx, pid)) is not MISSING}
    if want.summary:
        last.append(loaders.flags_by_patient.load_many(list(dict.fromkeys(
            k for pid, ids in families.items() for k in (pid, *ids)))))
    if want.family:
        members = list(dict.fromkeys(m for ids in families.values() for m in sorted(ids)))
        if want.names:
            last.append(loaders.patient_names_by_id.load_many(
                [m for m in members if ready(loaders.patients_by_id, m) is MISSING]))
        else:
            last.append(loaders.patients_by_id.load_many(members))
    if want.practitioners:
        last.append(loaders.practitioners_by_id.load_many(list(dict.fromkeys(
            p[1] for pid in pids for res in _loaded(loaders.appointments_by_patient, pid)
            for part in res.get("participant") or ()
            if (p := parse_reference(part.get("actor") or {})) is not None and p[0] == "Practitioner"))))
    await asyncio.gather(*last, return_exceptions=True)


def _loaded(loader: Any, key: str) -> list[Any]:
    found = ready(loader, key)
    return [] if found is MISSING else list(found)
