"""Every knob of the process, in one place (environment prefix WINBACK_).

Business thresholds live in the policy (app/policy), not here: they are per deployment data that an
admin changes over the API. These settings are about running the process.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    # Platform webhook signing secrets, comma-separated: two while rotating (add the new one,
    # switch the store over, remove the old one). None: that platform's endpoint answers 503.
    shopify_webhook_secrets: str | None = Field(default=None, repr=False)
    woocommerce_webhook_secrets: str | None = Field(default=None, repr=False)


@lru_cache
def get_settings() -> Settings:
    return Settings()
