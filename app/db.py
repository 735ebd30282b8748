"""Engine, session dependency and the declarative base with a constraint naming convention.

PostgreSQL only. `WINBACK_DATABASE_URL` may be any `postgresql://` URL (including
`?host=/socket/dir`); without it `app.embedded` starts pgserver and supplies one.
"""

from collections.abc import AsyncIterator
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
    options: dict[str, Any] = {"pool_pre_ping": False, "pool_recycle": 300, **kwargs}
    return create_async_engine(async_url(url), **options)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit when the endpoint returns, roll back on any error.

    Services never commit; this dependency (or the worker's scope) owns the transaction.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        yield session


# One session per request, shared by every dependency that asks for it (auth, policy, the
# endpoint). It commits before the response is sent: a 2xx means committed (SPEC §14); FastAPI's
# default ("request") scope would commit after the response had gone out. A streamed CSV reads
# in a session of its own (app.clients.service.list_csv).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
