"""The authorization server's documents (DESIGN.md decision 12): clients, users, authorization codes, refresh
tokens, revocations, used assertion ids, login failures and the signing key. Plain store documents, not FHIR
resources; auth/ decides what they mean, this module only keeps them.

Secrets are never stored: client secrets, codes and refresh tokens are kept by their SHA-256 digest (they are
random, high-entropy strings), passwords by the argon2 hash auth/ computes. Every expiring document has an
``expireAt`` date under a TTL index, and the code checks expiry itself too (a TTL sweep runs once a minute).

Revocations are a small append-only collection every instance polls (``revocations_since``), so a revoked token
or a disabled client is refused everywhere within the poll interval at one round trip per interval — not one
per request. They are not outbox events: the outbox is per tenant and every event consumer (webhooks, FHIR
Subscriptions, GraphQL subscriptions) would have to skip them.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from store.driver import call
from store.metrics import AUTH_REVOCATIONS

CLIENTS, USERS, CODES, REFRESH = "oauth_clients", "oauth_users", "oauth_codes", "oauth_refresh"
REVOCATIONS, ASSERTIONS, FAILURES, KEYS, LAUNCHES, FAMILIES = (
    "oauth_revocations", "oauth_assertions", "oauth_login_failures", "oauth_keys", "oauth_launches",
    "oauth_revoked_families")


def digest(secret: str) -> str:
    """How a random secret (client secret, code, refresh token) is looked up: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _at(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


class IdentityStore:
    def __init__(self, db: AsyncDatabase[Any]):
        self._db = db

    async def ensure_indexes(self) -> None:
        for name in (CODES, REFRESH, ASSERTIONS, FAILURES, LAUNCHES, REVOCATIONS, FAMILIES):
            await call(self._db[name].create_index("expireAt", expireAfterSeconds=0, name="ttl"))
        await call(self._db[REFRESH].create_index([("family", ASCENDING)], name="family"))
        await call(self._db[REFRESH].create_index([("client_id", ASCENDING), ("user", ASCENDING)],
                                                  name="client_user"))
        await call(self._db[REVOCATIONS].create_index([("at", ASCENDING)], name="at"))
        await call(self._db[USERS].create_index([("tenant", ASCENDING), ("fhir_user", ASCENDING)],
                                                name="tenant_fhir_user"))
        await call(self._db[CLIENTS].create_index([("api_key", ASCENDING)], name="api_key", unique=True,
                                                  sparse=True))

    # --- clients and users ---------------------------------------------------------------------------------

    async def add_client(self, doc: dict[str, Any]) -> None:
        await call(self._db[CLIENTS].insert_one(doc))

    async def client(self, client_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await call(self._db[CLIENTS].find_one({"_id": client_id}))
        return found

    async def client_by_key(self, key_digest: str) -> dict[str, Any] | None:
        """The client an API key (by its digest) belongs to."""
        found: dict[str, Any] | None = await call(self._db[CLIENTS].find_one({"api_key": key_digest},
                                                                             {"secret": 0}))
        return found

    async def clients(self, tenant: str, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"tenant": tenant}
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self._db[CLIENTS].find(query, {"secret": 0, "api_key": 0}).sort("_id", ASCENDING).limit(limit)
        found: list[dict[str, Any]] = await call(cursor.to_list())
        return found

    async def set_client(self, client_id: str, tenant: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await call(self._db[CLIENTS].find_one_and_update(
            {"_id": client_id, "tenant": tenant}, {"$set": fields}, projection={"secret": 0},
            return_document=ReturnDocument.AFTER))
        return found

    async def add_user(self, doc: dict[str, Any]) -> bool:
        """False when the tenant already has a user of that name."""
        try:
            await call(self._db[USERS].insert_one(doc))
        except DuplicateKeyError:
            return False
        return True

    async def user(self, tenant: str, username: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await call(self._db[USERS].find_one({"_id": f"{tenant}/{username}"}))
        return found

    # --- login throttling ----------------------------------------------------------------------------------

    async def failures(self, key: str) -> int:
        found = await call(self._db[FAILURES].find_one({"_id": key}))
        return int(found["count"]) if found else 0

    async def failed(self, key: str, window_s: float) -> int:
        doc = await call(self._db[FAILURES].find_one_and_update(
            {"_id": key}, {"$inc": {"count": 1}, "$setOnInsert": {"expireAt": _at(window_s)}},
            upsert=True, return_document=ReturnDocument.AFTER))
        return int(doc["count"]) if doc else 1

    async def succeeded(self, key: str) -> None:
        await call(self._db[FAILURES].delete_one({"_id": key}))

    # --- authorization codes and launch contexts (single use) ----------------------------------------------

    async def add_code(self, code: str, doc: dict[str, Any], ttl_s: float) -> None:
        await call(self._db[CODES].insert_one({**doc, "_id": digest(code), "expireAt": _at(ttl_s)}))

    async def spend_code(self, code: str) -> tuple[str, dict[str, Any] | None]:
        """``("fresh", doc)`` the first time a code is presented (marked spent in the same step: a code is used
        once); ``("reused", doc)`` for a code spent before — RFC 6749 §4.1.2: refused, and what it yielded should
        be revoked; ``("unknown", None)`` for a code never issued or expired. A spent code's document stays until
        its expiry, so a replay is told from a guess."""
        key = digest(code)
        found: dict[str, Any] | None = await call(self._db[CODES].find_one_and_update(
            {"_id": key, "used": {"$ne": True}}, {"$set": {"used": True}}))
        if found is not None:
            return ("fresh", found) if found["expireAt"] > datetime.now(UTC) else ("unknown", None)
        spent: dict[str, Any] | None = await call(self._db[CODES].find_one({"_id": key}))
        if spent is not None and spent.get("used") and spent["expireAt"] > datetime.now(UTC):
            return "reused", spent
        return "unknown", None

    async def add_launch(self, launch: str, doc: dict[str, Any], ttl_s: float) -> None:
        await call(self._db[LAUNCHES].insert_one({**doc, "_id": digest(launch), "expireAt": _at(ttl_s)}))

    async def launch(self, launch: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await call(self._db[LAUNCHES].find_one({"_id": digest(launch)}))
        if found is None or found["expireAt"] <= datetime.now(UTC):
            return None
        return found

    # --- refresh tokens ------------------------------------------------------------------------------------

    async def add_refresh(self, token: str, doc: dict[str, Any], ttl_s: float) -> None:
        await call(self._db[REFRESH].insert_one({**doc, "_id": digest(token), "used": False,
                                                 "expireAt": _at(ttl_s)}))

    async def use_refresh(self, token: str) -> tuple[str, dict[str, Any] | None]:
        """Mark a refresh token used, atomically: ``("ok", doc)`` the first time, ``("replayed", doc)`` when it
        was used before (the caller revokes its family), ``("unknown", None)`` when unknown or expired."""
        key = digest(token)
        doc: dict[str, Any] | None = await call(self._db[REFRESH].find_one_and_update(
            {"_id": key, "used": False}, {"$set": {"used": True}}))
        if doc is not None:
            expired = doc["expireAt"] <= datetime.now(UTC)
            return ("unknown", None) if expired else ("ok", doc)
        used: dict[str, Any] | None = await call(self._db[REFRESH].find_one({"_id": key}))
        return ("replayed", used) if used is not None else ("unknown", None)

    async def refresh_doc(self, token: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await call(self._db[REFRESH].find_one({"_id": digest(token)}))
        return found

    async def mark_family_revoked(self, family: str, ttl_s: float) -> None:
        """Remember, for as long as its refresh tokens could live, that a refresh-token family was revoked."""
        await call(self._db[FAMILIES].update_one({"_id": family}, {"$set": {"expireAt": _at(ttl_s)}}, upsert=True))

    async def family_revoked(self, family: str) -> bool:
        return await call(self._db[FAMILIES].find_one({"_id": family}, {"_id": 1})) is not None

    async def drop_codes(self, client_id: str, user: str) -> None:
        """Forget the unused codes a user's sign-in gave a client (the grant was revoked)."""
        await call(self._db[CODES].delete_many({"client_id": client_id, "user.subject": user}))

    async def drop_refresh(self, **match: str) -> int:
        """Delete the refresh tokens matching ``match`` (``family=...``, ``client_id=...``, ``user=...``)."""
        res = await call(self._db[REFRESH].delete_many(dict(match)))
        return int(res.deleted_count)

    # --- replay of client assertions -----------------------------------------------------------------------

    async def first_use(self, client_id: str, jti: str, ttl_s: float) -> bool:
        """True the first time ``jti`` is presented by ``client_id`` within ``ttl_s``; False on a replay."""
        try:
            await call(self._db[ASSERTIONS].insert_one({"_id": f"{client_id}/{jti}", "expireAt": _at(ttl_s)}))
        except DuplicateKeyError:
            return False
        return True

    # --- revocations (polled by every instance) ------------------------------------------------------------

    async def revoke(self, kind: str, value: str, ttl_s: float) -> None:
        """Append a revocation: ``kind`` is ``jti`` (one access token), ``family`` (the access tokens of a
        refresh-token family), ``client`` (every token of a client) or ``grant`` (``client_id user``). It lives
        ``ttl_s`` (the longest an access token it concerns can still be valid)."""
        await call(self._db[REVOCATIONS].insert_one({"kind": kind, "value": value, "at": datetime.now(UTC),
                                                     "expireAt": _at(ttl_s)}))
        AUTH_REVOCATIONS.labels(kind).inc()

    async def revocations_since(self, since: datetime) -> list[dict[str, Any]]:
        """Revocations recorded at or after ``since`` (pollers overlap their windows: a revocation written
        with an earlier clock than one already seen is still found; applying one twice changes nothing)."""
        cursor = self._db[REVOCATIONS].find({"at": {"$gte": since}}, {"kind": 1, "value": 1, "at": 1})
        found: list[dict[str, Any]] = await call(cursor.sort("at", ASCENDING).to_list())
        return found

    # --- the signing key -----------------------------------------------------------------------------------

    async def shared_secret(self, name: str, candidate: str) -> str:
        """A server secret every instance shares (``candidate`` when none was stored before): the key the
        qapi's visit links are derived from when no setting gives one."""
        with contextlib.suppress(DuplicateKeyError):
            await call(self._db[KEYS].insert_one({"_id": f"secret/{name}", "value": candidate}))
        found = await call(self._db[KEYS].find_one({"_id": f"secret/{name}"}))
        return str(found["value"]) if found else candidate

    async def signing_key(self, candidate: dict[str, Any]) -> dict[str, Any]:
        """The shared signing key (a private JWK): ``candidate`` when no instance stored one before, else the
        stored one — instances starting together agree on the first insert."""
        with contextlib.suppress(DuplicateKeyError):
            await call(self._db[KEYS].insert_one({"_id": "signing", "jwk": candidate}))
        found = await call(self._db[KEYS].find_one({"_id": "signing"}))
        key: dict[str, Any] = found["jwk"] if found else candidate
        return key
