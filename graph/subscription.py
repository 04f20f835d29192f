"""The Subscription root (graphql-transport-ws at ``/graphql``): live outbox events through the relay.

A connection authenticates with its handshake headers or in ``connection_init`` (``on_ws_connect``), read by the
one credential parser (auth/credentials.py). Each event goes to the connection's lane when it has one: one
rendering of the selection set per subscription group, sent as a ready ``next`` frame (graph/fanout.py) — by
the relay's fan-out itself while the subscriber is idle and the rendering and the socket are ready, else by
the subscription's task.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any

import strawberry
from starlette.websockets import WebSocketState
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from auth import credentials
from auth.audit_doors import tell
from graph import fanout
from graph.context import Info
from graph.services import GraphSettings, services
from graph.types.event import Event
from resolvers import event as event_r
from resolvers.model.event import Event as EventRecord
from store.errors import TooManyRequests, Unauthorized
from store.metrics import EVENTS_DELIVERED, GRAPHQL_SUBSCRIPTIONS
from subscriptions.relay import LiveEvent

DELIVERED = EVENTS_DELIVERED.labels("websocket")


async def _deliver(lane: fanout.Lane | None, events: AsyncIterator[EventRecord]) -> AsyncGenerator[EventRecord, None]:
    GRAPHQL_SUBSCRIPTIONS.inc()
    try:
        async for event in events:
            DELIVERED.inc()
            if lane is None or lane.executor is None:
                yield event
                continue
            # The transport's lane: the group's shared rendering goes out as a ready frame (graph/fanout.py).
            if not await lane.send(await fanout.payload(lane.executor, event)):
                return
    finally:
        GRAPHQL_SUBSCRIPTIONS.dec()


def _direct(lane: fanout.Lane | None) -> Callable[[LiveEvent], bool] | None:
    """The lane's synchronous send, for the relay to deliver ready events without waking the stream."""
    if lane is None:
        return None
    lane.delivered = DELIVERED
    return lane.send_nowait


async def events(
    info: Info,
    types: Annotated[list[str] | None, strawberry.argument(
        description="Only these event types, e.g. [\"appointment.booked\", \"patient.created\"] "
                    "(default: all).")] = None,
    patient_id: Annotated[strawberry.ID | None, strawberry.argument(
        description="Only events concerning this patient.")] = None,
    after: Annotated[str | None, strawberry.argument(
        description="Resume after this event (its cursor): the events missed since are sent first.")] = None,
) -> AsyncGenerator[EventRecord, None]:
    lane = fanout.lane(info)
    stream = event_r.stream(info.context, event_r.events_matching(types, patient_id), after, direct=_direct(lane))
    async for event in _deliver(lane, stream):
        yield event


async def appointment_events(
    info: Info,
    practitioner_id: Annotated[strawberry.ID | None, strawberry.argument(
        description="Only appointments of this practitioner.")] = None,
    location_id: Annotated[strawberry.ID | None, strawberry.argument(
        description="Only appointments at this location.")] = None,
    after: Annotated[str | None, strawberry.argument(
        description="Resume after this event (its cursor): the events missed since are sent first.")] = None,
) -> AsyncGenerator[EventRecord, None]:
    lane = fanout.lane(info)
    stream = event_r.stream(info.context, event_r.appointment_events(), after,
                            event_r.appointment_participants(practitioner_id, location_id), direct=_direct(lane))
    async for event in _deliver(lane, stream):
        yield event


@strawberry.type(description="Live events over a websocket (graphql-transport-ws at /graphql); resume with "
                             "after: the cursor of the last event received.")
class Subscription:
    events = strawberry.subscription(
        resolver=events, graphql_type=Event,
        description="Every event of your clinic, in order; optionally only some event types (internal names such as "
                    "appointment.booked) or one patient's.")
    appointment_events = strawberry.subscription(
        resolver=appointment_events, graphql_type=Event,
        description="Appointment workflow events (booked, rescheduled, cancelled, arrived, completed, no-show …) with "
                    "the appointment; optionally for one practitioner or location.")


async def on_ws_connect(context: Any) -> None:
    """For the GraphQL view's ``on_ws_connect``: credentials in the ``connection_init`` payload override the
    handshake's (auth/credentials.py reads both); a connection with neither, or with a wrong one, is refused
    (the protocol closes it with 4403 Forbidden). One over its clinic's rate limit, counted here when the
    handshake carried no credentials (app/ratelimit.py counts the others at the handshake), raises
    ``TooManyRequests`` for ``refusing_handler`` to close. A connection on an access token is closed (4403) once
    the token expires or is revoked (``_watch``)."""
    door = services(context.request.app)
    authenticator = door.authenticator
    scope = context.request.scope
    origin = authenticator.origin(scope.get("scheme", "ws"), scope.get("headers", ()))
    try:
        credential = credentials.from_connection_params(getattr(context, "connection_params", None))
        if credential is not None:
            context.principal = await authenticator.authenticate(credential, origin)
            if context.principal is not None and scope.get("auth") is None:
                # An anonymous handshake was not counted by the rate limit: the connection counts now, once.
                await door.admit(context.principal.tenant)
        else:
            credential = credentials.from_headers(scope.get("headers", ()))
    except Unauthorized:
        raise ConnectionRejectionError() from None
    principal = getattr(context, "principal", None)
    if principal is None:
        raise ConnectionRejectionError()
    tell(scope, principal=principal)  # the connection's AuditEvent names who opened it
    if principal.expires_at is not None and credential is not None:
        context.credential_watch = asyncio.create_task(_watch(context.request, authenticator, credential, origin))


# RFC 6455 §7.4.2 (IANA registry): "Try Again Later". 4403 would say the credentials are refused, and clients
# of graphql-transport-ws do not reconnect after it (nor after 4429, which means a second connection_init).
TRY_AGAIN_LATER = 1013


def refusing_handler(base: type[Any]) -> type[Any]:
    """``base`` (the view's graphql-transport-ws handler class), closing a connection refused by its clinic's
    rate limit in ``connection_init`` with 1013 Try Again Later and the wait in the reason."""

    class RefusingHandler(base):  # type: ignore[misc]
        async def handle_connection_init(self, message: Any) -> None:
            try:
                await super().handle_connection_init(message)
            except TooManyRequests as exc:
                wait = max(1, math.ceil(exc.retry_after or 1))
                await self.websocket.close(code=TRY_AGAIN_LATER, reason=f"Rate limit exceeded; retry after {wait} s")

    return RefusingHandler


WATCH_S = 0.5  # how soon a revoked token's socket is closed (revocations reach the instance within ~0.25 s)


async def _watch(websocket: Any, authenticator: Any, credential: str, origin: str) -> None:
    """Close the socket when its token stops being valid (expired, revoked, its client disabled)."""
    while websocket.application_state != WebSocketState.DISCONNECTED:
        await asyncio.sleep(WATCH_S)
        try:
            valid = await authenticator.authenticate(credential, origin) is not None
        except Unauthorized:
            valid = False
        if not valid:
            with contextlib.suppress(Exception):  # already closing: nothing more to do
                await websocket.close(code=4403, reason="Token expired or revoked")
            return


def view_options(settings: GraphSettings) -> dict[str, Any]:
    """Keyword arguments for the GraphQL view: protocols (legacy ``graphql-ws`` only when enabled), the
    connection-init timeout (closed with 4408) and the per-connection cap (an ``error`` message for the
    refused operation, "Subscription limit reached"; the connection stays open)."""
    protocols: tuple[str, ...] = (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
    if settings.graphql_legacy_ws:
        protocols += (GRAPHQL_WS_PROTOCOL,)
    return {
        "subscription_protocols": protocols,
        "connection_init_wait_timeout": timedelta(seconds=settings.connection_init_timeout_s),
        "max_subscriptions_per_connection": settings.subscriptions_per_connection,
    }
