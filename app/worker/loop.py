"""`winback worker` (and the in-process worker of `winback serve`): the jobs on a timer, and
beside them the webhook delivery pipeline (app.webhooks.delivery), which polls every second."""

import asyncio
import contextlib
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit import collector
from app.kit.time import utcnow
from app.policy.service import load_snapshot
from app.webhooks.delivery import Deliverer
from app.worker import jobs

log = logging.getLogger("winback.worker")


async def run_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    refresh: bool,
    stop: asyncio.Event | None = None,
) -> None:
    if refresh:
        await jobs.refresh_population(sessionmaker, utcnow())
    # daily (policy.model_refit_seconds, judged by the stored fit's age, so restarts and several
    # workers agree); the first round of a new deployment fits at once
    await jobs.refit_models(sessionmaker, utcnow())
    # facts first: the clients it upgrades are re-evaluated under the current policy on the way
    await jobs.upgrade_facts(sessionmaker, utcnow)
    await jobs.reevaluate_policy(sessionmaker, utcnow, settings.sweep_batch_size)
    await jobs.sweep(
        sessionmaker,
        utcnow,
        settings.sweep_batch_size,
        stop=stop,
        concurrency=settings.sweep_concurrency,
    )
    await jobs.refresh_reports(sessionmaker, utcnow(), settings.report_refresh_seconds)


async def deliver_once(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Send every webhook message due now (`winback worker --once`)."""
    async with Deliverer(sessionmaker, settings) as deliverer:
        done = await deliverer.drain()
    if done.started:
        log.info("webhooks: %s messages sent, %s results recorded", done.started, done.recorded)


async def run_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event | None = None,
) -> None:
    """Rounds of jobs until cancelled or `stop` is set (SIGTERM to `winback worker`): then the
    batch under way is finished and committed, the webhook sends in flight finish and are
    recorded, and it returns."""
    stop = stop or asyncio.Event()
    collector.settle()  # a sweep batch left a full collection every 2 s with the defaults
    async with Deliverer(sessionmaker, settings) as deliverer:
        delivering = asyncio.create_task(deliverer.run(stop))
        try:
            await _jobs_forever(sessionmaker, settings, stop)
        finally:
            if stop.is_set():
                await delivering
            else:  # cancelled: what is in flight is sent again when its lease ends
                delivering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await delivering


async def _jobs_forever(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, stop: asyncio.Event
) -> None:
    last_refresh = float("-inf")
    while not stop.is_set():
        try:
            async with sessionmaker() as session:
                snapshot = await load_snapshot(session)
            # also refresh while there are no cut points of the policy's kind yet (a new
            # deployment, or tier_scope just changed): clients get tiers at once
            refresh = (
                not snapshot.has_tier_scope()
                or time.monotonic() - last_refresh >= snapshot.policy.tier_refresh_seconds
            )
            await run_once(sessionmaker, settings, refresh, stop)
            if refresh:
                last_refresh = time.monotonic()
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the loop alive; the next round retries
            log.exception("worker round failed")
        with contextlib.suppress(TimeoutError):  # sleep until the next round, or a stop
            await asyncio.wait_for(stop.wait(), timeout=settings.sweep_interval_seconds)
