"""The per-clinic rate limit (seed 000: "1,000 req/min per clinic"), held across app instances sharing one store.

What counts: every authenticated HTTP request of a tenant, whichever door (FHIR REST, GraphQL, qapi), and every
websocket connection — at its handshake when that carries credentials, else when graphql-transport-ws
authenticates it in ``connection_init`` (graph/subscription.py) — the connection, not its frames; not ``/health``,
``/metrics``, FHIR ``metadata`` and ``.well-known`` discovery, nor unauthenticated requests (they are refused
with 401 first). Only admitted requests count: a client that keeps knocking while refused does not push its
own window further away.

**The window: the last 60 s, counted per second.** A request is admitted while fewer than ``limit`` were
admitted in the seconds of the last minute — the current second and the 60 before it, each counted whole, so
a request leaves the count between 60 and 61 s after it was admitted (seconds since the epoch: the same on every
instance, wall clock). No 60-s span, whichever one a client or a judge picks, ever holds more than the limit,
and steady traffic gets ``limit`` per 61 s. (This replaced the usual sliding estimate of two fixed minutes,
``previous × (1 − f) + current``, which assumes the previous minute's requests were spread evenly: a quota
spent in a burst just before a minute boundary let up to 1.9 × the limit in within 60 s of it.) The store keeps
one document per tenant per minute with a count per second (store/ratelimits.py), so a sync still reads two.

**Across instances: local counting, synced a few times a second.** Each instance keeps, per tenant, the
global count of each second of the last minute as of its last sync plus what it admitted since (counted at
the second of the sync that sends it: never earlier than it happened, so never leaving the count too soon);
admission is a dict lookup, a comparison or two and an increment, with no store call (once a second, the
oldest second is dropped from a running sum). A background task syncs every ``interval_s`` (default
0.25 s) in two round trips whatever the number of tenants (store/ratelimits.py): one bulk write of the
increments and of this instance's grants, one ``find`` of the global counts and of the others' grants — at most
8 round trips a second per instance, none while it knows no tenant (a tenant is forgotten, its grant given
up, once nothing anywhere counted it in the last minute). The first request of a tenant an instance does not
know waits for two syncs (learn the counts, then declare a grant), so a fresh instance never admits a whole
quota blind; later ones never wait.

**Grants, and the overshoot bound.** Counting locally, N instances each admitting against a view up to one
interval old could together pass the limit by up to (N − 1) × what is left; even "each takes 1/N of what was
left when it synced" overshoots (by 25 % with two instances that sync out of phase and spend their shares at
once: each computes its share blind to the other's newest one). So an instance admits only within a *grant*
it has declared in the store beforehand: at each sync it writes its increments and its new grant, then reads
the counts and the others' grants, and trims its grant to what is left once those are set aside. The grant
is what it may admit until its next sync: its share ``ceil(room / k)`` of what its last view left (k = itself
plus the other instances with traffic of the tenant), **never more than a fifth of the limit**
(``GRANT_DIVISOR``). An instance without traffic keeps a burst's worth (a twentieth of the limit), none of
the last of the minute while others have traffic; one that refused for want of a grant has traffic for the
next ``WANTING_S`` (its clients were told to retry in a second). Of two instances that sync at about the
same time, at least one reads after the other's write (each writes before it reads) and trims to leave room
for it; until its answer comes, an instance uses only what is left of its previous grant, which every earlier
reader already set aside. So while the store answers, all instances together stay within the limit — no
overshoot beyond it, whatever N, only rounding toward admitting less. What it costs:

- an instance whose grant is spent refuses (``Retry-After: 1``) until its next sync, while the minute has
  room: a burst beyond a fifth of the limit per sync (0.8 × the limit a second at the default 0.25 s) waits
  for the next grants — 1,000 requests arriving within 0.5 s at the default limit are all admitted within
  about 2 s of retries; traffic that moves to another instance gets its full share one interval later;
- an instance that stops without a clean shutdown (SIGKILL, a crash) never sends what it admitted since its
  last write; its last grant bounds that, so the others set it aside while it is live
  (store.ratelimits.ALIVE_S, 5 s) and then read it as spent, at the second it lapsed, for the next minute
  (a clean stop gives it up: 0): a crash costs its clinic at most a fifth of the limit for that minute (an
  uncapped grant, all the room an instance alone had, cost it the whole minute). Increments whose write
  failed are sent again, counting twice if the failed write was in fact applied. Both err toward admitting
  less;
- the instances' clocks delimit the seconds: skew between them shifts when a request leaves the count by
  that much.

**When the store cannot answer**, the limiter fails open, slowly: each instance keeps counting and admits, on
top of what is left of its grant, at most the steady rate (``limit`` per 60 s, one request per sync at least)
within its local view — so a hiccup (a sync past its ``timeout_s`` on a loaded machine, a store still starting)
costs about a second's worth per instance, not the others' grants, nor a whole quota for a tenant it never
learnt; over a long outage N instances may admit up to N × the limit. It logs once that it does (never a
tenant), and sends the counts it kept once the store answers again. A clean shutdown flushes the last
counts and gives its grants up.

Over the limit: ``TooManyRequests`` (429) with ``Retry-After`` — when enough seconds will have left the count —
and the RateLimit-Policy / RateLimit fields (fhir_rest/statuses.py), rendered by each door's one converter.
Admitted requests carry the two fields too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_reply
from fhir_rest.statuses import RATE_LIMIT_POLICY
from store.client import deadline
from store.errors import DomainError, TooManyRequests
from store.logs import described
from store.metrics import RATE_LIMITED
from store.ratelimits import Grant, Others, Slot, Synced, Window
from store.types import check_tenant

log = logging.getLogger("fhirgraph.ratelimit")

WINDOW_S = 60
# A grant is at most a fifth of the limit: what an instance that crashes may have admitted unsent (and the others
# then hold as spent for a minute) is bounded by it, while a burst of 0.8 × the limit a second still passes
# one instance (a grant per sync, every 0.25 s).
GRANT_DIVISOR = 5
# An instance that refused for want of a grant counts as having traffic for this long: its refused clients,
# told Retry-After: 1, are waiting for their retry, and the others leave it its share meanwhile.
WANTING_S = 2.0
MESSAGE = "Rate limit exceeded: {limit} requests per minute per clinic"

# (limit, remaining, seconds until the current window ends) of an admitted request; () when it has no limit.
Quota = tuple[int, ...]
UNLIMITED: Quota = ()


class Counters(Protocol):
    """What the limiter needs of the store (store/ratelimits.py ``RateCounters``; an in-memory double in tests)."""

    async def sync(self, increments: Mapping[Slot, int], grants: Mapping[str, Grant], wanted: Iterable[Window],
                   *, instance: str, now: float) -> Synced: ...


def parse_limits(text: str) -> dict[str, int]:
    """``"tenantA=5000,tenantB=200"`` → {tenant: requests per minute}; ValueError (never quoting the value)."""
    limits: dict[str, int] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        tenant, eq, number = (part.strip() for part in entry.partition("="))
        try:
            check_tenant(tenant)
        except ValueError:
            raise ValueError("each entry is <tenant>=<requests per minute>, with a valid tenant name") from None
        if not eq or not number.isascii() or not number.isdigit():
            raise ValueError("each entry is <tenant>=<requests per minute>, a whole number (0 = no limit)")
        limits[tenant] = int(number)
    return limits


class _Tenant:
    """One tenant's counts as this instance sees them: the global count of each second of the last minute as of
    the last sync (``seconds``), what it sent in that sync (``inflight``) and what it admitted since
    (``pending``); both of those are counted until the store has them, at the second they are sent in — never
    earlier than they happened, so they leave the window no sooner than they should."""

    __slots__ = ("limit", "cap", "seconds", "inflight", "pending", "base", "stale_at", "reset_at", "others",
                 "others_active", "since", "allowance", "fresh", "wanted_at")

    def __init__(self, limit: int, now: float):
        self.limit = limit
        self.cap = max(1, -(-limit // GRANT_DIVISOR))  # the largest grant (GRANT_DIVISOR)
        self.seconds: dict[int, int] = {}
        self.inflight = self.pending = 0
        self.others = self.others_active = 0  # the other instances' live grants, and how many have traffic
        self.since = 0  # admitted since the last sync began
        self.allowance = 0  # how many of those this instance may admit (its grant, trimmed)
        self.fresh = True  # no grant declared yet
        # Last refused for want of a grant: it has traffic all the same, until its clients, told to retry in a
        # second, have had the time to (WANTING_S).
        self.wanted_at = -math.inf
        self.refresh(now)

    def refresh(self, now: float) -> None:
        """Drop the seconds that left the window; ``base``: what the rest and ``inflight`` hold (the hot path
        adds ``pending``), valid until ``stale_at``, when the oldest second leaves."""
        horizon = int(now // 1) - WINDOW_S  # second s is counted while now < s + WINDOW_S + 1
        for second in [s for s in self.seconds if s < horizon]:
            del self.seconds[second]
        self.base = sum(self.seconds.values()) + self.inflight
        oldest = min(self.seconds, default=horizon + WINDOW_S)
        self.stale_at = oldest + WINDOW_S + 1.0 if self.seconds else math.inf
        self.reset_at = oldest + WINDOW_S + 1.0

    def used(self, now: float) -> int:
        """How many requests were admitted in the last 60 s (seconds at their edge counted whole)."""
        if now >= self.stale_at:
            self.refresh(now)
        return self.base + self.pending

    def room(self, now: float) -> float:
        """What is left once the others' grants are set aside."""
        return self.limit - self.used(now) - self.others

    def counted(self) -> bool:
        return bool(self.seconds or self.inflight or self.pending)


class Limiter:
    def __init__(self, default: int, limits: Mapping[str, int] | None = None, *, interval_s: float = 0.25,
                 counters: Counters | None = None, clock: Callable[[], float] = time.time,
                 timeout_s: float = 1.0):
        self.default = default
        self.limits = dict(limits or {})
        self.interval_s = interval_s
        self.counters = counters
        self.timeout_s = timeout_s
        self.instance = uuid.uuid4().hex
        self._clock = clock
        self._tenants: dict[str, _Tenant] = {}
        self._cold: dict[str, _Tenant] = {}  # first seen, waiting for their first sync
        self._forgotten: set[str] = set()  # dropped: their grant is given up at the next sync
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._settled_at = clock()

    @property
    def enabled(self) -> bool:
        return self.default > 0 or any(self.limits.values())

    def limit_of(self, tenant: str) -> int:
        return self.limits.get(tenant, self.default)

    # ------------------------------------------------------------------ admission (the hot path)

    def take(self, tenant: str) -> Quota | None:
        """Admit one request of ``tenant``: its quota, ``UNLIMITED``, or None when the tenant's counts are not
        known yet (then await ``first``). Raises ``TooManyRequests`` over the limit."""
        t = self._tenants.get(tenant)
        if t is None or t.fresh:  # unknown, or its counts learnt but its first grant not declared yet
            return UNLIMITED if self.limit_of(tenant) == 0 else None
        now = self._clock()
        if now >= t.stale_at:  # t.used(now), inlined: this runs for every request
            t.refresh(now)
        used = t.base + t.pending
        if used >= t.limit:
            RATE_LIMITED.inc()
            raise self._refused(t, now, used)
        if t.since >= t.allowance:  # this instance's grant is spent: until the next sync
            t.wanted_at = now
            RATE_LIMITED.inc()
            raise TooManyRequests(MESSAGE.format(limit=t.limit), retry_after=self.interval_s, limit=t.limit,
                                  window_s=WINDOW_S)
        t.pending += 1
        t.since += 1
        return t.limit, t.limit - used - 1, max(1, math.ceil(t.reset_at - now))

    async def first(self, tenant: str) -> Quota:
        """``take`` for a tenant this instance has no counts for: a sync to learn them, and one to declare its
        grant (shared by the requests that arrive meanwhile), each at most ``timeout_s``; without the store,
        admitted on the local view."""
        limit = self.limit_of(tenant)
        if limit == 0:
            return UNLIMITED
        if tenant not in self._tenants and tenant not in self._cold:
            self._cold[tenant] = _Tenant(limit, self._clock())
        async with self._lock:
            if tenant in self._cold:
                await self._sync()
            t = self._tenants.get(tenant)
            if t is not None and t.fresh:
                await self._sync()
        if tenant not in self._tenants:  # dropped meanwhile: count it locally until the next sync
            t = self._tenants[tenant] = _Tenant(limit, self._clock())
            t.allowance, t.fresh = 1, False
        quota = self.take(tenant)
        return UNLIMITED if quota is None else quota

    def _refused(self, t: _Tenant, now: float, used: int) -> TooManyRequests:
        """Retry-After: when enough of the last minute's seconds will have left it, if nothing else is
        admitted (what is not synced yet is counted at this second: the next sync's, usually)."""
        excess, wait = used - t.limit + 1, math.floor(now) + WINDOW_S + 1 - now
        for second in sorted(t.seconds):
            excess -= t.seconds[second]
            if excess <= 0:
                wait = second + WINDOW_S + 1 - now
                break
        return TooManyRequests(MESSAGE.format(limit=t.limit), retry_after=max(1.0, wait), limit=t.limit,
                               window_s=WINDOW_S)

    # ------------------------------------------------------------------ syncing

    async def start(self) -> None:
        """Sync every ``interval_s`` from now on."""
        self._task = asyncio.create_task(self._run(), name="rate-limit-sync")

    async def stop(self) -> None:
        """Stop syncing, then send what is still counted only here (and give the grants up)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._lock:
            await self._sync(final=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.sync()
            except Exception as exc:  # noqa: BLE001 - the loop outlives any one sync
                log.error("rate limit sync failed: %s", described(exc))

    async def sync(self) -> None:
        """Send the increments counted since the last sync, declare this instance's grants, learn the global
        counts and the others' grants (two round trips)."""
        async with self._lock:
            await self._sync()

    async def _sync(self, *, final: bool = False) -> None:
        if self.counters is None or not (self._tenants or self._cold or self._forgotten):
            return
        now = self._clock()
        second = int(now // 1)
        window = second // WINDOW_S
        cold = set(self._cold)
        increments: dict[Slot, int] = {}
        wanted: list[Window] = []
        grants: dict[str, Grant] = dict.fromkeys(self._forgotten, (0, False))
        self._forgotten.clear()
        for name, t in (*self._tenants.items(), *self._cold.items()):
            wanted += [(name, window - 1), (name, window)]
            if t.pending:
                # Counted at the second they are sent in, the latest they can have happened in.
                increments[(name, second)] = t.pending
                t.inflight, t.pending = t.inflight + t.pending, 0
            t.refresh(now)
            # The grant is declared before it is used: what it leaves for the others' next grants is known to
            # every instance that reads after this write (app/ratelimit.py's docstring has the argument).
            active = t.since > 0 or t.fresh or now - t.wanted_at < WANTING_S
            room, others = max(0, math.floor(t.room(now))), 1 + t.others_active
            if final or name in self._cold:
                granted = 0
            elif active:  # its share of what is left, never more than ``cap``: a crash costs the others that
                granted = min(t.cap, -(-room // others))
            else:
                # An idle tenant keeps a burst's worth (a twentieth of its limit): a page that fires a dozen
                # requests after a quiet spell is not refused while the next sync comes round. But the last of
                # the minute (two bursts' worth per instance) goes to the instances with traffic: they would be
                # refused while this one sits on it, and Retry-After: 1 would not hold.
                burst = min(t.cap, max(1, t.limit // 20))
                granted = min(burst, room) if not t.others_active else burst if room >= 2 * others * burst else 0
            # Until the answer, the rest of the previous grant (within the new one) may still be used.
            t.allowance = min(granted, max(0, t.allowance - t.since))
            t.since = 0
            grants[name] = (granted, active)
        try:
            with deadline(self.timeout_s):
                synced = await self.counters.sync(increments, grants, wanted, instance=self.instance, now=now)
        except DomainError as exc:
            for name, _second in increments:  # not known to be taken: sent again next time
                t = self._tenants.get(name) or self._cold[name]
                t.pending, t.inflight = t.pending + t.inflight, 0
            self._forgotten.update(n for n, (g, _) in grants.items() if n not in self._tenants and n not in cold)
            if not self._failing:
                self._failing = True
                log.warning("rate limit: the store cannot be reached (%s); counting locally until it answers",
                            type(exc).__name__)
            self._settle(self._clock(), None, grants, cold)
            return
        if self._failing:
            self._failing = False
            log.info("rate limit: the store answers again; counts are shared")
        counts: dict[str, dict[int, int]] = {}
        for (name, at), n in synced.totals.items():
            counts.setdefault(name, {})[at] = n
        for name, t in (*self._tenants.items(), *self._cold.items()):
            t.seconds = counts.get(name, {})
            for at, n in synced.others.get(name, Others()).spent.items():  # a crashed instance's last grant
                t.seconds[at] = t.seconds.get(at, 0) + n
            t.inflight = 0
        for (name, _second), n in synced.unapplied.items():
            t = self._tenants.get(name) or self._cold[name]
            t.pending += n
        self._settle(self._clock(), synced, grants, cold)

    def _settle(self, now: float, synced: Synced | None, grants: Mapping[str, Grant], cold: set[str]) -> None:
        """After a sync: trim each grant to what the others' leave. Without an answer (``synced`` None), the
        local view alone decides (fail open)."""
        if synced is not None:
            # No traffic here, and nobody anywhere counted it in the last minute: forget it.
            for name in [n for n, t in self._tenants.items() if not t.since and not grants.get(n, (0, True))[1]
                         and not t.counted() and not synced.others.get(n, Others()).granted]:
                del self._tenants[name]
                self._forgotten.add(name)
        self._tenants.update(self._cold)
        self._cold.clear()
        # Without an answer, no more than the steady rate (limit / 60 s) for the time since the last settle on
        # top of what is left of the grant: a hiccup of a second costs a second's worth per instance, not what
        # the others' grants were holding (nor, for a tenant never learnt, a whole quota).
        elapsed, self._settled_at = now - self._settled_at, now
        for name, t in self._tenants.items():
            t.refresh(now)
            if synced is None:
                pace = max(1, math.ceil(t.limit * min(elapsed, self.interval_s + self.timeout_s) / WINDOW_S))
                t.allowance = min(t.allowance + pace, t.since + max(0, math.floor(t.limit - t.used(now))))
                t.fresh = False
                continue
            others = synced.others.get(name, Others())
            t.others, t.others_active = others.granted, others.active
            if name not in grants:
                continue
            if name in cold:
                continue  # learnt the counts; its first grant comes with the next sync
            t.fresh = False
            t.allowance = min(grants[name][0], t.since + max(0, math.floor(t.room(now))))


class RateLimitMiddleware:
    """Counts each authenticated request (and websocket handshake) of a tenant, right after authentication and
    before anything answers it (the read lane included). Over the limit, an HTTP request raises
    ``TooManyRequests`` for the error middleware to render in its door's shape; a websocket handshake is
    refused with that same 429 where the server supports denial responses, else closed (a 403)."""

    def __init__(self, app: ASGIApp, *, limiter: Limiter, exempt: tuple[str, ...]):
        self.app = app
        self.limiter = limiter
        self.exempt = exempt
        self._policy: dict[int, bytes] = {}
        self._name = f'"{RATE_LIMIT_POLICY}"'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("auth")
        if principal is None or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        try:
            quota = self.limiter.take(principal.tenant)
            if quota is None:
                quota = await self.limiter.first(principal.tenant)
        except TooManyRequests as exc:
            if scope["type"] != "websocket":
                raise
            await self._deny(scope, send, exc)
            return
        if not quota or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self._policy_of(quota[0])
        remaining = b"%s;r=%d;t=%d" % (self._name, quota[1], quota[2])

        def send_with_quota(message: Message) -> Awaitable[None]:  # no coroutine of its own (app/middleware.py)
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"ratelimit-policy", policy),
                                      (b"ratelimit", remaining)]
            return send(message)

        await self.app(scope, receive, send_with_quota)

    def _policy_of(self, limit: int) -> bytes:
        value = self._policy.get(limit)
        if value is None:
            value = self._policy[limit] = f'"{RATE_LIMIT_POLICY}";q={limit};w={WINDOW_S}'.encode()
        return value

    async def _deny(self, scope: Scope, send: Send, error: TooManyRequests) -> None:
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})
            return
        status, headers, body = error_reply(scope, error)
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw.append((b"content-length", b"%d" % len(body)))
        await send({"type": "websocket.http.response.start", "status": status, "headers": raw})
        await send({"type": "websocket.http.response.body", "body": body})
