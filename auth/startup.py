"""Starting the authorization server: the signing key, the token verifier on the authenticator, the revocation
watcher. Called by the composition root's lifespan."""

from __future__ import annotations

from typing import Protocol

from auth.authenticator import Authenticator
from auth.client_keys import ClientKeys
from auth.oauth import OAuth
from auth.server import Lifetimes
from auth.signing import Signer
from auth.tokens import AccessTokens, RevocationWatcher
from store.repository import Repository


class OAuthSettings(Protocol):
    @property
    def access_token_lifetime_s(self) -> int: ...
    @property
    def refresh_token_lifetime_s(self) -> int: ...
    @property
    def authorization_code_lifetime_s(self) -> int: ...
    @property
    def signing_key_file(self) -> str: ...
    @property
    def revocation_poll_s(self) -> float: ...
    @property
    def login_max_failures(self) -> int: ...
    @property
    def login_lockout_s(self) -> int: ...
    @property
    def jwks_allow_private(self) -> bool: ...


async def start_oauth(repo: Repository, authenticator: Authenticator, settings: OAuthSettings) -> OAuth:
    identity = repo.identity
    if settings.signing_key_file:
        signer = Signer.from_file(settings.signing_key_file)
    else:
        signer = Signer(await identity.signing_key(Signer.generate()))
    tokens = AccessTokens(signer)
    lifetimes = Lifetimes(access_s=settings.access_token_lifetime_s, refresh_s=settings.refresh_token_lifetime_s,
                          code_s=settings.authorization_code_lifetime_s)
    watcher = RevocationWatcher(identity, tokens, interval_s=settings.revocation_poll_s,
                                horizon_s=settings.access_token_lifetime_s + 60)
    await watcher.start()
    authenticator.tokens = tokens
    authenticator.client_keys = ClientKeys(identity)
    tokens.listeners.append(authenticator.client_keys.revoked)
    return OAuth(identity=identity, signer=signer, tokens=tokens, repo=repo, authenticator=authenticator,
                 lifetimes=lifetimes, watcher=watcher, max_failures=settings.login_max_failures,
                 lockout_s=settings.login_lockout_s, jwks_allow_private=settings.jwks_allow_private)
