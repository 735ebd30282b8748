"""The worker's jobs. Each runs in its own transactions and takes `now` as an argument.

- sweep: clients whose next_review_at has come, in batches, FOR UPDATE SKIP LOCKED, so several
  workers share the work and none processes a client twice.
- reevaluate_policy: clients evaluated under an older policy version, the same way.
- upgrade_facts: clients whose stored facts are older than FACTS_VERSION, re-folded from their
  events (the truth) and re-evaluated, the same way.
- refresh_population: tier cut points, market cycles, RFM cut points and repeat gaps,
  set-based, under an advisory lock.
- refit_models: the purchase and spend models, daily (policy.model_refit_seconds) or on demand;
  every client is then re-scored by the sweep, spread over policy.model_rescore_seconds.
- refresh_reports: the reports' tallies, every report_refresh_seconds, under an advisory lock.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.churn.facts import FACTS_VERSION
from app.clients import repository as clients_repository
from app.clients import service as clients_service
from app.kit import metrics
from app.policy.service import load_snapshot
from app.population import service as population
from app.reports import service as reports

log = logging.getLogger("winback.worker")


async def sweep(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime],
    batch_size: int = 500,
    max_batches: int | None = None,
    stop: asyncio.Event | None = None,
    concurrency: int = 2,
) -> list[str]:
    """Re-evaluate every client due by now; returns the client ids this worker processed.
    With `stop` set (SIGTERM), the batches under way are committed and no other starts.

    `concurrency` batches run at once, each in its own transaction (`SKIP LOCKED` keeps them
    apart, as it keeps several workers apart): while one batch waits on the database, the next
    is evaluated, so the evaluation and the database's writes overlap."""
    processed: list[str] = []
    batches = 0

    async def sweeper() -> None:
        nonlocal batches
        while (max_batches is None or batches < max_batches) and not (stop and stop.is_set()):
            batches += 1  # taken before the batch runs, so the sweepers share the limit
            async with sessionmaker() as session, session.begin():
                snapshot = await load_snapshot(session)
                moment = now()
                swept = await clients_service.reevaluate_due(session, snapshot, moment, batch_size)
            if not swept:
                return
            processed.extend(swept)
            metrics.SWEPT.inc(len(swept))

    await asyncio.gather(*(sweeper() for _ in range(max(1, concurrency))))
    metrics.DUE.set(len(processed))
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
            done = await clients_service.reevaluate_stale_policy(
                session, snapshot, now(), batch_size
            )
            if not done:
                return total
        total += done


async def upgrade_facts(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime],
    batch_size: int = 100,
) -> int:
    """Re-fold every client whose stored facts are older than FACTS_VERSION from its events, store
    the facts and their version, and re-evaluate it; returns how many this worker upgraded.

    A batch reads every event of its clients, hence a smaller batch than the sweep's. Each round
    of the loop calls it; with nothing to upgrade it costs two index probes."""
    total = 0
    left: int | None = None
    while True:
        async with sessionmaker() as session, session.begin():
            rows = await clients_repository.lock_old_facts(session, FACTS_VERSION, batch_size)
            if not rows:
                # other workers may still hold some: count them rather than assume none
                left = await clients_repository.clients_with_old_facts(session, FACTS_VERSION)
                metrics.OLD_FACTS.set(left)
                return total
            if left is None:  # counted once per run, then counted down, for the progress line
                left = await clients_repository.clients_with_old_facts(session, FACTS_VERSION)
            snapshot = await load_snapshot(session)
            await clients_service.upgrade_facts(session, rows, snapshot, now())
        total += len(rows)
        left = max(left - len(rows), 0)
        metrics.FACTS_UPGRADED.inc(len(rows))
        metrics.OLD_FACTS.set(left)
        log.info(
            "facts upgraded to version %s: %s clients in this batch, %s in this run, about %s left",
            FACTS_VERSION,
            len(rows),
            total,
            left,
        )


async def refresh_population(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> bool:
    """Recompute tier cut points and market cycles; mark clients they move as due.

    Returns False when another worker holds the refresh."""
    async with sessionmaker() as session, session.begin():
        policy = (await load_snapshot(session)).policy
        moved = await population.refresh(
            session,
            policy.tier_cutoffs,
            policy.tier_scope,
            policy.market_cycle_min_clients,
            now,
            (policy.repeat_gap_at_risk_quantile, policy.repeat_gap_lost_quantile),
            policy.repeat_gap_min_clients,
        )
    if moved is None:
        return False
    log.info("population refreshed: %s clients marked due", moved)
    return True


async def refresh_reports(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, every_seconds: float
) -> bool:
    """Re-make the reports' tallies when they are `every_seconds` old; False if not due or
    another worker is making them."""
    async with sessionmaker() as session, session.begin():
        policy = (await load_snapshot(session)).policy
        made = await reports.refresh_tally(session, now, every_seconds, policy)
    if made:
        log.info("report tallies made")
    return made


async def refit_models(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: datetime,
    as_of: datetime | None = None,
    force: bool = False,
    rescore_seconds: float | None = None,
) -> population.Refit | None:
    """Refit the purchase and spend models on the history up to `as_of` (default `now`) when due
    (`population.refit_due`: no fit, one policy.model_refit_seconds old, or a population that
    more than doubled since) or with `force`; the clients are marked for re-scoring, spread over
    `rescore_seconds` (default policy.model_rescore_seconds; 0: all due now, as the demo does).
    None when not due or another worker refits."""
    async with sessionmaker() as session, session.begin():
        policy = (await load_snapshot(session)).policy
        if not force and not await population.refit_due(session, now, policy.model_refit_seconds):
            return None
        spread = policy.model_rescore_seconds if rescore_seconds is None else rescore_seconds
        done = await population.refit(session, as_of or now, now, spread)
    if done is not None:
        fit = done.fit
        log.info(
            "models refitted on %s clients as of %s (%s, %.3f s): %s clients marked for re-scoring",
            fit.n,
            fit.as_of.isoformat(),
            "converged" if fit.converged else f"fallback: {fit.fallback_reason}",
            fit.seconds,
            done.marked,
        )
    return done
