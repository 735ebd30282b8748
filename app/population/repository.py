"""SQL for the population figures: set-based tier cut points and market cycles (SPEC §5), RFM
cut points and repeat-gap quantiles, the orders a model fit reads, the stored row and fits, and
the locks that keep one refresh (one refit) at a time."""

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.population.models import ModelFitRow, PopulationHistory, PopulationStats
from app.predictive.population import (
    GAP_LEVELS,
    RFM_LEVELS,
    GapQuantiles,
    ModelFit,
    RepeatGaps,
    RfmCuts,
    params_from_json,
)
from app.tiers import ALL_MARKETS, Thresholds, TierScope

REFRESH_LOCK = 7_302_120  # pg advisory lock key: one population refresh at a time
REFIT_LOCK = 7_302_121  # and one model refit at a time

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
# The marking statements leave alone a client already due (next_review_at <= now): it would be
# a new row version with the same meaning, and each is a write of the row and all its indexes;
# at 1,000,000 clients a refresh that marks most of them twice took minutes more.
NOT_DUE = "(next_review_at IS NULL OR next_review_at > :now)"
# Clients of one ranking whose tier the new thresholds change: due now, so the sweeper
# re-assesses them (tier and the plan decision that depends on it) through the one assessment
# code path.
TIER_MOVES = text(
    f"""
    UPDATE client SET next_review_at = :now
    WHERE orders_count > 0
      AND (CAST(:market AS text) IS NULL OR market = CAST(:market AS text))
      AND tier IS DISTINCT FROM ({TIER_CASE})
      AND {NOT_DUE}
    """
)
MARKET_MOVES = text(
    "UPDATE client SET next_review_at = :now WHERE market = :market AND cycle_source <> 'own' "
    f"AND {NOT_DUE}"
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


async def try_refresh_lock(session: AsyncSession, key: int = REFRESH_LOCK) -> bool:
    """Take the refresh (or refit) lock for this transaction, or say another worker holds it."""
    got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    return bool(got)


async def load(session: AsyncSession) -> PopulationStats | None:
    return await session.get(PopulationStats, 1)


async def save(
    session: AsyncSession,
    tier_rankings: Mapping[str, Thresholds],
    clients_with_orders: int,
    market_cycles: dict[str, Any],
    now: datetime,
    rfm: RfmCuts | None = None,
    repeat_gaps: Mapping[str, RepeatGaps] | None = None,
) -> None:
    values = {
        "tier_thresholds": {
            ranking: {"a_min": str(cut.a_min), "b_min": str(cut.b_min)}
            for ranking, cut in tier_rankings.items()
        },
        "clients_with_orders": clients_with_orders,
        "market_cycles": market_cycles,
        "rfm_cuts": rfm.to_json() if rfm is not None else {},
        "repeat_gaps": {market: gaps.to_json() for market, gaps in (repeat_gaps or {}).items()},
        "refreshed_at": now,
    }
    statement = insert(PopulationStats).values(id=1, **values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[PopulationStats.id], set_=values)
    )
    # kept for `as_of` reads: the last refresh of each hour (a few KB a row, 8,760 a year)
    kept = {name: values[name] for name in HISTORY_FIGURES} | {"refreshed_at": now}
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    history = insert(PopulationHistory).values(hour=hour, **kept)
    await session.execute(
        history.on_conflict_do_update(index_elements=[PopulationHistory.hour], set_=kept)
    )


HISTORY_FIGURES = ("tier_thresholds", "market_cycles", "rfm_cuts", "repeat_gaps")


async def load_in_force(session: AsyncSession, at: datetime) -> PopulationHistory | None:
    """The figures of the latest refresh at or before `at` (None before the first)."""
    statement = (
        select(PopulationHistory)
        .where(PopulationHistory.refreshed_at <= at)
        .order_by(PopulationHistory.refreshed_at.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


# --- RFM cut points and repeat gaps (app.predictive.population has the Python reference) -------

# Clients evaluated since purchase_days was stored (a client the worker has not re-scored since
# the migration has 0 and waits for its turn).
RFM_CUTS = text(
    """
    SELECT count(*) AS n,
           percentile_cont(CAST(:levels AS float8[])) WITHIN GROUP (ORDER BY greatest(
               CAST(extract(epoch FROM (CAST(:now AS timestamptz) - last_order_at)) AS float8)
               / 86400.0, 0.0)) AS recency,
           percentile_cont(CAST(:levels AS float8[]))
               WITHIN GROUP (ORDER BY CAST(purchase_days AS float8)) AS frequency,
           percentile_cont(CAST(:levels AS float8[]))
               WITHIN GROUP (ORDER BY CAST(value AS float8)) AS monetary
    FROM client
    WHERE orders_count > 0 AND purchase_days > 0 AND last_order_at IS NOT NULL
    """
)

# The gaps in days from each client's first purchase day to its second (k = 2), from the second
# to the third (k = 3), and between later ones (k = 4: the third to the fourth and on, pooled),
# from the folded orders (cancelled ones left out), per market.
REPEAT_GAPS = text(
    """
    WITH days AS (
        SELECT DISTINCT c.market, c.client_id,
               CAST((CAST(o ->> 'placed_at' AS timestamptz) AT TIME ZONE 'UTC') AS date) AS day
        FROM client c CROSS JOIN LATERAL jsonb_array_elements(c.facts -> 'orders') AS o
        WHERE c.orders_count >= 2 AND o ? 'placed_at' AND NOT (o ? 'cancelled')
    ), ranked AS (
        SELECT market, day - lag(day) OVER w AS gap, row_number() OVER w AS k
        FROM days WINDOW w AS (PARTITION BY client_id ORDER BY day)
    )
    SELECT market, least(k, 4) AS k, count(*) AS n,
           percentile_cont(CAST(:levels AS float8[])) WITHIN GROUP (ORDER BY gap) AS q
    FROM ranked WHERE k >= 2 GROUP BY market, least(k, 4)
    """
)


async def rfm_cut_points(session: AsyncSession, now: datetime) -> RfmCuts | None:
    row = (await session.execute(RFM_CUTS, {"levels": list(RFM_LEVELS), "now": now})).one()
    if not row.n:
        return None
    return RfmCuts(
        tuple(float(v) for v in row.recency),
        tuple(float(v) for v in row.frequency),
        tuple(float(v) for v in row.monetary),
        int(row.n),
    )


async def repeat_gaps(session: AsyncSession) -> dict[str, RepeatGaps]:
    found: dict[str, dict[int, GapQuantiles]] = {}
    for row in await session.execute(REPEAT_GAPS, {"levels": list(GAP_LEVELS)}):
        found.setdefault(row.market, {})[int(row.k)] = GapQuantiles(
            int(row.n), tuple(float(v) for v in row.q)
        )
    return {
        market: RepeatGaps(by_k.get(2), by_k.get(3), by_k.get(4)) for market, by_k in found.items()
    }


# A market's one- (k = 1) or two-time buyers (k = 2), or its buyers with three or more purchase
# days (k = 3: the floor of irregular ones), due now: their lines moved.
GAP_MOVES = text(
    f"""
    UPDATE client SET next_review_at = :now
    WHERE market = :market AND orders_count > 0
      AND CASE WHEN CAST(:k AS int) >= 3 THEN purchase_days >= 3
               ELSE purchase_days = CAST(:k AS int) END
      AND {NOT_DUE}
    """
)


async def mark_gap_moves(session: AsyncSession, market: str, k: int, now: datetime) -> int:
    result = await session.execute(GAP_MOVES, {"now": now, "market": market, "k": k})
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- model fits ---------------------------------------------------------------------------------

# Every counting order as of :as_of, as the fold of the events up to then sees it (the last
# order.placed of an order id wins, in (occurred_at, id) order; cancelled ones left out; refunds
# taken off, never below 0): one row per order, clients numbered 1.. in client_id order, days
# since 1970-01-01 in UTC.
ORDERS_AS_OF = text(
    """
    WITH placed AS (
        SELECT DISTINCT ON (client_id, body -> 'data' ->> 'order_id')
               client_id, body -> 'data' ->> 'order_id' AS order_id, occurred_at,
               CAST(coalesce(body -> 'data' ->> 'amount_in_base', body -> 'data' ->> 'amount')
                    AS numeric) AS amount
        FROM event
        WHERE type = 'order.placed' AND occurred_at <= :as_of
        ORDER BY client_id, body -> 'data' ->> 'order_id', occurred_at DESC, id COLLATE "C" DESC
    ), refunds AS (
        SELECT client_id, body -> 'data' ->> 'order_id' AS order_id,
               sum(CAST(body -> 'data' ->> 'amount' AS numeric)) AS refunded
        FROM event WHERE type = 'order.refunded' AND occurred_at <= :as_of
        GROUP BY 1, 2
    ), cancels AS (
        SELECT DISTINCT client_id, body -> 'data' ->> 'order_id' AS order_id
        FROM event WHERE type = 'order.cancelled' AND occurred_at <= :as_of
    )
    SELECT dense_rank() OVER (ORDER BY p.client_id) AS client,
           CAST((p.occurred_at AT TIME ZONE 'UTC') AS date) - DATE '1970-01-01' AS day,
           CAST(greatest(p.amount - coalesce(r.refunded, 0), 0) AS float8) AS net
    FROM placed p LEFT JOIN refunds r USING (client_id, order_id)
    WHERE NOT EXISTS (
        SELECT 1 FROM cancels c WHERE c.client_id = p.client_id AND c.order_id = p.order_id
    )
    """
)


async def orders_as_of(
    session: AsyncSession, as_of: datetime
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(client number, UTC day number, net amount) of every counting order as of `as_of`."""
    rows = (await session.execute(ORDERS_AS_OF, {"as_of": as_of})).all()
    client = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    day = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    net = np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows))
    return client, day, net


def _none_if_nan(value: float) -> float | None:
    return None if value != value else value  # nan


async def save_fit(session: AsyncSession, fit: ModelFit) -> int:
    row = ModelFitRow(
        fitted_at=fit.fitted_at,
        as_of=fit.as_of,
        variant=fit.purchase.variant.value,
        params=fit.params_json(),
        n=fit.n,
        log_likelihood=_none_if_nan(fit.log_likelihood),
        converged=fit.converged,
        iterations=fit.iterations,
        seconds=fit.seconds,
        fallback_reason=fit.fallback_reason,
        spend_n=fit.spend_n,
        spend_log_likelihood=_none_if_nan(fit.spend_log_likelihood),
        spend_converged=fit.spend_converged,
        spend_fallback_reason=fit.spend_fallback_reason,
        warnings=list(fit.warnings),
    )
    session.add(row)
    await session.flush()
    return int(row.id)


def _fit_of(row: ModelFitRow) -> ModelFit:
    purchase, spend = params_from_json(row.params)
    nan = float("nan")
    return ModelFit(
        purchase=purchase,
        spend=spend,
        n=row.n,
        log_likelihood=nan if row.log_likelihood is None else row.log_likelihood,
        converged=row.converged,
        iterations=row.iterations,
        seconds=row.seconds,
        fallback_reason=row.fallback_reason,
        spend_n=row.spend_n,
        spend_log_likelihood=nan if row.spend_log_likelihood is None else row.spend_log_likelihood,
        spend_converged=row.spend_converged,
        spend_fallback_reason=row.spend_fallback_reason,
        as_of=row.as_of,
        fitted_at=row.fitted_at,
        warnings=tuple(row.warnings or ()),
        id=row.id,
    )


async def load_fit(session: AsyncSession, in_force_at: datetime | None = None) -> ModelFit | None:
    """The latest fit, or the one in force at a moment (the latest fitted by then)."""
    statement = select(ModelFitRow)
    if in_force_at is not None:
        statement = statement.where(ModelFitRow.fitted_at <= in_force_at)
    statement = statement.order_by(ModelFitRow.fitted_at.desc(), ModelFitRow.id.desc()).limit(1)
    row = (await session.execute(statement)).scalar_one_or_none()
    return None if row is None else _fit_of(row)


# After a refit every client with an order is due within :spread seconds, at a moment of its own
# (a hash of its id), or sooner if it was due sooner: the sweeper re-scores them gradually.
MARK_RESCORE = text(
    """
    UPDATE client SET next_review_at = least(
        coalesce(next_review_at, 'infinity'::timestamptz),
        CAST(:now AS timestamptz)
            + make_interval(secs => mod(hashtext(client_id) & 2147483647, :spread)))
    WHERE orders_count > 0
    """
)


async def mark_rescore(session: AsyncSession, now: datetime, spread_seconds: float) -> int:
    spread = max(int(spread_seconds), 1)
    result = await session.execute(MARK_RESCORE, {"now": now, "spread": spread})
    return int(result.rowcount)  # type: ignore[attr-defined]


# Clients with an order not yet scored with this fit (the sweeper is on its way).
PENDING = text(
    "SELECT count(*) FROM client WHERE orders_count > 0 "
    "AND model_fit_id IS DISTINCT FROM CAST(:fit AS bigint)"
)


async def clients_pending(session: AsyncSession, fit_id: int) -> int:
    return int((await session.execute(PENDING, {"fit": fit_id})).scalar_one())
