"""Alembic environment: async engine, URL from WINBACK_DATABASE_URL or the caller's config."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import app.models  # noqa: F401  (registers every table on Base.metadata)
from app.db import Base, create_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app.config import get_settings

    settings = get_settings()
    if not settings.database_url:
        raise RuntimeError("set WINBACK_DATABASE_URL or use `winback migrate`")
    return settings.database_url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # called from app.migrate with a live connection
        _run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    raise RuntimeError("winback migrations run online only")
run_migrations_online()
