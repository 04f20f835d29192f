"""Idempotency keys of the GraphQL door's creates (seed 003: every create takes one; 409 on misuse).

A create sent again with the same key and the same input answers what the first call created instead of
creating it twice; the key reused with another input, or while the first call still runs, is ``CONFLICT``
(``field: idempotencyKey``). Keys are claimed in the store (store/idempotency.py, shared with the REST door's
Idempotency-Key values, which a prefix per operation keeps apart) and held for 24 hours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from resolvers.context import Scope
from store.errors import Conflict, Invalid

T = TypeVar("T")
MAX_KEY = 255


def fingerprint(f: dict[str, Any]) -> str:
    """What makes two calls under one key the same request: their input (enums by value)."""
    canonical = orjson.dumps({k: getattr(v, "value", v) for k, v in f.items()}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


async def once(ctx: Scope, operation: str, rt: str, key: str | None, f: dict[str, Any],
               create: Callable[[], Awaitable[tuple[T, dict[str, Any]]]],
               replay: Callable[[dict[str, Any]], Awaitable[T]]) -> T:
    """``create()`` once per ``key``: it answers (the result, what a repeat needs to answer it again); a repeat
    gets ``replay(what the first call kept)``. Without a key, simply ``create()``."""
    if key is None:
        return (await create())[0]
    if not key.strip() or len(key) > MAX_KEY:
        raise Invalid(f"idempotencyKey must be 1 to {MAX_KEY} characters", field="idempotencyKey")
    scoped, fp = f"graphql:{operation}:{key}", fingerprint(f)
    claim = await ctx.repo.claim_idempotency(ctx.who, rt, scoped, fp)
    if claim.owner is None:
        earlier = claim.earlier or {}
        if earlier.get("fp") != fp:
            raise Conflict("This idempotencyKey was used with a different input", field="idempotencyKey")
        if earlier.get("state") != "done":
            raise Conflict(f"A {operation} with this idempotencyKey is still in progress; retry shortly",
                           field="idempotencyKey")
        return await replay(earlier)
    try:
        answer, kept = await create()
    except BaseException:
        await ctx.repo.release_idempotency(ctx.who, scoped, claim.owner)
        raise
    await ctx.repo.complete_idempotency(ctx.who, scoped, claim.owner, kept)
    return answer
