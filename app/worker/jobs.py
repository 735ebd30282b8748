"""The worker's jobs. Each runs in its own transactions and takes `now` as an argument.

- sweep: clients whose next_review_at has come, in batches, FOR UPDATE SKIP LOCKED, so several
  workers share the work and none processes a client twice.
- reevaluate_policy: clients evaluated under an older policy version, the same way.
- refresh_population: tier cut points and market cycles, set-based, under an advisory lock.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients import repository as clients_repository
from app.clients.service import reevaluate
from app.kit import metrics
from app.policy import repository as policy_repository
from app.policy.service import load_snapshot
from app.tiers import repository as tiers_repository

log = logging.getLogger("winback.worker")

REFRESH_LOCK = 7_302_120
# A market's cycle must move this much before clients that borrow it are re-assessed.
MARKET_CYCLE_TOLERANCE_DAYS = 0.5


async def sweep(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime],
    batch_size: int = 500,
    max_batches: int | None = None,
) -> list[str]:
    """Re-evaluate every client due by now; returns the client ids this worker processed."""
    processed: list[str] = []
    batches = 0
    while max_batches is None or batches < max_batches:
        async with sessionmaker() as session, session.begin():
            snapshot = await load_snapshot(session)
            moment = now()
            rows = await clients_repository.lock_due(session, moment, batch_size)
            if not rows:
                break
            await reevaluate(session, rows, snapshot, moment)
        processed.extend(row["client_id"] for row in rows)
        metrics.SWEPT.inc(len(rows))
        batches += 1
    return processed


async def reevaluate_policy(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime],
    batch_size: int = 500,
) -> int:
    """Bring every client to the current policy version (after PUT /v1/policy)."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            snapshot = await load_snapshot(session)
            rows = await clients_repository.lock_stale_policy(session, snapshot.version, batch_size)
            if not rows:
                return total
            await reevaluate(session, rows, snapshot, now())
        total += len(rows)


async def refresh_population(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> bool:
    """Recompute tier thresholds and market cycles; mark clients they move as due.

    Returns False when another worker holds the refresh."""
    async with sessionmaker() as session, session.begin():
        got = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({REFRESH_LOCK})"))
        if not got:
            return False
        snapshot = await load_snapshot(session)
        policy = snapshot.policy
        rankings = await tiers_repository.cut_points(
            session, policy.tier_cutoffs, policy.tier_scope
        )
        cycles = await tiers_repository.market_cycles(session)
        count = await tiers_repository.clients_with_orders(session)
        await policy_repository.save_population(session, rankings, count, cycles, now)
        moved = 0
        for ranking, thresholds in rankings.items():
            moved += await tiers_repository.mark_tier_moves(session, ranking, thresholds, now)
        minimum = snapshot.policy.market_cycle_min_clients
        for market, figures in cycles.items():
            old = snapshot.market_cycle(market)
            new = figures["median_cycle_days"] if figures["clients"] >= minimum else None
            if (old is None) != (new is None) or (
                old is not None
                and new is not None
                and abs(old - new) >= MARKET_CYCLE_TOLERANCE_DAYS
            ):
                moved += await tiers_repository.mark_market_moves(session, market, now)
        log.info("population refreshed: %s clients with orders, %s marked due", count, moved)
        return True
