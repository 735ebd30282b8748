"""The population figures: reading them for the snapshot, and the worker's set-based refresh."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.population import repository
from app.tiers import Thresholds, TierScope

# A market's cycle must move this much before the clients that borrow it are re-assessed.
MARKET_CYCLE_TOLERANCE_DAYS = 0.5


@dataclass(frozen=True)
class Figures:
    """What the core uses: cut points per ranking, and the market cycles clients may borrow."""

    tier_rankings: dict[str, Thresholds]
    market_cycles: dict[str, float]


def usable_cycles(market_cycles: dict[str, Any], min_clients: int) -> dict[str, float]:
    """A market's median cycle counts once `min_clients` of its clients have their own cycle
    (policy.market_cycle_min_clients): the one place this rule lives."""
    return {
        market: float(figures["median_cycle_days"])
        for market, figures in market_cycles.items()
        if figures.get("clients", 0) >= min_clients
    }


async def load(session: AsyncSession, market_cycle_min_clients: int) -> Figures:
    stats = await repository.load(session)
    if stats is None:
        return Figures({}, {})
    rankings = {
        ranking: Thresholds(Decimal(cut["a_min"]), Decimal(cut["b_min"]))
        for ranking, cut in (stats.tier_thresholds or {}).items()
    }
    return Figures(rankings, usable_cycles(stats.market_cycles or {}, market_cycle_min_clients))


def _moved(old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return abs(old - new) >= MARKET_CYCLE_TOLERANCE_DAYS


async def refresh(
    session: AsyncSession,
    cutoffs: tuple[float, float],
    scope: TierScope,
    market_cycle_min_clients: int,
    now: datetime,
) -> int | None:
    """Recompute the figures and mark due the clients they move (tier, or a borrowed market
    cycle), so the sweeper re-assesses them through the one assessment path. Returns how many
    were marked, or None when another worker holds the refresh. Never commits."""
    if not await repository.try_refresh_lock(session):
        return None
    before = await load(session, market_cycle_min_clients)
    rankings = await repository.cut_points(session, cutoffs, scope)
    cycles = await repository.market_cycles(session)
    count = await repository.clients_with_orders(session)
    await repository.save(session, rankings, count, cycles, now)
    moved = 0
    for ranking, thresholds in rankings.items():
        moved += await repository.mark_tier_moves(session, ranking, thresholds, now)
    usable = usable_cycles(cycles, market_cycle_min_clients)
    for market in cycles:
        if _moved(before.market_cycles.get(market), usable.get(market)):
            moved += await repository.mark_market_moves(session, market, now)
    return moved
