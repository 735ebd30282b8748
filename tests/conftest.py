"""Real PostgreSQL for every database test.

- One database per xdist worker, migrated to head with the real Alembic migrations, on the server
  named by WINBACK_TEST_DATABASE_URL, or else on an embedded pgserver under .winback-test/ (shared
  by the xdist workers and stopped when the last of them is done).
- `session`: a connection-level transaction rolled back after each test; each request runs in a
  savepoint, so a request that fails leaves nothing behind, as in production.
- `committed`: for tests that need real commits (concurrency, worker); tables are emptied after.
- API keys are committed once per run; `headers["admin"]` etc. carry them.
- Time is pinned: `clock.now` is what the API sees as now.
"""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.service import create_key
from app.config import Settings
from app.db import create_engine, create_sessionmaker, get_session
from app.kit.deps import get_now
from app.main import create_app
from app.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DATA_TABLES = (
    "campaign_member",
    "campaign",
    "status_change",
    "event",
    "client",
    "policy",
    "population_stats",
    "model_fit",
    "erasure",
    "erased_event",
    "population_history",
    # the reports' tallies: a committed one left behind would serve the next test's reports
    "churn_tally",
    "loss_tally",
    "report_tally_state",
)


EMBEDDED_DIR = ROOT / ".winback-test"


def _server_url() -> str:
    configured = os.environ.get("WINBACK_TEST_DATABASE_URL")
    if configured:
        return configured
    from app import embedded

    # this process joins the embedded server's users (xdist workers share one server)
    return embedded.start(EMBEDDED_DIR)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """This process is done with the embedded server: the last one out (the last xdist worker,
    or the only process) stops it, so no PostgreSQL outlives the test run."""
    from app import embedded

    embedded.release(EMBEDDED_DIR)


def _asyncpg_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


async def _recreate_database(server_url: str, name: str) -> str:
    connection = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def worker_name(request: pytest.FixtureRequest) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    # WINBACK_TEST_DB_PREFIX lets two checkouts share one server without dropping each other's db
    prefix = os.environ.get("WINBACK_TEST_DB_PREFIX", "winback_test")
    return f"{prefix}_{worker}"


@pytest.fixture(scope="session")
async def server_url() -> str:
    return await asyncio.to_thread(_server_url)


@pytest.fixture(scope="session")
async def database_url(server_url: str, worker_name: str) -> str:
    url = await _recreate_database(server_url, worker_name)
    await upgrade(url)
    return url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=10, max_overflow=30)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture(scope="session")
async def keys(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    scopes = {
        "admin": ["admin"],
        "writer": ["events:write"],
        "reader": ["clients:read"],
        "campaigns": ["campaigns:write"],
        "service": ["events:write", "clients:read"],
    }
    out = {}
    async with sessionmaker() as session, session.begin():
        for name, scope in scopes.items():
            _, key = await create_key(session, f"test {name}", scope, NOW)
            out[name] = key
    return out


@pytest.fixture(scope="session")
def headers(keys: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"Authorization": f"Bearer {key}"} for name, key in keys.items()}


@dataclass
class Clock:
    now: datetime = NOW


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


def test_settings(**overrides: Any) -> Settings:
    return Settings(
        database_url="postgresql://unused", run_worker=False, snapshot_ttl_seconds=0, **overrides
    )


def build_app(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    **settings: Any,
) -> Any:
    app = create_app(test_settings(**settings))
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.dependency_overrides[get_now] = lambda: clock.now
    return app


def share_session(app: Any, session: AsyncSession) -> Any:
    """Make every transaction of `app` a savepoint of the test's rolled-back one: the requests',
    a streamed CSV's (its sessionmaker) and the group commit's of single events."""

    @contextlib.asynccontextmanager
    async def shared_session() -> AsyncIterator[AsyncSession]:
        async with session.begin_nested():
            yield session

    async def request_session() -> AsyncIterator[AsyncSession]:
        async with shared_session() as shared:
            yield shared

    app.dependency_overrides[get_session] = request_session
    app.state.sessionmaker = shared_session
    app.state.event_groups.scope = shared_session
    app.state.event_groups.in_flight = 1  # one session: one transaction at a time
    return app


@pytest.fixture
async def api(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    clock: Clock,
    keys: dict[str, str],
) -> AsyncIterator[AsyncClient]:
    """An HTTP client over ASGI whose requests share the test's rolled-back transaction."""
    app = share_session(build_app(engine, sessionmaker, clock), session)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
async def committed(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Real commits; every data table is emptied afterwards."""
    yield sessionmaker
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)}"))


@pytest.fixture
async def committed_api(
    engine: AsyncEngine,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    keys: dict[str, str],
) -> AsyncIterator[AsyncClient]:
    """An HTTP client whose requests commit, like production."""
    app = build_app(engine, committed, clock)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
