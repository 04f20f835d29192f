"""GraphQL subscriptions (graphql-transport-ws at ``/graphql``): live outbox events through the relay.

``after`` resumes from an event's cursor: missed events are replayed from the outbox, then the stream goes
live, with no gap and no duplicate (subscriptions/relay.py). A connection authenticates with its handshake
headers (``X-API-Key`` / ``Authorization: Bearer``) or in ``connection_init`` (``on_ws_connect``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.exceptions import ConnectionRejectionError

from auth import credentials
from auth.authenticator import Authenticator
from graph import fanout
from graph.context import Info
from graph.types.event import Event
from store.errors import Invalid, Unauthorized
from subscriptions.relay import InvalidCursor, LiveEvent, Relay, decode_cursor
from subscriptions.taxonomy import APPOINTMENT_EVENTS


def _relay(info: Info) -> Relay:
    relay: Relay = info.context.request.app.state.relay
    return relay


def _after(info: Info, after: str | None) -> int | None:
    if after is None:
        return None
    try:
        return decode_cursor(after, info.context.who.tenant)
    except InvalidCursor:
        raise Invalid("Invalid cursor for `after`", field="after") from None


async def _stream(info: Info, match: Any, after: str | None,
                  post: Any = None) -> AsyncGenerator[Event, None]:
    tenant = info.context.who.tenant
    start = _after(info, after)
    sender = fanout.lane(info)
    async for event in _relay(info).stream(tenant, match, start):
        if post is not None and not await post(event):
            continue
        # The websocket's context lives as long as the connection: related records resolved for one event must
        # not be served from the DataLoader cache to the next.
        info.context.reset_loaders()
        if sender is None:
            yield Event.of(event)
            continue
        # The transport's lane: the group's shared rendering goes out as a ready frame (graph/fanout.py).
        lane, executor = sender
        if not await lane.send(await fanout.payload(executor, Event.of(event))):
            return


def _refs(resource: dict[str, Any] | None, prefix: str) -> set[str]:
    found = set()
    for part in (resource or {}).get("participant") or []:
        ref = (part.get("actor") or {}).get("reference") or ""
        if ref.startswith(prefix):
            found.add(ref[len(prefix):])
    return found


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Every event of your clinic, in order; optionally only some event types "
                                         "(internal names such as appointment.booked) or one patient's.")
    async def events(self, info: Info, types: list[str] | None = None, patient_id: strawberry.ID | None = None,
                     after: str | None = None) -> AsyncGenerator[Event, None]:
        wanted = frozenset(types) if types else None
        patient = f"Patient/{patient_id}" if patient_id else None

        def match(e: LiveEvent) -> bool:
            return (wanted is None or e.type in wanted) and (patient is None or e.patient == patient)

        async for event in _stream(info, match, after):
            yield event

    @strawberry.subscription(description="Appointment workflow events (booked, rescheduled, cancelled, arrived, "
                                         "completed, no-show …) with the appointment; optionally for one "
                                         "practitioner or location.")
    async def appointment_events(self, info: Info, practitioner_id: strawberry.ID | None = None,
                                 location_id: strawberry.ID | None = None,
                                 after: str | None = None) -> AsyncGenerator[Event, None]:
        def match(e: LiveEvent) -> bool:
            return e.resource_type == "Appointment" and e.type in APPOINTMENT_EVENTS

        async def post(e: LiveEvent) -> bool:
            if practitioner_id is None and location_id is None:
                return True
            res = await e.resource()
            if res is None:
                return False
            return ((practitioner_id is None or str(practitioner_id) in _refs(res, "Practitioner/"))
                    and (location_id is None or str(location_id) in _refs(res, "Location/")))

        async for event in _stream(info, match, after, post):
            yield event


async def on_ws_connect(context: Any) -> None:
    """For the GraphQL view's ``on_ws_connect``: credentials in the ``connection_init`` payload override the
    handshake's (auth/credentials.py reads both); a connection with neither, or with a wrong one, is refused
    (the protocol closes it with 4403 Forbidden)."""
    try:
        credential = credentials.from_connection_params(getattr(context, "connection_params", None))
        if credential is not None:
            authenticator: Authenticator = context.request.app.state.authenticator
            context.principal = authenticator.authenticate(credential)
    except Unauthorized:
        raise ConnectionRejectionError() from None
    if getattr(context, "principal", None) is None:
        raise ConnectionRejectionError()


def view_options(settings: Any) -> dict[str, Any]:
    """Keyword arguments for the GraphQL view: protocols (legacy ``graphql-ws`` only when enabled), the
    connection-init timeout (closed with 4408) and the per-connection cap (an ``error`` message for the
    refused operation, "Subscription limit reached"; the connection stays open)."""
    from datetime import timedelta

    from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

    protocols: tuple[str, ...] = (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
    if settings.graphql_legacy_ws:
        protocols += (GRAPHQL_WS_PROTOCOL,)
    return {
        "subscription_protocols": protocols,
        "connection_init_wait_timeout": timedelta(seconds=settings.connection_init_timeout_s),
        "max_subscriptions_per_connection": settings.subscriptions_per_connection,
    }


__all__ = ["Subscription", "on_ws_connect", "view_options"]
