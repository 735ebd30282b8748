"""Engine, session dependency and the declarative base with a constraint naming convention.

PostgreSQL only. `WINBACK_DATABASE_URL` may be any `postgresql://` URL (including
`?host=/socket/dir`); without it `app.embedded` starts pgserver and supplies one.
"""

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from starlette.requests import Request

from app.kit import jsontext

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accept plain libpq-style URLs and point them at the asyncpg driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername != "postgresql+asyncpg":
        raise ValueError(f"winback needs PostgreSQL; got a {parsed.drivername!r} URL")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # No pre-ping by default (docs/decisions.md: it costs three round trips per checkout).
    options: dict[str, Any] = {
        "pool_pre_ping": False,
        "pool_recycle": 300,
        # JSONB is read with orjson (app.kit.jsontext): decoding the facts was a fifth of a
        # batch's CPU with the json module
        "json_deserializer": jsontext.loads,
        **kwargs,
    }
    return create_async_engine(async_url(url), **options)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit when the endpoint returns, roll back on any error.

    Services never commit; this dependency (or the worker's scope) owns the transaction.
    """
    async with transaction(request.app.state.sessionmaker) as session:
        yield session


# What opens a session: an async_sessionmaker (or `transaction` over one), or a test's session
# shared with its rolled-back transaction.
OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@contextlib.asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session in a transaction of its own: committed when the block ends, rolled back if it
    raises (a request's, a group of single events' in app.ingest.groups)."""
    async with sessionmaker() as session, session.begin():
        yield session


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, inside the session's transaction: for the hot
    paths, where SQLAlchemy's per-statement work costs more than the statement (SQL stays in the
    repository modules; what runs here commits or rolls back with the session).

    SQLAlchemy's asyncpg adapter begins its transaction lazily, at the first statement; here it
    is begun the same way (the adapter's own BEGIN), so no extra statement is sent. The
    connection is remembered for the rest of the session's transaction (a write asks 3-4 times)."""
    transaction = session.sync_session.get_transaction()
    kept = session.info.get(_DRIVER)
    if kept is not None and transaction is not None and kept[0] is transaction:
        return kept[1]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted = raw.dbapi_connection
    if getattr(adapted, "_transaction", True) is None:
        start = getattr(adapted, "_start_transaction", None)
        if start is not None:
            await start()
        else:  # another SQLAlchemy release: begin through a statement
            await connection.exec_driver_sql("SELECT 1")
    session.info[_DRIVER] = (session.sync_session.get_transaction(), raw.driver_connection)
    return raw.driver_connection


_DRIVER = "winback.driver"


# One session per request, shared by every dependency that asks for it (auth, policy, the
# endpoint). It commits before the response is sent: a 2xx means committed (SPEC §14); FastAPI's
# default ("request") scope would commit after the response had gone out. A streamed CSV reads
# in a session of its own (app.clients.service.list_csv).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
