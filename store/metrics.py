"""Every Prometheus metric of the product, defined in this one place and exported at ``/metrics``.

It sits in ``store/`` because every package may import the store and none may import the composition root:
the doors, the live events and the authorization server record into the objects below; nothing here imports
them. Labels are bounded by construction — route templates, doors, operation names past a cap, outcome words,
command names, job kinds — never an id, a raw path, a tenant or anything a caller typed.

Store round trips are counted at the driver (``pymongo.monitoring.CommandListener``): real wire round trips —
a ``getMore`` is one too — so DataLoader batching can be checked from outside the process, and each command's
duration is the driver's own measure.

To extend: define the metric here (name ``fhirgraph_<thing>_<unit>``, bounded labels), record it where the thing
happens, and add a panel to ``deploy/grafana/dashboards/fhirgraph.json``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from pymongo import monitoring

# Request latencies: from a read lane answer (~1 ms) to a page of a slow search or a bulk write (seconds).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
# The relay's own stages, well under the lag's: a wake-up is µs to ms, a thousand-socket fan-out some ms.
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05,
                 0.075, 0.1, 0.25, 0.5, 1.0)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# ---------------------------------------------------------------------------------------------------- HTTP
HTTP_REQUESTS = Histogram(
    "fhirgraph_http_request_duration_seconds",
    "HTTP requests by door, route template, method and status class (_count is the request count)",
    ["door", "route", "method", "status"], buckets=LATENCY_BUCKETS)
HTTP_IN_FLIGHT = Gauge("fhirgraph_http_requests_in_flight", "HTTP requests being answered now", ["door"])
WEBSOCKETS_OPEN = Gauge("fhirgraph_websocket_connections", "Websocket connections open now", ["door"])
WEBSOCKETS = Counter("fhirgraph_websocket_handshakes", "Websocket handshakes by outcome (accepted, refused)",
                     ["door", "outcome"])

# ---------------------------------------------------------------------------------------------------- GraphQL
GRAPHQL_OPERATIONS = Histogram(
    "fhirgraph_graphql_operation_duration_seconds",
    "GraphQL queries and mutations by operation name (anonymous, other past a cap) and type",
    ["operation", "type"], buckets=LATENCY_BUCKETS)
GRAPHQL_ERRORS = Counter("fhirgraph_graphql_errors", "GraphQL errors by operation name and extensions.code",
                         ["operation", "code"])
GRAPHQL_SUBSCRIPTIONS = Gauge("fhirgraph_graphql_subscriptions", "GraphQL subscriptions active now")

# ---------------------------------------------------------------------------------------------------- events
EVENTS_WRITTEN = Counter("fhirgraph_events_written", "Outbox events written by this process")
EVENTS_RELAYED = Counter("fhirgraph_events_relayed", "Outbox events the relay fanned out in this process")
EVENTS_DELIVERED = Counter("fhirgraph_events_delivered", "Events sent to a consumer", ["channel"])
RELAY_LAG = Histogram("fhirgraph_relay_lag_seconds", "From an event's write to its fan-out by the relay",
                      buckets=LAG_BUCKETS)
RELAY_WAKE = Histogram("fhirgraph_relay_wake_seconds",
                       "From a local write's commit (its event hook) to the start of that event's fan-out",
                       buckets=STAGE_BUCKETS)
RELAY_FANOUT_CPU = Counter("fhirgraph_relay_fanout_cpu_seconds",
                           "CPU time (the relay thread's, user and system) spent in fan-outs: socket writes included")
RELAY_FANOUT = Histogram("fhirgraph_relay_fanout_seconds",
                         "One event's fan-out to this process's subscribers, to the last socket write",
                         buckets=STAGE_BUCKETS)
WEBHOOK_DELIVERIES = Counter("fhirgraph_webhook_deliveries",
                             "Webhook delivery attempts by outcome (ok, retry, gone, fail)", ["outcome"])
WEBHOOK_RETRYING = Gauge("fhirgraph_webhook_retry_queue", "Webhooks waiting out a backoff before a retry")
WEBHOOK_DEAD_LETTERS = Counter("fhirgraph_webhook_dead_letters", "Events given up on after the last retry")

# ---------------------------------------------------------------------------------------------------- jobs
JOBS = Counter("fhirgraph_jobs", "Background job transitions by kind and state", ["kind", "state"])
JOBS_ACTIVE = Gauge("fhirgraph_jobs_active", "Background jobs this process is working now", ["kind"])
JOB_STATES = frozenset({"queued", "running", "completed", "failed", "cancelled", "resumed", "paused"})

# ---------------------------------------------------------------------------------------------------- auth
AUTH_TOKENS = Counter("fhirgraph_auth_tokens", "Token requests by grant type and outcome (issued, refused)",
                      ["grant", "outcome"])
AUTH_REVOCATIONS = Counter("fhirgraph_auth_revocations", "Tokens, grants and clients revoked", ["kind"])
AUTH_REFUSALS = Counter("fhirgraph_auth_refusals", "Requests refused for their credentials (401)", ["door"])
RATE_LIMITED = Counter("fhirgraph_rate_limited", "Requests refused by the per-clinic rate limit (429)")

# ---------------------------------------------------------------------------------------------------- store
STORE_CALLS = Counter(
    "fhirgraph_store_calls", "MongoDB commands sent by the store", ["operation", "collection"]
)
STORE_LATENCY = Histogram("fhirgraph_store_command_duration_seconds",
                          "MongoDB command round trips, as the driver measured them", ["operation", "outcome"],
                          buckets=STORE_BUCKETS)
_IGNORED = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo", "saslStart",
                      "saslContinue"})
GRANTS = frozenset({"authorization_code", "refresh_token", "client_credentials"})


def job(kind: str, state: str) -> None:
    """A background job of ``kind`` (``export``, ``report``, ``import``…: a fixed word per job type, never an id)
    moved to ``state`` (one of JOB_STATES). ``running`` counts it active until it ends."""
    if state not in JOB_STATES:
        raise ValueError(f"unknown job state {state!r}")
    JOBS.labels(kind, state).inc()
    if state in ("running", "resumed"):
        JOBS_ACTIVE.labels(kind).inc()
    elif state in ("completed", "failed", "cancelled", "paused"):
        JOBS_ACTIVE.labels(kind).dec()


def token(grant: str | None, outcome: str) -> None:
    AUTH_TOKENS.labels(grant if grant in GRANTS else "other", outcome).inc()


class StoreCallCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.total = 0
        self._calls: dict[tuple[str, str], Counter] = {}
        self._latency: dict[tuple[str, str], Histogram] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in _IGNORED:
            return
        coll = event.command.get("collection") if name == "getMore" else event.command.get(name)
        key = (name, coll if isinstance(coll, str) else "-")
        self.total += 1
        child = self._calls.get(key)
        if child is None:
            child = self._calls[key] = STORE_CALLS.labels(*key)
        child.inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._observe(event.command_name, "ok", event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._observe(event.command_name, "error", event.duration_micros)

    def _observe(self, name: str, outcome: str, micros: int) -> None:
        if name in _IGNORED:
            return
        key = (name, outcome)
        child = self._latency.get(key)
        if child is None:
            child = self._latency[key] = STORE_LATENCY.labels(*key)
        child.observe(micros / 1e6)


COUNTER = StoreCallCounter()
