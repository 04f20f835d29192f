"""The server's clock, in the two FHIR instant shapes it writes."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def now_instant() -> str:
    """Now as a FHIR instant with milliseconds (``meta.lastUpdated``): ``2026-12-01T19:06:44.123Z``."""
    return utc_now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def instant(moment: datetime) -> str:
    """A moment as a FHIR dateTime to the second, in UTC when aware: ``2026-12-01T19:06:44Z``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_seconds() -> str:
    """Now as a FHIR dateTime to the second (``recordedDate``, ``created``)."""
    return instant(utc_now())
