"""SQL for the population figures: set-based tier cut points and market cycles (SPEC §5),
the stored row, and the lock that keeps one refresh at a time."""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.population.models import PopulationStats
from app.tiers import ALL_MARKETS, Thresholds, TierScope

REFRESH_LOCK = 7_302_120  # pg advisory lock key: one population refresh at a time

# One pass over clients with value, per ranking (each market, or all clients together when
# :ranking_all is set): the value at which the running share first reaches each cutoff.
CUT_POINTS = text(
    """
    WITH scoped AS (
        SELECT CASE WHEN CAST(:ranking_all AS text) IS NULL THEN market
                    ELSE CAST(:ranking_all AS text) END AS ranking,
               value, client_id
        FROM client
        WHERE orders_count > 0 AND value > 0
    ), ranked AS (
        SELECT ranking, value,
               sum(value) OVER (PARTITION BY ranking ORDER BY value DESC, client_id DESC
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,
               sum(value) OVER (PARTITION BY ranking) AS total
        FROM scoped
    )
    SELECT ranking,
           min(value) FILTER (WHERE running - value < CAST(:a AS numeric) * total) AS a_min,
           min(value) FILTER (WHERE running - value < CAST(:b AS numeric) * total) AS b_min
    FROM ranked
    GROUP BY ranking
    """
)
CLIENTS_WITH_ORDERS = text("SELECT count(*) FROM client WHERE orders_count > 0")
MARKET_CYCLES = text(
    """
    SELECT market, percentile_cont(0.5) WITHIN GROUP (ORDER BY cycle_days) AS median, count(*) AS n
    FROM client WHERE cycle_source = 'own' GROUP BY market
    """
)
# tiers.assign in SQL, over a `value` column and :a_min / :b_min (tests/population compares them)
TIER_CASE = (
    "CASE WHEN value > 0 AND value >= :a_min THEN 'A' "
    "WHEN value > 0 AND value >= :b_min THEN 'B' ELSE 'C' END"
)
# Clients of one ranking whose tier the new thresholds change: due now, so the sweeper
# re-assesses them (tier and the plan decision that depends on it) through the one assessment
# code path.
TIER_MOVES = text(
    """
    UPDATE client SET next_review_at = :now
    WHERE orders_count > 0
      AND (CAST(:market AS text) IS NULL OR market = CAST(:market AS text))
      AND tier IS DISTINCT FROM ({TIER_CASE})
    """.replace("{TIER_CASE}", TIER_CASE)
)
MARKET_MOVES = text(
    "UPDATE client SET next_review_at = :now WHERE market = :market AND cycle_source <> 'own'"
)


async def cut_points(
    session: AsyncSession, cutoffs: tuple[float, float], scope: TierScope
) -> dict[str, Thresholds]:
    """Per ranking, the value of the last client inside each cumulative share."""
    params = {
        "a": str(cutoffs[0]),
        "b": str(cutoffs[1]),
        "ranking_all": ALL_MARKETS if scope == "global" else None,
    }
    return {
        row.ranking: Thresholds(a_min=Decimal(row.a_min), b_min=Decimal(row.b_min))
        for row in await session.execute(CUT_POINTS, params)
        if row.a_min is not None and row.b_min is not None
    }


async def clients_with_orders(session: AsyncSession) -> int:
    return int((await session.execute(CLIENTS_WITH_ORDERS)).scalar_one())


async def market_cycles(session: AsyncSession) -> dict[str, dict[str, Any]]:
    result = await session.execute(MARKET_CYCLES)
    return {
        row.market: {"median_cycle_days": float(row.median), "clients": int(row.n)}
        for row in result
    }


async def mark_tier_moves(
    session: AsyncSession, ranking: str, thresholds: Thresholds, now: datetime
) -> int:
    """Mark due the clients of `ranking` (a market, or all markets) whose tier moves."""
    market = None if ranking == ALL_MARKETS else ranking
    result = await session.execute(
        TIER_MOVES,
        {"now": now, "market": market, "a_min": thresholds.a_min, "b_min": thresholds.b_min},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def mark_market_moves(session: AsyncSession, market: str, now: datetime) -> int:
    result = await session.execute(MARKET_MOVES, {"now": now, "market": market})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def try_refresh_lock(session: AsyncSession) -> bool:
    """Take the refresh lock for this transaction, or say another worker holds it."""
    got = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": REFRESH_LOCK}
    )
    return bool(got)


async def load(session: AsyncSession) -> PopulationStats | None:
    return await session.get(PopulationStats, 1)


async def save(
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
