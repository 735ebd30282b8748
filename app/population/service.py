"""The population figures: reading them for the snapshot, the worker's set-based refresh, and
the refit of the purchase and spend models."""

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.population import repository
from app.population.models import PopulationHistory, PopulationStats
from app.predictive.population import ModelFit, PopulationModel, RepeatGaps, RfmCuts, fit_orders
from app.tiers import Thresholds, TierScope

# A market's cycle must move this much before the clients that borrow it are re-assessed; the
# same for the repeat-gap lines of one- and two-time buyers.
MARKET_CYCLE_TOLERANCE_DAYS = 0.5
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Figures:
    """What the core uses: cut points per ranking, the market cycles clients may borrow, and the
    population model (fit, RFM cut points, repeat gaps per market)."""

    tier_rankings: dict[str, Thresholds]
    market_cycles: dict[str, float]
    model: PopulationModel = field(default_factory=PopulationModel)


def usable_cycles(market_cycles: dict[str, Any], min_clients: int) -> dict[str, float]:
    """A market's median cycle counts once `min_clients` of its clients have their own cycle
    (policy.market_cycle_min_clients): the one place this rule lives."""
    return {
        market: float(figures["median_cycle_days"])
        for market, figures in market_cycles.items()
        if figures.get("clients", 0) >= min_clients
    }


def _figures(
    stats: PopulationStats | PopulationHistory | None,
    fit: ModelFit | None,
    market_cycle_min_clients: int,
) -> Figures:
    if stats is None:
        return Figures({}, {}, PopulationModel(fit=fit))
    rankings = {
        ranking: Thresholds(Decimal(cut["a_min"]), Decimal(cut["b_min"]))
        for ranking, cut in (stats.tier_thresholds or {}).items()
    }
    model = PopulationModel(
        fit=fit,
        rfm=RfmCuts.from_json(stats.rfm_cuts),
        repeat_gaps={
            market: RepeatGaps.from_json(raw) for market, raw in (stats.repeat_gaps or {}).items()
        },
    )
    return Figures(
        rankings, usable_cycles(stats.market_cycles or {}, market_cycle_min_clients), model
    )


async def load(session: AsyncSession, market_cycle_min_clients: int) -> Figures:
    stats = await repository.load(session)
    fit = await repository.load_fit(session)
    return _figures(stats, fit, market_cycle_min_clients)


async def in_force(session: AsyncSession, at: datetime, market_cycle_min_clients: int) -> Figures:
    """The figures an evaluation at `at` had: those of the latest refresh by then (tier, RFM cut
    points, market cycles, repeat gaps; kept hourly) and the fit in force then; none before the
    first refresh (fit). Never later ones: an `as_of` read does not see the future."""
    stats = await repository.load_in_force(session, at)
    fit = await repository.load_fit(session, in_force_at=at)
    return _figures(stats, fit, market_cycle_min_clients)


async def fit_in_force(session: AsyncSession, at: datetime) -> ModelFit | None:
    """The fit the scores were computed with at `at` (None before the first fit)."""
    return await repository.load_fit(session, in_force_at=at)


def _moved(old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return abs(old - new) >= MARKET_CYCLE_TOLERANCE_DAYS


def gap_lines(
    gaps: RepeatGaps | None, occasions: int, quantiles: tuple[float, float], min_clients: int
) -> tuple[float, float] | None:
    """The (at-risk, lost) days of a market's buyers with this many purchase days (3: three or
    more, the floor of irregular ones), when its gaps are usable (the engine's rule, as the
    refresh compares them)."""
    if gaps is None:
        return None
    found = gaps.for_occasions(occasions) if occasions < 3 else gaps.later
    if found is None or found.n < min_clients:
        return None
    return found.at(quantiles[0]), found.at(quantiles[1])


def _lines_moved(old: tuple[float, float] | None, new: tuple[float, float] | None) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return any(_moved(a, b) for a, b in zip(old, new, strict=True))


async def refresh(
    session: AsyncSession,
    cutoffs: tuple[float, float],
    scope: TierScope,
    market_cycle_min_clients: int,
    now: datetime,
    gap_quantiles: tuple[float, float] = (0.75, 0.95),
    gap_min_clients: int = 30,
) -> int | None:
    """Recompute the figures and mark due the clients they move (tier, a borrowed market cycle,
    the repeat-gap lines of one- and two-time buyers), so the sweeper re-assesses them through
    the one assessment path. RFM cut points move every client a little: the daily refit's
    gradual re-scoring carries them. Returns how many were marked, or None when another worker
    holds the refresh. Never commits."""
    if not await repository.try_refresh_lock(session):
        return None
    before = await load(session, market_cycle_min_clients)
    rankings = await repository.cut_points(session, cutoffs, scope)
    cycles = await repository.market_cycles(session)
    count = await repository.clients_with_orders(session)
    rfm = await repository.rfm_cut_points(session, now)
    gaps = await repository.repeat_gaps(session)
    await repository.save(session, rankings, count, cycles, now, rfm, gaps)
    moved = 0
    for ranking, thresholds in rankings.items():
        moved += await repository.mark_tier_moves(session, ranking, thresholds, now)
    usable = usable_cycles(cycles, market_cycle_min_clients)
    for market in cycles:
        if _moved(before.market_cycles.get(market), usable.get(market)):
            moved += await repository.mark_market_moves(session, market, now)
    for market in set(gaps) | set(before.model.repeat_gaps):
        for occasions in (1, 2, 3):
            old = gap_lines(
                before.model.repeat_gaps.get(market), occasions, gap_quantiles, gap_min_clients
            )
            new = gap_lines(gaps.get(market), occasions, gap_quantiles, gap_min_clients)
            if _lines_moved(old, new):
                moved += await repository.mark_gap_moves(session, market, occasions, now)
    return moved


def day_number(moment: datetime) -> int:
    """Days since 1970-01-01 of the moment's UTC date (the models' day numbers)."""
    return (moment.astimezone(UTC).date() - EPOCH).days


@dataclass(frozen=True)
class Refit:
    fit: ModelFit
    marked: int  # clients marked due for re-scoring


async def refit(
    session: AsyncSession, as_of: datetime, now: datetime, rescore_seconds: float
) -> Refit | None:
    """Fit the purchase and spend models on every order up to `as_of`, store the fit (it becomes
    the current one) and mark every client with an order due within `rescore_seconds`, so the
    sweeper re-scores them gradually. None when another worker is refitting. Never commits."""
    if not await repository.try_refresh_lock(session, repository.REFIT_LOCK):
        return None
    client, day, net = await repository.orders_as_of(session, as_of)
    fit = await asyncio.to_thread(fit_orders, client, day, net, day_number(as_of), as_of, now)
    fit_id = await repository.save_fit(session, fit)
    marked = await repository.mark_rescore(session, now, rescore_seconds)
    return Refit(_with_id(fit, fit_id), marked)


def _with_id(fit: ModelFit, fit_id: int) -> ModelFit:
    return replace(fit, id=fit_id)


async def refit_due(session: AsyncSession, now: datetime, refit_seconds: float) -> bool:
    """A refit is due without a fit, when the fit is `refit_seconds` old, or when the clients
    with an order (as last refreshed) have more than doubled since it (a new deployment, an
    import: a handful of refits while a population grows, not one a round)."""
    fit = await repository.load_fit(session)
    if fit is None or (now - fit.fitted_at).total_seconds() >= refit_seconds:
        return True
    stats = await repository.load(session)
    return stats is not None and stats.clients_with_orders > 2 * fit.n + 10


async def current_fit(session: AsyncSession) -> ModelFit | None:
    return await repository.load_fit(session)


async def clients_pending(session: AsyncSession, fit_id: int) -> int:
    """Clients with an order not yet re-scored with this fit."""
    return await repository.clients_pending(session, fit_id)
