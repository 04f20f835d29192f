"""Where driver errors become domain errors (CONVENTIONS habit 4): nothing above the store sees PyMongo."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from pymongo.errors import DuplicateKeyError, PyMongoError

from store.errors import Unavailable

log = logging.getLogger("fhirgraph.store")

T = TypeVar("T")


def unavailable(exc: PyMongoError) -> Unavailable:
    """The domain error for a driver error; no detail that could carry patient data is passed on."""
    log.error("database error: %s", type(exc).__name__)
    error = Unavailable()
    error.__cause__ = exc
    return error


async def call(awaitable: Awaitable[T]) -> T:
    """Await a driver call, its errors translated. A duplicate key passes through untranslated: the caller
    knows what it means (an idempotency key already claimed, a slot already booked)."""
    try:
        return await awaitable
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        raise unavailable(exc) from exc
