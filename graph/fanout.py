"""One rendering of a live event per subscription group, shared by every subscriber of the group; and the
lane that sends it to each subscriber as ready bytes.

graphql-core executes a subscription's selection set once per (subscriber, event). With a thousand dashboards
watching the same clinic that is a thousand identical executions per event. Subscribers that send the same
operation (same parsed document — the parser cache makes equal texts one object), the same variables and
act as the same principal (tenant, subject and scopes) get the same result for the same event, so the first
of them renders it and the rest reuse it.

What is not shared: the source stream (each subscriber filters and resumes on its own), the error handling
after execution, and the send. A render that fails or is cancelled is not cached. A render older than
``MAX_AGE_S`` is redone, so a late subscriber (a resume replaying old events) sees current related data as
an unshared execution would.

The lane: on a graphql-transport-ws connection each subscription operation runs in its own task, which the
transport handler (``LaneHandler``) marks with a ``Lane``. A subscription resolver that finds a lane for its
own operation renders each event through ``payload`` (shared bytes: ``{"data": …, "errors": […]}`` with
errors converted as ``graph.errors`` does for every response) and sends the ``next`` frame itself, instead of
yielding the event through Strawberry's per-result pipeline (extension hooks, result processing, message
dict, JSON encoding, per subscriber). Everything else — start, validation, errors before execution,
``complete``, cancellation — stays Strawberry's. Without a lane (another transport, an in-process call) the
resolver yields and the shared render still applies.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, cast

import orjson
from graphql import OperationType
from prometheus_client import Counter
from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph.errors import convert
from resolvers.model.event import of

RENDERS = Counter("fhirgraph_subscription_renders", "Subscription events executed (shared renders counted once)")
MAX_ENTRIES = 4096
MAX_AGE_S = 5.0


class _Renders:
    """(group, event) → the task rendering it; bounded, oldest first out."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple[Any, ...], tuple[float, Any, asyncio.Future[Any]]] = OrderedDict()

    def get(self, key: tuple[Any, ...], operation: Any) -> asyncio.Future[Any] | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        born, op, fut = entry
        # The operation node is held by the entry: an id() can only be reused once it is gone.
        if op is not operation or time.monotonic() - born > MAX_AGE_S or (fut.done() and fut.cancelled()):
            del self.entries[key]
            return None
        return fut

    def put(self, key: tuple[Any, ...], operation: Any, fut: asyncio.Future[Any]) -> None:
        self.entries[key] = (time.monotonic(), operation, fut)
        while len(self.entries) > MAX_ENTRIES:
            self.entries.popitem(last=False)

    def forget(self, key: tuple[Any, ...], fut: asyncio.Future[Any]) -> None:
        entry = self.entries.get(key)
        if entry is not None and entry[2] is fut:
            del self.entries[key]


_RENDERS = _Renders()


def _principal_key(context: Any) -> Any:
    principal = getattr(context, "principal", None)
    if principal is None:
        return None
    return (principal.tenant, principal.subject, frozenset(getattr(principal, "scopes", ()) or ()))


# The subscription executor of the running operation task, and the lane of that task (if its transport has one).
_EXECUTOR: contextvars.ContextVar[SharedEventExecutor | None] = contextvars.ContextVar("fanout_executor",
                                                                                      default=None)
_LANE: contextvars.ContextVar[Lane | None] = contextvars.ContextVar("fanout_lane", default=None)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with subscription events rendered once per group."""

    _group: tuple[Any, ...] | None = None
    _event: Any = None
    _per_event = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.operation.operation == OperationType.SUBSCRIPTION:
            _EXECUTOR.set(self)

    def build_per_event_executor(self, payload: Any) -> SharedEventExecutor:
        executor = cast("SharedEventExecutor", super().build_per_event_executor(payload))
        executor._per_event = True
        live = getattr(payload, "live", None)
        principal = _principal_key(self.context_value)
        if live is None or principal is None:
            return executor
        if self._group is None:
            values = self.variable_values
            try:
                variables = orjson.dumps(getattr(values, "coerced", values), option=orjson.OPT_SORT_KEYS)
            except TypeError:  # a value orjson cannot encode: render alone
                return executor
            self._group = (id(self.operation), variables, principal)
        executor._group = self._group
        executor._event = live.id
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self._event is None or self._group is None:
            if self._per_event:
                RENDERS.inc()
            return super().execute_operation(serially)
        fut = self._shared(serially)
        if fut.done():  # the usual case for all but the group's first subscriber: no coroutine, no shield
            return _copy(fut.result())
        return self._share(fut)

    def _shared(self, serially: bool | None) -> asyncio.Future[_Rendered]:
        """The group's rendering of this executor's event: started by the first subscriber to ask — and finished
        at once when no resolver of the selection awaits, so the rest of the group finds it done."""
        assert self._group is not None
        key = (*self._group, self._event)
        fut = _RENDERS.get(key, self.operation)
        if fut is None:
            RENDERS.inc()
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                fut = asyncio.ensure_future(self._finish(result))
                fut.add_done_callback(lambda f: _RENDERS.forget(key, f) if f.cancelled() or f.exception() else None)
            else:
                fut = asyncio.get_running_loop().create_future()
                fut.set_result(_Rendered(result))
            _RENDERS.put(key, self.operation, fut)
        return fut

    @staticmethod
    async def _finish(pending: Any) -> _Rendered:
        return _Rendered(await pending)

    @staticmethod
    async def _share(fut: asyncio.Future[Any]) -> Any:
        # Shielded: a subscriber that leaves mid-render must not cancel the render the others wait for.
        return _copy(await asyncio.shield(fut))


class _Rendered:
    __slots__ = ("_payload", "result")

    def __init__(self, result: Any):
        self.result = result
        self._payload: bytes | None = None

    @property
    def payload(self) -> bytes:
        """The ``next`` message's payload, as the client receives it (errors converted, as for any response)."""
        if self._payload is None:
            body: dict[str, Any] = {"data": self.result.data}
            if self.result.errors:
                body["errors"] = [convert(e).formatted for e in self.result.errors]
            self._payload = orjson.dumps(body)
        return self._payload


def _copy(rendered: _Rendered) -> Any:
    # Each subscriber gets its own result object (error handling after execution may replace its errors); the
    # data itself is only read from here on.
    result = rendered.result
    return type(result)(data=result.data, errors=list(result.errors) if result.errors else None,
                        extensions=result.extensions)


SEND_NOWAIT = "fhirgraph.websocket.send_nowait"
"""The ASGI scope extension a server may offer on a websocket: ``send(text: bytes) -> bool`` writes one text
frame now, or answers False when an ordinary send would have to wait or fail (app/server.py offers it)."""

SEND_FRAME_NOWAIT = "fhirgraph.websocket.send_frame_nowait"
"""Beside ``SEND_NOWAIT``: ``send(frame: bytes) -> bool`` writes ``frame`` — a whole final text frame, unmasked,
header included (``text_frame``) — now; False where ``SEND_NOWAIT`` would answer False, and on a connection
with an extension (permessage-deflate), whose frames are not these bytes."""


def text_frame(text: bytes) -> bytes:
    """``text`` as one final, unmasked text frame (RFC 6455 §5.2: FIN + opcode, the payload length, the payload):
    the bytes websockets' ``Frame.serialize`` writes for a server."""
    length = len(text)
    if length < 126:
        return bytes((0x81, length)) + text
    if length < 0x10000:
        return b"\x81\x7e" + length.to_bytes(2, "big") + text
    return b"\x81\x7f" + length.to_bytes(8, "big") + text


class _Shape:
    """A memo key on a ``LiveEvent`` for one (rendering group, ``next`` head): the lanes of that shape share
    the frame, encoded once per event. Hashed by identity (no tuple to hash per subscriber); interned while a
    lane holds it."""

    __slots__ = ("__weakref__",)


_SHAPES: weakref.WeakValueDictionary[tuple[Any, ...], _Shape] = weakref.WeakValueDictionary()


class Lane:
    """One graphql-transport-ws subscription operation, to which its resolver sends ``next`` frames itself.

    Where the server offers ``SEND_NOWAIT``, a frame is written synchronously: by the relay's fan-out for an
    event whose group rendering is ready (``send_nowait``: no wake-up of the subscriber's task, no await), and
    by the task otherwise. Only ``next`` frames take that way, past the ASGI middleware: none of them looks at
    a ``websocket.send`` (they watch the handshake and the close, which stay on the ASGI path). The fan-out
    encodes each event's frame once per shape (``_Shape``) and writes those bytes to every socket of it
    (``SEND_FRAME_NOWAIT``)."""

    __slots__ = ("_frame", "_head", "_shape", "_write", "delivered", "executor", "operation", "ws")

    def __init__(self, operation: Any, ws: Any):
        self.operation, self.ws = operation, ws
        self.executor: SharedEventExecutor | None = None
        self.delivered: Any = None  # the metric ``send_nowait`` counts into (set by the subscription root)
        self._head = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":'
        extensions = getattr(ws, "scope", {}).get("extensions") or {}
        self._write: Any = extensions.get(SEND_NOWAIT)
        self._frame: Any = extensions.get(SEND_FRAME_NOWAIT) if self._write is not None else None
        self._shape: _Shape | None = None

    async def send(self, payload: bytes) -> bool:
        """Send one event; False once the operation is complete (the client said so), when nothing may follow."""
        if self.operation.completed:
            return False
        frame = self._head + payload + b"}"
        if self._write is not None and self._write(frame):
            return True
        try:
            # Text frames: graphql-transport-ws clients (gql, graphql-ws) accept only text.
            await self.ws.send_text(frame.decode())
        except WebSocketDisconnect as exc:  # what Strawberry's own send raises on a closed connection
            raise WebSocketDisconnected from exc
        return True

    def send_nowait(self, live: Any) -> bool:
        """Send the live event ``live`` now, if its group's rendering is ready or renders without an await and
        the connection takes the frame without waiting; False: the subscriber's task must deliver it. Called
        once per subscriber and event by the relay's fan-out: kept flat."""
        executor, operation = self.executor, self.operation
        if executor is None or operation.completed or self._write is None:
            return False
        # The client may have completed the operation: Strawberry then cancels its task (not yet run).
        task = operation.task
        if task is None or task.done() or task.cancelling():
            return False
        found = live.memo.get(self._shape) if self._shape is not None else None
        if found is None or found[0] is not executor.operation:
            found = self._encode(executor, live)
            if found is None:
                return False
        if not (self._frame is not None and self._frame(found[1]) or self._write(found[2])):
            return False
        if (counter := self.delivered) is not None:  # into _tally, flushed once after the fan-out
            pending = _tally.pending
            if not pending:
                asyncio.get_running_loop().call_soon(_tally.flush)
            pending[counter] = pending.get(counter, 0) + 1
        return True

    def _encode(self, executor: SharedEventExecutor, live: Any) -> tuple[Any, bytes, bytes] | None:
        """The event's ``next`` frame for this lane's shape (rendered if need be, without an await), kept on the
        event for the other lanes of the shape: (the operation node, the frame, its text)."""
        rendered = ready(executor, live)
        group = executor._group
        if rendered is None or group is None:
            return None
        if self._shape is None:
            self._shape = _SHAPES.setdefault((group, self._head), _Shape())
        text = self._head + rendered + b"}"
        found = (executor.operation, text_frame(text), text)
        live.memo[self._shape] = found  # the node: the group's id() part is only unique while it lives
        return found


class _Tally(threading.local):
    """Deliveries made in a fan-out, counted into their metrics once, after it (a thousand ``inc()`` each take
    the metric's lock). Per thread: each runs its own event loop (tests run servers in threads)."""

    def __init__(self) -> None:
        self.pending: dict[Any, int] = {}

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for counter, n in pending.items():
            counter.inc(n)


_tally = _Tally()


def ready(executor: SharedEventExecutor, live: Any) -> bytes | None:
    """The group's payload for the relay event ``live`` if it is (or becomes, without an await) ready; kept
    on the event (``live.memo``) for the rest of the group's subscribers in the same fan-out."""
    group, operation = executor._group, executor.operation
    if group is not None:
        found = live.memo.get(group)
        if found is not None and found[0] is operation:
            return found[1]  # type: ignore[no-any-return]
        fut = _RENDERS.get((*group, live.id), operation)
        if fut is not None:
            return _remember(live, group, operation, fut)
    context = executor.context_value
    context.reset_loaders()  # as the stream does before each event: related records are read afresh
    per_event = executor.build_per_event_executor(of(live))
    if per_event._group is None:  # rendered alone: the task's way
        return None
    return _remember(live, per_event._group, operation, per_event._shared(False))


def _remember(live: Any, group: tuple[Any, ...], operation: Any, fut: asyncio.Future[_Rendered]) -> bytes | None:
    payload = _done(fut)
    if payload is not None:
        live.memo[group] = (operation, payload)  # the operation: the group's id() part is only unique while it lives
    return payload


def _done(fut: asyncio.Future[_Rendered]) -> bytes | None:
    if fut.done() and not fut.cancelled() and fut.exception() is None:
        return fut.result().payload
    return None


def lane(info: Any) -> Lane | None:
    """The lane of the subscription operation ``info`` belongs to, if its transport offers one."""
    current, executor = _LANE.get(), _EXECUTOR.get()
    if current is None or executor is None or executor.operation is not info.operation \
            or executor.context_value is not info.context:
        return None
    current.executor = executor
    return current


async def payload(executor: SharedEventExecutor, event: Any) -> bytes:
    """The shared rendering of ``event`` (a graph ``Event``) for ``executor``'s group, as payload bytes."""
    group = executor._group
    if group is not None:  # the group's rendering, when there is one, without building an executor to ask
        found = _RENDERS.get((*group, event.live.id), executor.operation)
        if found is not None and (ready_now := _done(found)) is not None:
            return ready_now
    per_event = executor.build_per_event_executor(event)
    if per_event._group is None:  # not shareable (no principal, unencodable variables): render alone
        result = per_event.execute_operation(False)
        if per_event.is_awaitable(result):
            result = await result
        return _Rendered(result).payload
    fut = per_event._shared(False)
    rendered: _Rendered = fut.result() if fut.done() else await asyncio.shield(fut)
    return rendered.payload


def lane_handler(base: type[Any]) -> type[Any]:
    """``base`` (the view's graphql-transport-ws handler class), with a lane for each subscription operation."""

    class LaneHandler(base):  # type: ignore[misc]
        async def run_operation(self, operation: Any) -> None:
            ws = getattr(self.websocket, "ws", None)
            if ws is not None:
                _LANE.set(Lane(operation, ws))  # this operation's own task: no other operation sees it
            await super().run_operation(operation)

    return LaneHandler


__all__ = ["RENDERS", "SEND_FRAME_NOWAIT", "SEND_NOWAIT", "Lane", "SharedEventExecutor", "lane", "lane_handler",
           "payload", "ready", "text_frame"]
