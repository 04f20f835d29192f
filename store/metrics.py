"""Store round trips, counted from the driver's own command monitoring and exported at ``/metrics``.

Counting at the driver (``pymongo.monitoring.CommandListener``) measures real wire round trips — a
``getMore`` is a round trip too — so DataLoader batching can be checked from outside the process.
"""

from __future__ import annotations

from prometheus_client import Counter
from pymongo import monitoring

STORE_CALLS = Counter(
    "fhirgraph_store_calls", "MongoDB commands sent by the store", ["operation", "collection"]
)
_IGNORED = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo", "saslStart",
                      "saslContinue"})


class StoreCallCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.total = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in _IGNORED:
            return
        coll = event.command.get(event.command_name)
        if event.command_name == "getMore":
            coll = event.command.get("collection")
        self.total += 1
        STORE_CALLS.labels(event.command_name, coll if isinstance(coll, str) else "-").inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COUNTER = StoreCallCounter()
