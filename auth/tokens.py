"""Access tokens: signed JWTs every instance verifies locally, and the deny list that revokes them.

A token is verified once per instance (signature, issuer, expiry) and its principal remembered until it
expires, so the hot path costs a dictionary lookup, an expiry check and an audience comparison — no store round
trip. Revocations reach every instance through the store (``RevocationWatcher`` polls ``oauth_revocations``
every ``interval`` seconds) and empty the remembered principals, so a revoked token is refused everywhere
within about one interval. A revocation names a token (``jti``), a refresh-token family, a client or a grant
(client and user); it refuses the tokens issued at or before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from auth.principal import Principal
from auth.signing import Signer
from store.identity import IdentityStore
from store.logs import described

log = logging.getLogger("fhirgraph.auth")

CACHE_MAX = 50_000


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int


class AccessTokens:
    def __init__(self, signer: Signer, *, clock: Callable[[], float] = time.time):
        self.signer = signer
        self._clock = clock
        self._known: dict[str, tuple[Principal, str, str, float]] = {}  # token → principal, aud, issuer, iat
        self._revoked: dict[tuple[str, str], float] = {}  # (kind, value) → when (epoch seconds)
        self.listeners: list[Callable[[str, str], None]] = []  # others that remember credentials (API keys)

    def issue(self, *, issuer: str, audience: str, tenant: str, subject: str, client_id: str, scope: str,
              lifetime_s: int, user: str | None = None, patient: str | None = None,
              family: str | None = None, extra: dict[str, Any] | None = None) -> Issued:
        issued = self._clock()
        now = int(issued)
        jti = secrets.token_urlsafe(16)
        # ``ts``: when it was issued, to the millisecond — a revocation refuses the tokens issued before it, and a
        # user who signs in again in the same second gets a working one (``iat`` counts whole seconds).
        claims: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "ts": int(issued * 1000),
                                  "exp": now + lifetime_s, "jti": jti, "client_id": client_id, "scope": scope,
                                  "tenant": tenant, **(extra or {})}
        if user:
            claims["fhirUser"] = user
        if patient:
            claims["patient"] = patient
        if family:
            claims["fam"] = family
        return Issued(self.signer.sign(claims), lifetime_s)

    def claims(self, token: str) -> dict[str, Any] | None:
        """The verified claims of one of our tokens, still valid and not revoked (introspection); else None."""
        claims = self.signer.verify(token)
        if claims is None or not _shaped(claims) or claims["exp"] <= self._clock() or self._is_revoked(claims):
            return None
        return claims

    def principal(self, token: str, audiences: tuple[str, ...], issuer: str) -> Principal | None:
        """The principal of a valid token meant for one of ``audiences``; None for anything else."""
        known = self._known.get(token)
        if known is None:
            claims = self.claims(token)
            if claims is None:
                return None
            known = (principal_of_claims(claims), str(claims["aud"]), str(claims["iss"]), float(claims["iat"]))
            if len(self._known) >= CACHE_MAX:
                self._known.clear()
            self._known[token] = known
        principal, aud, iss, _ = known
        expires_at = principal.expires_at
        if (expires_at is not None and expires_at <= self._clock()) or aud not in audiences or iss != issuer:
            return None
        return principal

    def revoked(self, kind: str, value: str, at: float) -> None:
        """Apply a revocation (from the watcher, or at once on the instance that recorded it)."""
        key = (kind, value)
        if self._revoked.get(key, -1.0) < at:
            self._revoked[key] = at
            self._known.clear()  # rare: every remembered token is verified again against the deny list
            for listener in self.listeners:
                listener(kind, value)

    def forget_before(self, when: float) -> None:
        """Drop revocations older than any token still valid (they can refuse nothing any more)."""
        self._revoked = {k: at for k, at in self._revoked.items() if at >= when}

    def _is_revoked(self, claims: dict[str, Any]) -> bool:
        if not self._revoked:
            return False
        ts = claims.get("ts")
        iat = ts / 1000 if isinstance(ts, int) else float(claims["iat"])
        # A token, or a refresh-token family, once revoked stays so; a client or a grant refuses what it issued
        # before (a re-enabled client or a user signing in again gets working tokens).
        if ("jti", str(claims["jti"])) in self._revoked:
            return True
        if claims.get("fam") and ("family", str(claims["fam"])) in self._revoked:
            return True
        checks = (("client", str(claims["client_id"])), ("grant", f"{claims['client_id']} {claims['sub']}"))
        return any((at := self._revoked.get(key)) is not None and iat <= at for key in checks)


def _shaped(claims: dict[str, Any]) -> bool:
    return (all(isinstance(claims.get(name), str) for name in ("iss", "aud", "sub", "jti", "client_id", "scope",
                                                              "tenant"))
            and all(isinstance(claims.get(name), int) for name in ("iat", "exp")))


def principal_of_claims(claims: dict[str, Any]) -> Principal:
    return Principal(tenant=claims["tenant"], subject=claims["sub"], scopes=frozenset(claims["scope"].split()),
                     via="token", client_id=claims["client_id"], user=claims.get("fhirUser"),
                     patient=claims.get("patient"), token_id=claims["jti"], expires_at=float(claims["exp"]))


class RevocationWatcher:
    """Polls the store's revocations and applies them to this instance's ``AccessTokens``."""

    OVERLAP_S = 5.0  # a revocation stamped by a slightly late clock is still found by the next polls

    def __init__(self, identity: IdentityStore, tokens: AccessTokens, *, interval_s: float, horizon_s: float):
        self._identity = identity
        self._tokens = tokens
        self._interval = interval_s
        self._horizon = horizon_s  # the longest an access token lives: older revocations refuse nothing
        self._task: asyncio.Task[None] | None = None
        self._since = datetime.now(UTC) - timedelta(seconds=horizon_s)
        self._failing = False
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self.poll()
        self._task = asyncio.create_task(self._run(), name="revocations")

    async def stop(self) -> None:
        """Between polls, not during one (a store call cut short would leave its connection to a closed loop)."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def poll(self) -> None:
        started = datetime.now(UTC)
        for doc in await self._identity.revocations_since(self._since):
            at = doc["at"] if doc["at"].tzinfo else doc["at"].replace(tzinfo=UTC)
            self._tokens.revoked(doc["kind"], doc["value"], at.timestamp())
        self._since = started - timedelta(seconds=self.OVERLAP_S)
        self._tokens.forget_before(time.time() - self._horizon - self.OVERLAP_S)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._stopping.is_set():
                return
            try:
                await self.poll()
                if self._failing:
                    log.info("revocations: polling again")
                self._failing = False
            except Exception as exc:  # noqa: BLE001 - the store away, or anything else: keep polling, say so once
                if not self._failing:
                    log.warning("revocations: cannot poll the store (%s)", described(exc))
                self._failing = True
