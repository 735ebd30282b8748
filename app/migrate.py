"""Alembic, driven from code: `winback migrate`, `winback serve`, tests and /readyz use this."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _run(connection: object, config: Config, action: str, target: str) -> None:
    config.attributes["connection"] = connection
    getattr(command, action)(config, target)


async def upgrade(url: str, target: str = "head") -> None:
    await _migrate(url, "upgrade", target)


async def downgrade(url: str, target: str = "base") -> None:
    await _migrate(url, "downgrade", target)


async def _migrate(url: str, action: str, target: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            # one migrator at a time when several processes start together
            await connection.execute(text("SELECT pg_advisory_xact_lock(7302119)"))
            await connection.run_sync(_run, alembic_config(url), action, target)
    finally:
        await engine.dispose()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        exists = await connection.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        return await connection.scalar(text("SELECT version_num FROM alembic_version"))
