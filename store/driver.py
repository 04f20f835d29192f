"""Where driver errors become domain errors (CONVENTIONS habit 4): nothing above the store sees PyMongo."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractContextManager
from typing import TypeVar

import pymongo
from pymongo import _csot
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


def deadline(seconds: float | None) -> AbstractContextManager[None]:
    """Every store operation inside the block shares one deadline, ``seconds`` from now (None: none): PyMongo's
    client-side operation timeout (https://pymongo.readthedocs.io/en/stable/examples/timeouts.html) covers server
    selection, connection checkout, the server's execution (sent as ``maxTimeMS``) and the wait for the reply.
    Past it the driver raises a timeout error, which the store reports as ``Unavailable``."""
    return pymongo.timeout(seconds)


def current_deadline() -> float | None:
    """The ``time.monotonic()`` instant the caller's deadline ends, or None when it has none. (PyMongo keeps it
    in a context variable; it has no public getter.)"""
    return _csot.get_deadline() if _csot.get_timeout() else None


async def detached(operation: Awaitable[T], seconds: float) -> T:
    """Await ``operation`` outside the caller's deadline, under one of ``seconds`` of its own: each read of a long
    streamed response (an export file) gets a whole deadline, not what is left of the request's."""

    async def run() -> T:
        with deadline(seconds):
            return await operation

    return await asyncio.create_task(run(), context=contextvars.Context())


async def paced(steps: AsyncIterator[T], seconds: float) -> AsyncIterator[T]:
    """``steps`` with each step after the first awaited outside the caller's deadline, under one of ``seconds``
    of its own (``detached``): a long streamed response (a report, page after page) is not cut at the request's
    deadline, while its first step — before anything is sent — stays under it and can still fail cleanly."""
    first = True
    while True:
        try:
            item = await anext(steps) if first else await detached(anext(steps), seconds)
        except StopAsyncIteration:
            return
        first = False
        yield item
