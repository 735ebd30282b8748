"""The one read the webhooks need: the stored `order.placed` a refund or a deletion refers to
without naming its client. Writes go through `app.ingest.service.ingest` only."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import Event
from app.integrations.common import Known


async def placed_orders(session: AsyncSession, event_ids: Sequence[str]) -> dict[str, Known]:
    if not event_ids:
        return {}
    statement = select(
        Event.id,
        Event.client_id,
        Event.occurred_at,
        Event.body["data"]["currency"].astext,
    ).where(Event.id.in_(event_ids), Event.type == "order.placed")
    rows = (await session.execute(statement)).all()
    return {row[0]: Known(row[1], row[2], row[3]) for row in rows}
