"""Keeping devdb's stored documents out of the cyclic garbage collector's way, when devdb has a process of its own.

Whatever devdb holds lives until it is deleted: each object survives every young collection it meets. When
devdb held its documents as Python dicts and lists, the collector walked each of them, once in each young
generation, before it settled in the old one — with the audit trail appending two thousand documents a second,
that was a quarter of devdb's CPU time, and each second-generation collection (millions of survivors) was a
pause of more than a second that every client of the store waited out (reads at p99 1.4 s under the bench).
Documents are bytes now (store/devdb/documents.py), which the collector does not track, but the index entries
(tuples) and mongomock's own state still are containers.

So ``fhirgraph devdb`` (its own process: ``main_devdb``) moves what it holds into the collector's permanent
generation after the writes of each second (``gc.freeze``: constant time), and the young collections see only
what came since. What is frozen is never examined again, so a garbage cycle frozen while still in use is never
reclaimed: devdb's documents are trees, and its own cycles are few — a mixed run of inserts, reads, updates and
duplicate-key errors, client and server in one process, left about seven such objects per freeze
(``gc.unfreeze(); gc.collect()`` at its end): at one freeze a second, at most ~25,000 objects (a few MB) per hour
of continuous writing, against the second-long pauses it removes. devdb is a trial and test engine.

Not for devdb in a thread of another process (tests, ``fhirgraph serve`` on the embedded store): freezing there
would also freeze that process's own in-flight objects; those processes keep their own collector settings.
"""

from __future__ import annotations

import gc
import time

FREEZE_EVERY_S = 1.0


class HeapKeeper:
    """Freezes the heap at most once per ``FREEZE_EVERY_S``, after writes."""

    def __init__(self, every_s: float = FREEZE_EVERY_S):
        self.every_s = every_s
        self._last = 0.0

    def wrote(self) -> None:
        """Called after each write command: freezes what is held when the interval has passed."""
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            gc.freeze()
