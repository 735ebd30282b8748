"""SQL for backtests: every client's events up to a cutoff, in chunks read on the driver, and
which clients ordered within a horizon after it. Reads the `client` and `event` tables by name."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.events.repository import driver_connection

_CLIENTS = "SELECT client_id, market FROM client ORDER BY client_id"
_EVENTS_UNTIL = """
    SELECT client_id, body, occurred_at FROM event
    WHERE client_id = ANY($1::text[]) AND occurred_at <= $2
"""
# A counting order within (cutoff, end]: placed then, and not cancelled by the end.
_ORDERED_WITHIN = """
    SELECT DISTINCT p.client_id FROM event p
    WHERE p.type = 'order.placed' AND p.occurred_at > $1 AND p.occurred_at <= $2
      AND NOT EXISTS (
          SELECT 1 FROM event c
          WHERE c.client_id = p.client_id AND c.type = 'order.cancelled'
            AND c.occurred_at <= $2
            AND c.body -> 'data' ->> 'order_id' = p.body -> 'data' ->> 'order_id')
"""


async def clients(session: AsyncSession) -> list[tuple[str, str]]:
    """(client_id, market) of every client, in client_id order."""
    raw = await driver_connection(session)
    return [(row[0], row[1]) for row in await raw.fetch(_CLIENTS)]


async def events_until(
    session: AsyncSession, client_ids: Sequence[str], cutoff: datetime
) -> dict[str, list[tuple[dict[str, Any], datetime]]]:
    """The events of these clients that occurred by `cutoff` (clients without one are left
    out)."""
    raw = await driver_connection(session)
    out: dict[str, list[tuple[dict[str, Any], datetime]]] = {}
    for client_id, body, occurred_at in await raw.fetch(_EVENTS_UNTIL, list(client_ids), cutoff):
        out.setdefault(client_id, []).append((body, occurred_at))
    return out


async def ordered_within(session: AsyncSession, cutoff: datetime, end: datetime) -> set[str]:
    raw = await driver_connection(session)
    return {row[0] for row in await raw.fetch(_ORDERED_WITHIN, cutoff, end)}
