"""Every setting, read in one place: environment variables prefixed ``FHIRGRAPH_`` plus ``MONGODB_URI``."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.cors import LOOPBACK, parse_origins
from app.ratelimit import parse_limits
from auth.api_keys import ApiKeys
from store.types import check_tenant


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FHIRGRAPH_", extra="ignore", populate_by_name=True)

    # Unset: `serve` starts the embedded devdb (trials and tests only).
    mongodb_uri: str | None = Field(default=None, validation_alias=AliasChoices("MONGODB_URI"))
    # The password of MONGODB_URI's user, kept out of the URI: in production a file, FHIRGRAPH_SECRETS_DIR's
    # fhirgraph_mongodb_password (a compose secret), like every other FHIRGRAPH_ setting may be.
    mongodb_password: SecretStr | None = None
    # The embedded devdb's data directory (`serve --data-dir`, `devdb --data-dir`): its write-ahead log and
    # snapshots, kept across restarts. Unset: in memory, lost at exit. Ignored with MONGODB_URI set.
    data_dir: str | None = None
    db_name: str = "fhirgraph"
    host: str = "127.0.0.1"
    port: int = 8000
    # Public base URL used in Bundle links and Location headers; derived from the request when empty, and then
    # only from a Host header naming one of ``allowed_hosts`` (loopback names when that is empty too).
    base_url: str = ""
    # Host names (optionally host:port) the server answers to, comma-separated; others get 400.
    allowed_hosts: str = ""
    # Browser origins allowed to call the APIs and open the GraphQL websocket (CORS, app/cors.py), comma-separated:
    # "https://app.example", "http://localhost:*" (any port), "*" (any origin), empty none. Unset: none in
    # production, this machine's loopback origins in trial. Credentials (cookies, fetch's credentials: "include")
    # only for origins named one by one; bearer tokens and keys are headers and need none. Preflights are cached
    # by browsers for cors_max_age_s.
    cors_origins: str = ""
    cors_credentials: bool = False
    cors_max_age_s: int = Field(default=600, ge=0, le=86_400)
    default_tenant: str = "default"
    default_subject: str = "system"
    # Until OAuth lands: anonymous callers act as the default tenant (trials); set false in production.
    allow_anonymous: bool = True
    # "<key>=<tenant>[:<subject>],..." — API keys for integrators; keep them in the environment.
    api_keys: str = ""
    max_body_bytes: int = 5 * 1024 * 1024
    default_page_size: int = 20
    # FHIR transaction and batch Bundles (POST [base]): at most this many entries (over it → 400).
    bundle_max_entries: int = Field(default=500, ge=1, le=10_000)
    # Bulk Data export (fhir_rest/bulk/): files and jobs are kept this long after completion; the Retry-After
    # clients are asked to wait between status requests; a file is split past this many bytes; a worker's lease
    # on a job (renewed at every chunk; a dead worker's job is resumed by another once it lapses); how often
    # each instance looks for a job to work.
    export_keep_s: float = Field(default=3600.0, ge=10)
    export_retry_after_s: float = Field(default=2.0, gt=0, le=3600)
    export_file_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    export_lease_s: float = Field(default=30.0, ge=1)
    export_scan_interval_s: float = Field(default=1.0, gt=0)
    max_page_size: int = 100
    log_level: str = "INFO"
    # production (the default with MONGODB_URI set) or trial (the embedded devdb): what the three settings
    # below default to — JSON lines or readable text, GraphiQL and introspection off or on.
    environment: Literal["production", "trial"] = "trial"
    log_format: Literal["json", "text"] = "text"
    # /metrics without credentials (a scraper on a private network); otherwise it needs an API key or token.
    metrics_public: bool = False
    # When set, `serve` also exposes /metrics (only) on this port, for a scraper on a private network.
    metrics_port: int | None = None
    # Deadlines: every store operation of a request (MongoDB's client-side operation timeout), /health's ping,
    # and reading a request's headers / its whole body (from when the headers have arrived) from a slow client.
    db_timeout_s: float = 5.0
    health_timeout_s: float = 1.0
    http_header_timeout_s: float = 10.0
    http_body_timeout_s: float = 60.0
    graphiql: bool = True
    introspection: bool = True
    # `serve`: seconds a stop signal waits for open requests and websockets to finish before they are cut.
    shutdown_timeout_s: int = Field(default=20, ge=0)
    # Prometheus metrics of every request (off only for benches: /metrics still answers).
    metrics: bool = True
    graphql_max_depth: int = 12
    graphql_max_tokens: int = 5000
    graphql_max_aliases: int = 30
    # Objects an operation may build (graph/limits.py): a page of 100 patients with their relations at the default
    # page sizes (about 60,000) passes; a million nested rows does not.
    graphql_max_cost: int = 100_000
    webhook_allow_private: bool = False
    # Backend-services clients registered with a JWKS URL: may it resolve to a private or loopback address?
    # Off: the URL must reach the public internet (as webhook endpoints), so a client cannot make us probe ours.
    jwks_allow_private: bool = False
    subscriptions_per_connection: int = 50
    connection_init_timeout_s: float = 5.0
    relay_poll_interval_s: float = 0.2
    # Live events (subscriptions/): how long a sequence gap is awaited before it is skipped, the legacy
    # `graphql-ws` subprotocol, and webhook delivery (retries with backoff, leases across instances).
    relay_gap_grace_s: float = 1.0
    graphql_legacy_ws: bool = False
    # permessage-deflate on websockets: off by default — events are small JSON, and compressing each frame for
    # each subscriber costs more CPU than the bytes it saves on a fan-out to many dashboards.
    ws_compression: bool = False
    # Python's cyclic garbage collector thresholds (generation 0, 1, 2), set after start-up.
    gc_thresholds: tuple[int, int, int] = (50_000, 50, 100)
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 8
    webhook_retry_base_s: float = 1.0
    webhook_retry_max_s: float = 300.0
    webhook_lease_s: float = 30.0
    webhook_scan_interval_s: float = 2.0
    idempotency_ttl_s: int = 24 * 3600
    # The OAuth 2.0 / SMART authorization server (auth/): token lifetimes (seed 000: 15-minute access tokens;
    # seed 001: refresh tokens for 90 days), the signing key (a private JWK or PEM RSA key file — a compose
    # secret in production; unset: one key generated and shared through the store), how often each instance
    # polls revocations, and sign-in throttling (failures per user within the lockout window).
    # The PHI audit trail (auth/audit.py): on by default; batches of at most audit_batch_size records written
    # every audit_interval_s; past audit_max_pending records held (the store away), PHI requests wait, then 503.
    # audit_writer: where the AuditEvents are built and stored — "process": a child process of each app process
    # (app/audit_writer.py), off the event loop that serves the reads; "inline": in the app's own process.
    audit: bool = True
    audit_writer: Literal["process", "inline"] = "process"
    audit_batch_size: int = Field(default=500, ge=1, le=10_000)
    audit_interval_s: float = Field(default=0.2, gt=0, le=10)
    audit_max_pending: int = Field(default=100_000, ge=100)
    access_token_lifetime_s: int = Field(default=900, ge=60, le=24 * 3600)
    refresh_token_lifetime_s: int = Field(default=90 * 24 * 3600, ge=3600)
    authorization_code_lifetime_s: int = Field(default=60, ge=10, le=600)
    signing_key_file: str = ""
    revocation_poll_s: float = Field(default=0.25, gt=0, le=5)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_s: int = Field(default=900, ge=1)
    # Seed 000's rate limit: requests per minute per tenant (clinic), 0 = none; "<tenant>=<n>,..." per tenant;
    # how often each instance shares its counts with the others through the store (app/ratelimit.py).
    rate_limit_per_minute: int = Field(default=1000, ge=0)
    # The vendor API (seed 002): the key its visit links are derived from (HMAC; unset: one generated and
    # shared through the store), where those links point (unset: <base>/visits), and the per-practice secrets of
    # context-aware linking, "tenant=secret,..." (never logged).
    qapi_link_secret: SecretStr = SecretStr("")
    qapi_visit_base_url: str = ""
    qapi_linking_secrets: SecretStr = SecretStr("")
    rate_limits: str = ""
    rate_limit_sync_interval_s: float = Field(default=0.25, gt=0, le=10)

    @property
    def tracing(self) -> bool:
        """OpenTelemetry traces: asked for by the standard OTEL_* variables, and the otel extra installed."""
        from app import tracing

        return tracing.wanted() and tracing.installed()

    @property
    def mongo_password(self) -> str | None:
        return self.mongodb_password.get_secret_value() if self.mongodb_password is not None else None

    @model_validator(mode="before")
    @classmethod
    def _environment_defaults(cls, data: Any) -> Any:
        """What ``environment`` implies for the settings left unset."""
        if not isinstance(data, dict):
            return data
        given = {str(k).lower(): v for k, v in data.items()}
        environment = given.get("environment") or ("production" if given.get("mongodb_uri") else "trial")
        production = environment == "production"
        implied = {"environment": environment, "log_format": "json" if production else "text",
                   "graphiql": not production, "introspection": not production,
                   "cors_origins": "" if production else LOOPBACK}
        return {**{k: v for k, v in implied.items() if k not in given}, **data}

    @field_validator("default_tenant")
    @classmethod
    def _tenant_name(cls, value: str) -> str:
        return check_tenant(value)

    @field_validator("signing_key_file")
    @classmethod
    def _signing_key(cls, value: str) -> str:
        if value:
            from auth.signing import Signer

            try:
                Signer.from_file(value)
            except OSError:
                raise ValueError("cannot read the file") from None
            except Exception:  # noqa: BLE001 - whatever the key library says, the message must not quote the key
                raise ValueError("not a private RSA key (a JWK or PEM)") from None
        return value

    @field_validator("cors_credentials")
    @classmethod
    def _cors_credentials(cls, value: bool, info: ValidationInfo) -> bool:
        if value and parse_origins(info.data.get("cors_origins", "")).any:
            raise ValueError("credentials need FHIRGRAPH_CORS_ORIGINS named one by one, not *")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: str) -> str:
        parse_origins(value)
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_keys(cls, value: str) -> str:
        ApiKeys(value)  # refused at start-up, not at the first request
        return value

    @field_validator("qapi_linking_secrets")
    @classmethod
    def _linking_secrets(cls, value: SecretStr) -> SecretStr:
        for item in filter(None, (s.strip() for s in value.get_secret_value().split(","))):
            tenant, _, secret = item.partition("=")
            if not secret:
                raise ValueError("each item is tenant=secret")
            check_tenant(tenant.strip())
        return value

    @field_validator("rate_limits")
    @classmethod
    def _rate_limits(cls, value: str) -> str:
        parse_limits(value)
        return value


def problems(error: ValidationError) -> list[str]:
    """One line per invalid setting: its variable and what is wrong, never its value (it may be a secret)."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        name = "_".join(str(part) for part in item["loc"]).upper()
        variable = name if name == "MONGODB_URI" else f"FHIRGRAPH_{name}"
        lines.append(f"{variable}: {str(item['msg']).removeprefix('Value error, ')}")
    return lines


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """From the environment and, when FHIRGRAPH_SECRETS_DIR names a directory (compose: /run/secrets), from files
    in it named after the variables in lower case (``fhirgraph_api_keys``): secrets stay out of the environment."""
    secrets_dir = os.environ.get("FHIRGRAPH_SECRETS_DIR") or None
    return Settings(_secrets_dir=secrets_dir)  # type: ignore[call-arg]
