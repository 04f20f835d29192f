"""The settings live events read (app/settings.py has them all; this is what subscriptions/ depends on)."""

from __future__ import annotations

from typing import Protocol


class EventSettings(Protocol):
    @property
    def relay_poll_interval_s(self) -> float: ...

    @property
    def relay_gap_grace_s(self) -> float: ...

    @property
    def webhook_allow_private(self) -> bool: ...

    @property
    def webhook_timeout_s(self) -> float: ...

    @property
    def webhook_max_attempts(self) -> int: ...

    @property
    def webhook_retry_base_s(self) -> float: ...

    @property
    def webhook_retry_max_s(self) -> float: ...

    @property
    def webhook_lease_s(self) -> float: ...

    @property
    def webhook_scan_interval_s(self) -> float: ...
