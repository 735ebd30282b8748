"""SQL for events."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import Event

# One compiled statement, executed with many parameter sets (cached; no per-batch compile).
INSERT_NEW = (
    insert(Event.__table__)  # type: ignore[arg-type]
    .on_conflict_do_nothing(index_elements=["id"])
    .returning(Event.__table__.c.id)
)


async def insert_new(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert events whose id is new; returns the ids actually inserted. Rows go in id order, so
    two requests carrying the same ids in another order wait for each other, never deadlock."""
    if not rows:
        return set()
    connection = await session.connection()
    result = await connection.execute(INSERT_NEW, sorted(rows, key=lambda row: row["id"]))
    return {row[0] for row in result}


async def hashes(session: AsyncSession, ids: Iterable[str]) -> dict[str, str]:
    ids = list(ids)
    if not ids:
        return {}
    result = await session.execute(select(Event.id, Event.body_sha256).where(Event.id.in_(ids)))
    return {row.id: row.body_sha256 for row in result}


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
