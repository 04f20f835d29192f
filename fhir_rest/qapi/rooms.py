"""qapi waiting rooms and appointment slots (seed 002): ``GET /waiting-rooms``, ``GET /appointment-slots``.

A waiting room is a FHIR HealthcareService (``name``, ``category`` = service line, ``type`` = service type, its
slot length in ``EXT["slot-duration"]``); its slots are the Slots of the Schedules whose actor it is. A slot is
offered only while it is free: booking one (an Appointment referencing it) makes it busy in the same write
(store/writes.py), and a double booking is refused by the store's unique index.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from fhir_rest.qapi.http import MAX_UNIX, allowed, instant_unix, reply, unix_instant
from fhir_rest.qapi.table import Op, Param
from fhir_rest.services import services
from store.errors import Invalid
from store.fhirjson import ext, text_of
from store.repository import Repository
from store.types import PrincipalLike, Resource

DEFAULT_DURATION_S = 900
MAX_DURATION_S = 86_400
MAX_RANGE_S = 92 * 86_400  # one slot search covers at most about a quarter
MAX_ROOMS = 1000
MAX_SLOTS = 2000
UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86_400}
LOOKUP_CACHE_S = 2.0
LOOKUP_CACHE_MAX = 10_000
T = TypeVar("T")


class _Lookups:
    """Waiting rooms by name and the schedules of a room, per tenant, remembered for ``LOOKUP_CACHE_S``: every
    appointment create asks both, and they change rarely. A write of a HealthcareService or Schedule through this
    process's store forgets its tenant's entries at once (``Repository.on_event``), one through another instance
    is seen within ``LOOKUP_CACHE_S``; a lookup that overlapped such a write is not remembered. Misses are never
    remembered (a room created a moment ago is found), nor lookups confined to a compartment."""

    def __init__(self, repo: Repository):
        self.entries: dict[tuple[str, str, str], tuple[float, Any]] = {}
        self.generation: dict[str, int] = {}
        repo.on_event.append(self._written)

    def _written(self, event: dict[str, Any]) -> None:
        if event.get("resourceType") in ("HealthcareService", "Schedule"):
            tenant = str(event.get("tenant"))
            self.generation[tenant] = self.generation.get(tenant, 0) + 1
            for key in [k for k in self.entries if k[0] == tenant]:
                del self.entries[key]

    async def get(self, tenant: str, kind: str, key: str, load: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        hit = self.entries.get((tenant, kind, key))
        if hit is not None and hit[0] > now:
            return hit[1]  # type: ignore[no-any-return]
        generation = self.generation.get(tenant, 0)
        value = await load()
        if value is not None and self.generation.get(tenant, 0) == generation:
            if len(self.entries) >= LOOKUP_CACHE_MAX:
                self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            if len(self.entries) < LOOKUP_CACHE_MAX:
                self.entries[(tenant, kind, key)] = (now + LOOKUP_CACHE_S, value)
        return value


_LOOKUPS: weakref.WeakKeyDictionary[Repository, _Lookups] = weakref.WeakKeyDictionary()


def _lookups(repo: Repository) -> _Lookups:
    found = _LOOKUPS.get(repo)
    if found is None:
        found = _LOOKUPS[repo] = _Lookups(repo)
    return found


def slot_seconds(room: Resource) -> int:
    """The waiting room's slot length in seconds (``DEFAULT_DURATION_S`` when it sets none)."""
    value = ext(room, "slot-duration")
    if isinstance(value, dict) and isinstance(value.get("value"), int | float):
        seconds = int(value["value"] * UNIT_SECONDS.get(str(value.get("code") or value.get("unit")), 60))
        if 1 <= seconds <= MAX_DURATION_S:
            return seconds
    return DEFAULT_DURATION_S


async def all_rooms(repo: Repository, principal: PrincipalLike, within: Any = None,
                    params: list[tuple[str, str]] | None = None) -> list[Resource]:
    out: list[Resource] = []
    after = None
    while len(out) < MAX_ROOMS:
        page = await repo.search(principal, "HealthcareService", params or [], count=100, after=after, sort="name",
                                 within=within)
        out.extend(page.resources)
        if not page.next_cursor:
            break
        after = page.next_cursor
    return out


async def room_by_name(repo: Repository, principal: PrincipalLike, name: str, within: Any = None) -> Resource:
    """The practice's waiting room named ``name`` (case-insensitively, the active one first)."""
    wanted = name.strip().casefold()

    async def load() -> Resource | None:
        # A FHIR string search is a prefix match on the folded name: the exact one is picked among its results.
        found = [r for r in await all_rooms(repo, principal, within, [("name", name.strip()[:200])])
                 if str(r.get("name") or "").strip().casefold() == wanted]
        found.sort(key=lambda r: r.get("active") is False)
        return found[0] if found else None

    room = await load() if within is not None else await _lookups(repo).get(principal.tenant, "room", wanted, load)
    if room is None:
        raise Invalid(f'Waiting room "{name[:100]}" not found', field="waitingRoom")
    return room


async def schedules_of(repo: Repository, principal: PrincipalLike, room: Resource, within: Any = None) -> list[str]:
    async def load() -> list[str]:
        page = await repo.search(principal, "Schedule", [("actor", f"HealthcareService/{room['id']}")], count=500,
                                 within=within)
        return [f"Schedule/{s['id']}" for s in page.resources if s.get("active") is not False]

    if within is not None:
        return await load()
    return list(await _lookups(repo).get(principal.tenant, "schedules", room["id"], load))


async def free_slots(repo: Repository, principal: PrincipalLike, schedules: list[str], after: int, before: int,
                     within: Any = None) -> list[Resource]:
    """The free Slots of ``schedules`` starting in [after, before), by start."""
    if not schedules:
        return []
    params = [("schedule", ",".join(schedules)), ("status", "free"), ("start", f"ge{unix_instant(after)}"),
              ("start", f"lt{unix_instant(before)}")]
    out: list[Resource] = []
    cursor = None
    while len(out) < MAX_SLOTS:
        page = await repo.search(principal, "Slot", params, count=500, after=cursor, sort="start", within=within)
        out.extend(page.resources)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    return out


def _timestamp(request: Request, name: str) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        raise Invalid(f"{name} is required", field=name)
    if not raw.isdigit() or int(raw) > MAX_UNIX:
        raise Invalid(f"{name} must be a unix timestamp", field=name)
    return int(raw)


async def list_rooms(request: Request) -> Response:
    principal, decisions = allowed(request, ("search", "HealthcareService"))
    rooms = await all_rooms(services(request).repo, principal, decisions["HealthcareService"].within)
    return reply([{"id": r["id"], "name": r.get("name") or "", "serviceLine": _text(r.get("category")),
                   "serviceType": _text(r.get("type"))} for r in rooms])


def _text(concepts: Any) -> str | None:
    for c in concepts or ():
        found = text_of(c)
        if found:
            return found
    return None


async def list_slots(request: Request) -> Response:
    principal, decisions = allowed(request, ("search", "HealthcareService"), ("search", "Schedule"),
                                   ("search", "Slot"))
    after, before = _timestamp(request, "after"), _timestamp(request, "before")
    name = request.query_params.get("waitingRoom")
    if not name or not name.strip():
        raise Invalid("waitingRoom is required", field="waitingRoom")
    raw = request.query_params.get("duration")
    duration = None
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_DURATION_S:
            raise Invalid(f"duration should be in range [1, {MAX_DURATION_S}]", field="duration")
        duration = int(raw)
    if before <= after:
        raise Invalid("before must be later than after", field="before")
    if before - after > MAX_RANGE_S:
        raise Invalid(f"The date range may span at most {MAX_RANGE_S // 86_400} days", field="before")
    repo = services(request).repo
    room = await room_by_name(repo, principal, name, decisions["HealthcareService"].within)
    length = duration or slot_seconds(room)
    schedules = await schedules_of(repo, principal, room, decisions["Schedule"].within)
    offered: dict[int, dict[str, int]] = {}
    for slot in await free_slots(repo, principal, schedules, after, before, decisions["Slot"].within):
        start, end = instant_unix(slot.get("start")), instant_unix(slot.get("end"))
        if start is None or end is None or start in offered:
            continue
        if end - start >= length and start + length <= before:
            offered[start] = {"date": start, "duration": length}
    return reply([offered[k] for k in sorted(offered)])


def ops() -> list[Op]:
    from fhir_rest.qapi import schemas as s

    timestamp = {"type": "integer", "minimum": 0, "maximum": MAX_UNIX}
    return [
        Op("GET", "/waiting-rooms", list_rooms, "Get Waiting Room List", "Waiting Rooms", reply=s.array(s.ROOM),
           errors=(), description="The waiting rooms of the practice."),
        Op("GET", "/appointment-slots", list_slots, "Get Slots", "Appointment Slots", reply=s.array(s.SLOT),
           params=(Param("after", timestamp, "Left date range for the search (unix timestamp).", required=True),
                   Param("before", timestamp, "Right date range for the search (unix timestamp).", required=True),
                   Param("waitingRoom", {"type": "string", "minLength": 1}, "Waiting room name.", required=True),
                   Param("duration", {"type": "integer", "minimum": 1, "maximum": MAX_DURATION_S},
                         "Should be in range [1, 86400]; by default the waiting room's slot duration.")),
           errors=(400,),
           description="Free appointment slots of a waiting room in a date range (at most 92 days); a booked "
                       "slot is not offered."),
    ]
