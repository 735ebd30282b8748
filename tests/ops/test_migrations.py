"""Migrations: empty database -> head -> base -> head, and the models match the migrations."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import app.models  # noqa: F401
from app.db import Base, create_engine
from app.migrate import current_revision, downgrade, head_revision, upgrade
from tests.conftest import _recreate_database


async def test_upgrade_downgrade_upgrade(server_url: str, worker_name: str) -> None:
    url = await _recreate_database(server_url, f"{worker_name}_migrations")
    engine = create_engine(url)
    try:
        await upgrade(url)
        assert await current_revision(engine) == head_revision()
        await downgrade(url, "base")
        async with engine.connect() as connection:
            tables = await connection.scalar(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            )
        assert tables == 1  # only alembic_version is left
        await upgrade(url)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(engine: Any) -> None:
    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection)
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []
