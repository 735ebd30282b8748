"""SQL for the policy row and the population figures."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.policy.models import PolicyRow, PopulationStats
from app.tiers import Thresholds


async def load(session: AsyncSession) -> tuple[PolicyRow | None, PopulationStats | None]:
    policy = await session.get(PolicyRow, 1)
    stats = await session.get(PopulationStats, 1)
    return policy, stats


async def save_policy(
    session: AsyncSession, body: dict[str, Any], updated_by: str | None, now: datetime
) -> int:
    """Store the policy and bump its version; returns the new version."""
    statement = insert(PolicyRow).values(
        id=1, body=body, version=1, updated_at=now, updated_by=updated_by
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[PolicyRow.id],
        set_={
            "body": statement.excluded.body,
            "version": PolicyRow.version + 1,
            "updated_at": statement.excluded.updated_at,
            "updated_by": statement.excluded.updated_by,
        },
    ).returning(PolicyRow.version)
    return int((await session.execute(upsert)).scalar_one())


async def save_population(
    session: AsyncSession,
    tier_rankings: Mapping[str, Thresholds],
    clients_with_orders: int,
    market_cycles: dict[str, Any],
    now: datetime,
) -> None:
    values = {
        "tier_thresholds": {
            ranking: {"a_min": str(cut.a_min), "b_min": str(cut.b_min)}
            for ranking, cut in tier_rankings.items()
        },
        "clients_with_orders": clients_with_orders,
        "market_cycles": market_cycles,
        "refreshed_at": now,
    }
    statement = insert(PopulationStats).values(id=1, **values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[PopulationStats.id], set_=values)
    )
