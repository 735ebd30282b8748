"""Every knob of the process, in one place (environment prefix WINBACK_).

Business thresholds live in the policy (app/policy), not here: they are per deployment data that an
admin changes over the API. These settings are about running the process.
"""

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WINBACK_", extra="ignore")

    # No URL means: start the embedded PostgreSQL (pgserver) under data_dir.
    database_url: str | None = None
    data_dir: Path = Path(".winback")
    admin_key: str | None = Field(default=None, repr=False)
    # Signs dashboard session cookies and encrypts webhook secrets at rest (app/kit/secrets.py).
    # Set it, the same on every process, when several hosts share one database; without it a
    # random key is created once in data_dir/secret.key.
    secret_key: str | None = Field(default=None, repr=False, min_length=32)

    host: str = "127.0.0.1"
    port: int = 8000
    # `winback serve` runs the worker loop in-process unless told not to (production runs it apart).
    run_worker: bool = True
    # API processes of `winback serve` (`--workers` overrides); above 1 the worker loop runs as
    # one separate child process instead (docs/scaling.md#several-api-processes)
    web_workers: int = Field(default=1, ge=1, le=64)

    # sized for ~40 concurrent requests per process, so bursts do not open and close connections
    db_pool_size: int = 40
    db_max_overflow: int = 10
    # A pre-ping costs three round trips per checkout with asyncpg; connections are recycled
    # instead, and a dead one fails its request (not acknowledged, so nothing is lost).
    db_pre_ping: bool = False
    db_recycle_seconds: int = 300
    # How long an API request may wait on the database before it answers 503 + Retry-After
    # (never a hang): to connect, for a pooled connection, and for one statement. The worker has
    # no statement limit (a population refresh at 1,000,000 clients takes over a minute).
    db_connect_timeout_seconds: float = 5.0
    db_pool_timeout_seconds: float = 10.0
    db_statement_timeout_seconds: float = 30.0

    max_body_bytes: int = 1_048_576
    max_batch_body_bytes: int = 8_388_608
    max_batch_events: int = 1000
    # Single events that arrive while others are being written are written together
    # (app.ingest.groups): at most this many in one transaction, and at most this many such
    # transactions at a time in one API process (each holds a connection). 1 and 1: every
    # event in a transaction of its own, one at a time.
    event_group_max_events: int = 200
    event_groups_in_flight: int = 2

    # how long a process trusts its cached policy and tier thresholds
    snapshot_ttl_seconds: float = 2.0

    # Rate limits per API key and class of route (requests per second, burst). Per process:
    # with N API processes a key may reach N times these. 0 per second turns a class off.
    rate_limit_writes_per_second: float = 1000.0
    rate_limit_writes_burst: int = 2000
    rate_limit_reads_per_second: float = 200.0
    rate_limit_reads_burst: int = 400
    rate_limit_admin_per_second: float = 5.0
    rate_limit_admin_burst: int = 20

    sweep_interval_seconds: float = 60.0
    sweep_batch_size: int = 500
    # sweep batches in flight at once in one worker (each its own transaction; SKIP LOCKED keeps
    # them apart): the evaluation of one overlaps the database's writes of another. With several
    # worker processes, 1 each: the batches of all of them skip each other's rows (2 x 1 swept
    # 10,000 of 1,000,000 in 1.30-1.45 s on 2 cores, 2 x 2 in 1.46-1.93; docs/scaling.md)
    sweep_concurrency: int = Field(default=2, ge=1, le=16)
    # how often the worker re-makes the churn report's tally (docs/campaigns.md#reports): status
    # changes count in the report at once; a client's move to another group or a new value
    # shows from the next tally. A tally reads the whole history (2-4 s at 100,000 clients on
    # 2 cores): raise it for millions of clients.
    report_refresh_seconds: float = Field(default=60.0, gt=0)

    # Outgoing webhooks (docs/webhooks.md). Targets must be https and public addresses; for
    # development, http and chosen private networks (comma-separated, e.g. "127.0.0.1/32,
    # 10.0.0.0/8") can be let through. Checked at registration and at every delivery.
    webhook_allow_http: bool = False
    webhook_allowed_networks: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    webhook_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=120)  # the whole exchange
    # sends in flight per worker, and at most this many to one endpoint
    webhook_concurrency: int = Field(default=32, ge=1, le=1000)
    webhook_per_endpoint: int = Field(default=8, ge=1, le=1000)
    # how often the worker looks for new events and due retries (a finished send also wakes it)
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # a claimed delivery whose result was never recorded (its worker died) is sent again after
    # this long; longer than the timeout, so a slow send is never sent twice at once
    webhook_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    webhook_disable_after_seconds: float = Field(default=5 * 86400, gt=0)  # failing this long
    webhook_retention_days: float = Field(default=30.0, gt=0)  # outbox events, then deleted
    # after a secret rotation the old secret keeps signing this long (a rotation may say less)
    webhook_secret_overlap_seconds: float = Field(default=86400.0, ge=0, le=7 * 86400)
    # /readyz answers 503 when a message has waited longer than this to be sent (0: never)
    webhook_backlog_max_age_seconds: float = Field(default=600.0, ge=0)
    # `winback worker` serves its own /metrics on this port when set (its attempts counters)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # `winback worker` runs at this CPU niceness (0-19): on a host it shares with the API, the
    # sweeper and webhook delivery take the CPU requests leave idle instead of slowing them
    # (under saturation deliveries queue up, and /metrics shows the backlog). 0: no change.
    worker_nice: int = Field(default=10, ge=0, le=19)

    # Platform webhook signing secrets, comma-separated: two while rotating (add the new one,
    # switch the store over, remove the old one). None: that platform's endpoint answers 503.
    shopify_webhook_secrets: str | None = Field(default=None, repr=False)
    woocommerce_webhook_secrets: str | None = Field(default=None, repr=False)

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> "Settings":
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("webhook_lease_seconds must exceed webhook_timeout_seconds")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
