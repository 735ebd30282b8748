"""Running an import in-process on the test database, and reading back what it stored."""

import io
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.clients.rows import WRITE_COLUMNS
from app.imports.prepare import ReadOptions
from app.imports.progress import Lines
from app.imports.service import ImportSummary, Step, import_file
from app.worker import jobs
from tests.conftest import DATA_TABLES, NOW

STORED = (*WRITE_COLUMNS, "facts_version")


def finishing(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> list[Step]:
    """What `winback import` runs at the end: the population refresh, then the sweep."""
    return [
        ("population refresh", lambda: jobs.refresh_population(sessionmaker, now)),
        ("sweep", lambda: jobs.sweep(sessionmaker, lambda: now)),
    ]


async def run_import(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    now: datetime = NOW,
    finish: bool = True,
    out: io.StringIO | None = None,
    parallel: bool = False,
    errors: Path | None = None,
    reporter: Any = None,
    **options: Any,
) -> ImportSummary:
    return await import_file(
        sessionmaker,
        path,
        ReadOptions(**options),
        now,
        reporter or Lines(out or io.StringIO(), every=0),
        finishing(sessionmaker, now) if finish else (),
        errors,
        parallel,
    )


def normalised(value: Any, replace: Sequence[tuple[str, str]]) -> Any:
    """JSON-shaped values with namespace prefixes replaced (ids differ between namespaces)."""
    if not replace:
        return value
    if isinstance(value, str):
        for old, new in replace:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict | list):
        dumped = json.dumps(value, sort_keys=True, default=str)
        return json.loads(normalised(dumped, replace))
    return value


async def stored_state(
    sessionmaker: async_sessionmaker[AsyncSession],
    like: str = "%",
    replace: Sequence[tuple[str, str]] = (),
    columns: Sequence[str] = STORED,
) -> dict[str, Any]:
    """Every stored column of the clients whose id is LIKE `like`, and their status history
    (from, to, at, signals, in the order recorded), keyed by the normalised client id."""
    async with sessionmaker() as session:
        clients = (
            await session.execute(
                text(
                    f"SELECT client_id, {', '.join(columns)} FROM client WHERE client_id LIKE :like"
                ),
                {"like": like},
            )
        ).mappings()
        state: dict[str, Any] = {
            normalised(row["client_id"], replace): {
                column: normalised(row[column], replace) for column in columns
            }
            for row in clients
        }
        changes = await session.execute(
            text(
                "SELECT client_id, from_status, to_status, at, signals FROM status_change "
                "WHERE client_id LIKE :like ORDER BY client_id, id"
            ),
            {"like": like},
        )
        for client_id, *change in changes:
            state[normalised(client_id, replace)].setdefault("history", []).append(tuple(change))
    return state


async def count(sessionmaker: async_sessionmaker[AsyncSession], sql: str) -> int:
    async with sessionmaker() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def empty(engine: AsyncEngine) -> None:
    """Every data table emptied, as the `committed` fixture leaves them (API keys stay)."""
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)}"))
