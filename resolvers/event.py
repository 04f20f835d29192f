"""Live events for GraphQL subscriptions: a clinic's outbox events through the relay (subscriptions/relay.py),
filtered, and the resources they are about at the event's version (records: resolvers/model/event.py).

``after`` resumes from an event's cursor: missed events are replayed from the outbox, then the stream goes
live, with no gap and no duplicate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from resolvers.access import Decided
from resolvers.context import Scope
from resolvers.model import appointment, encounter, episode, patient
from resolvers.model.event import Event, of
from store.confinement import admits
from store.errors import Invalid, Unavailable
from store.fhirjson import ref_id
from subscriptions.relay import Direct, InvalidCursor, LiveEvent, decode_cursor
from subscriptions.taxonomy import APPOINTMENT_EVENTS

Match = Callable[[LiveEvent], bool]
Post = Callable[[LiveEvent], Awaitable[bool]]


def _after(ctx: Scope, after: str | None) -> int | None:
    if after is None:
        return None
    try:
        return decode_cursor(after, ctx.who.tenant)
    except InvalidCursor:
        raise Invalid("Invalid cursor for `after`", field="after") from None


async def stream(ctx: Scope, match: Match, after: str | None, post: Post | None = None,
                 direct: Direct | None = None) -> AsyncIterator[Event]:
    """The clinic's events accepted by ``match`` (cheap, synchronous) and then ``post`` (may read the resource),
    in sequence order, as records — only those about what the caller may read (``visible``). Related records
    are resolved afresh for each event. ``direct`` (the transport's synchronous send, graph/fanout.py) is
    offered the live events it may take without an ``await``: visible by the type alone, with no ``post``.

    A ``match`` that compares by value (``Matching``) lets the relay check each event once for every stream of
    the same caller with the same filter."""
    if ctx.relay is None:
        raise Unavailable("Live events are not available")
    start = _after(ctx, after)
    readable, admitted, unconfined = visible(ctx)

    def accepted(e: LiveEvent) -> bool:
        return readable(e) and match(e)

    offer = direct if post is None else None
    # Same principal (every field: scopes, launch patient, token), same filter: the same ``accepted`` and gate.
    key: tuple[Any, ...] | None = ("events", ctx.who, match) if isinstance(match, Matching) else None
    if key is not None:
        try:
            hash(key)
        except TypeError:
            key = None
    async for event in ctx.relay.stream(ctx.who.tenant, accepted, start, offer, gate=unconfined, key=key):
        if not await admitted(event) or (post is not None and not await post(event)):
            continue
        # The websocket's context lives as long as the connection: related records resolved for one event must
        # not be served from the DataLoader cache to the next.
        ctx.reset_loaders()
        yield of(event)


def visible(ctx: Scope) -> tuple[Match, Post, Match]:
    """What the caller may see of the event stream, by the policy (``read`` of the event's resource type): a
    cheap check of the type, then — for a confined caller only — of the resource at the event's version
    (store/confinement.py ``admits``); a deletion, which has no readable version, by the patient the event
    names, and only when no granular parameter must be judged. The third answer: whether the type alone
    admits the event (the caller is not confined for it), with no read."""
    who = ctx.who
    decisions: dict[str, Decided | None] = {}

    def decided(rt: str) -> Decided | None:
        if rt not in decisions:
            decisions[rt] = ctx.repo.decision(who, "read", rt)
        return decisions[rt]

    def readable(e: LiveEvent) -> bool:
        return decided(e.resource_type) is not None

    async def admitted(e: LiveEvent) -> bool:
        decision = decided(e.resource_type)
        within = decision.within if decision is not None else None
        if decision is None or within is None:
            return decision is not None
        res = await e.resource()
        if res is not None:
            return admits(e.resource_type, res, within)
        about = e.resource_id if e.resource_type == "Patient" else e.patient_id
        return any(not part.params and part.patient in (None, about) for part in within.any_of)

    def unconfined(e: LiveEvent) -> bool:
        decision = decided(e.resource_type)
        return decision is not None and decision.within is None

    return readable, admitted, unconfined


@dataclass(frozen=True)
class Matching:
    """A filter on the event's type (one of ``types``; any when None), patient reference and resource type —
    compared by value, so that equal filters are one for the relay."""

    types: frozenset[str] | None = None
    patient: str | None = None
    resource_type: str | None = None

    def __call__(self, e: LiveEvent) -> bool:
        return ((self.types is None or e.type in self.types) and (self.patient is None or e.patient == self.patient)
                and (self.resource_type is None or e.resource_type == self.resource_type))


def events_matching(types: list[str] | None, patient_id: str | None) -> Matching:
    """Every event, or only those of some (internal) types, or one patient's."""
    return Matching(frozenset(types) if types else None, f"Patient/{patient_id}" if patient_id else None)


def appointment_events() -> Matching:
    return Matching(APPOINTMENT_EVENTS, resource_type="Appointment")


def appointment_participants(practitioner_id: str | None, location_id: str | None) -> Post | None:
    """A filter on an appointment's practitioner and location (read at the event's version), when asked for."""
    if practitioner_id is None and location_id is None:
        return None

    async def post(e: LiveEvent) -> bool:
        res = await e.resource()
        if res is None:
            return False
        return ((practitioner_id is None or str(practitioner_id) in _refs(res, "Practitioner"))
                and (location_id is None or str(location_id) in _refs(res, "Location")))

    return post


def _refs(resource: dict[str, Any], rt: str) -> set[str]:
    """The ids of the ``rt`` participants of an appointment."""
    return {rid for part in resource.get("participant") or [] if (rid := ref_id((part or {}).get("actor"), rt))}


# ---------------------------------------------------------------------------------------------- relations


async def event_appointment(root: Event) -> appointment.Appointment | None:
    res = await root.resource("Appointment")
    return appointment.from_fhir(res) if res else None


async def event_patient(root: Event) -> patient.Patient | None:
    res = await root.resource("Patient")
    return patient.from_fhir(res) if res else None


async def event_encounter(root: Event) -> encounter.Encounter | None:
    res = await root.resource("Encounter")
    return encounter.from_fhir(res) if res else None


async def event_episode(root: Event) -> episode.Episode | None:
    res = await root.resource("EpisodeOfCare")
    return episode.from_fhir(res) if res else None
