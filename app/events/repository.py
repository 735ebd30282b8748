"""SQL for events."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver
from app.events.models import Event

_HASHES = "SELECT id, body_sha256 FROM event WHERE id = ANY($1::text[])"


async def hashes(session: AsyncSession, ids: Iterable[str]) -> dict[str, str]:
    ids = list(ids)
    if not ids:
        return {}
    raw = await driver(session)
    return {row[0]: row[1] for row in await raw.fetch(_HASHES, ids)}


async def bodies(session: AsyncSession, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored bodies of these event ids."""
    result = await session.execute(select(Event.id, Event.body).where(Event.id.in_(list(ids))))
    return {row.id: row.body for row in result}


async def bodies_for_clients(
    session: AsyncSession, client_ids: Sequence[str]
) -> dict[str, list[tuple[dict[str, Any], datetime]]]:
    """Every stored event of these clients, for a re-fold."""
    result = await session.execute(
        select(Event.client_id, Event.body, Event.occurred_at).where(
            Event.client_id.in_(list(client_ids))
        )
    )
    out: dict[str, list[tuple[dict[str, Any], datetime]]] = {c: [] for c in client_ids}
    for row in result:
        out[row.client_id].append((row.body, row.occurred_at))
    return out


async def bodies_for_client(
    session: AsyncSession, client_id: str, until: datetime | None = None
) -> list[tuple[dict[str, Any], datetime]]:
    statement = select(Event.body, Event.occurred_at).where(Event.client_id == client_id)
    if until is not None:
        statement = statement.where(Event.occurred_at <= until)
    result = await session.execute(statement)
    return [(row.body, row.occurred_at) for row in result]


async def page_for_client(
    session: AsyncSession, client_id: str, before: tuple[datetime, str] | None, limit: int
) -> list[Event]:
    """Newest first, keyset on (occurred_at, id)."""
    statement = select(Event).where(Event.client_id == client_id)
    if before is not None:
        statement = statement.where(
            tuple_(Event.occurred_at, Event.id) < tuple_(literal(before[0]), literal(before[1]))
        )
    statement = statement.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


ERASE_EVENTS = text(
    """
    WITH gone AS (DELETE FROM event WHERE client_id = :client_id RETURNING id)
    INSERT INTO erased_event (id_sha256, erased_at)
    SELECT encode(sha256(convert_to(id, 'UTF8')), 'hex'), :now FROM gone
    ON CONFLICT (id_sha256) DO NOTHING
    """
)


async def erase_for_client(session: AsyncSession, client_id: str, now: datetime) -> int:
    """Delete a client's events and keep the hash of each id, so a replay stores nothing."""
    result = await session.execute(ERASE_EVENTS, {"client_id": client_id, "now": now})
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- the bulk path: `winback import` (app/imports) ----------------------------------------------

# A chunk of an import is copied here (COPY), then stored in one set-based statement. A TEMP
# table: private to the connection, emptied at each commit, never logged.
STAGING = "import_event_staging"
STAGED_COLUMNS = ("line", "id", "client_id", "type", "occurred_at", "body", "body_sha256")
_CREATE_STAGING = text(
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (line integer NOT NULL, id text NOT NULL, "
    "client_id text NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL, "
    "body jsonb NOT NULL, body_sha256 text NOT NULL) ON COMMIT DELETE ROWS"
)
_EMPTY_STAGING = text(f"TRUNCATE {STAGING}")
# In id order, like the write path (app.ingest.repository); the erased-event trigger skips
# tombstoned ids here too.
_INSERT_STAGED = f"""
    INSERT INTO event (id, client_id, type, occurred_at, body, body_sha256)
    SELECT id, client_id, type, occurred_at, body, body_sha256 FROM {STAGING} ORDER BY id
    ON CONFLICT (id) DO NOTHING
    RETURNING id
"""
# Run after the insert: a staged id now stored with another digest, with the stored body.
_STAGED_CONFLICTS = f"""
    SELECT s.line, s.id, e.body FROM {STAGING} s JOIN event e ON e.id = s.id
    WHERE e.body_sha256 <> s.body_sha256
    ORDER BY s.line
"""
_BODIES_OF_CLIENTS = (
    "SELECT client_id, body, occurred_at FROM event WHERE client_id = ANY($1::text[])"
)


driver_connection = driver  # the name the bulk path and the backtests know it by


async def insert_staged(
    session: AsyncSession, records: Sequence[tuple[Any, ...]]
) -> tuple[list[str], list[tuple[int, str, dict[str, Any]]]]:
    """Store events in bulk: COPY `records` (STAGED_COLUMNS; the body as JSON text, ids unique)
    into the staging table, insert those whose id is new (one INSERT ... SELECT ... ON CONFLICT
    DO NOTHING), and return the ids inserted and the (line, id, stored body) of the staged
    events whose id is stored with another digest (conflicts, unless the stored body is the same
    event under an older digest). The others are duplicates, or ids of erased clients (the
    trigger skipped them: a duplicate that stores nothing, as on the write path). Never
    commits."""
    await session.execute(_CREATE_STAGING)
    await session.execute(_EMPTY_STAGING)
    raw = await driver_connection(session)
    await raw.copy_records_to_table(STAGING, records=records, columns=STAGED_COLUMNS)
    inserted = [row[0] for row in await raw.fetch(_INSERT_STAGED)]
    conflicts = [(row[0], row[1], row[2]) for row in await raw.fetch(_STAGED_CONFLICTS)]
    return inserted, conflicts


async def bodies_of_clients(
    session: AsyncSession, client_ids: Sequence[str]
) -> dict[str, list[tuple[dict[str, Any], datetime]]]:
    """Every stored event of these clients, for a re-fold: `bodies_for_clients` in one array
    parameter, read on the driver (no SQLAlchemy row per event)."""
    raw = await driver_connection(session)
    out: dict[str, list[tuple[dict[str, Any], datetime]]] = {c: [] for c in client_ids}
    for client_id, body, occurred_at in await raw.fetch(_BODIES_OF_CLIENTS, list(client_ids)):
        out[client_id].append((body, occurred_at))
    return out


async def page_of_all(
    session: AsyncSession, after: tuple[datetime, str] | None, limit: int
) -> list[tuple[datetime, str, dict[str, Any]]]:
    """Every stored event in (occurred_at, id) order, one keyset page at a time (for export)."""
    statement = select(Event.occurred_at, Event.id, Event.body)
    if after is not None:
        statement = statement.where(
            tuple_(Event.occurred_at, Event.id) > tuple_(literal(after[0]), literal(after[1]))
        )
    statement = statement.order_by(Event.occurred_at, Event.id).limit(limit)
    return [(row.occurred_at, row.id, row.body) for row in await session.execute(statement)]
