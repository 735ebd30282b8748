"""Backtests, tuning and the population model's introspection and refit.

A backtest reads every client's events up to the cutoff in chunks (on the driver), folds them
with the write path's fold (`clients.service.facts_from_events`), asks which clients ordered
within the horizon, and hands the rest to the pure core (`app.churn.backtest`): population
figures from that history only, every client evaluated and scored as the write path would have
at the cutoff, metrics. The folding and the maths run in a thread, so the server's event loop
keeps answering other requests meanwhile. Nothing is written.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.backtests import repository
from app.backtests.schemas import (
    BacktestRead,
    DecileRead,
    FlaggedRead,
    ModelRead,
    PurchaseParams,
    ScreenRead,
    SpendParams,
    StatusCount,
    TuneRead,
)
from app.churn.backtest import (
    RISK_FIELDS,
    CutoffFigures,
    PastClient,
    Report,
    evaluate_at,
    figures_at,
    fit_risk_weights,
    replace_policy,
    report,
    tune_thresholds,
)
from app.clients.service import facts_from_events
from app.kit.problems import ProblemError, invalid
from app.policy.schemas import Policy
from app.policy.service import Snapshot
from app.population import service as population
from app.predictive.population import ModelFit

CHUNK = 2000  # clients per read
TUNED_FIELDS = (
    "at_risk_cycles",
    "lost_cycles",
    "repeat_gap_at_risk_quantile",
    "repeat_gap_lost_quantile",
    *RISK_FIELDS,
)


def check_window(cutoff: datetime, horizon_days: int, now: datetime) -> None:
    if cutoff > now:
        raise invalid("cutoff", "must not be in the future", "future_cutoff")
    if cutoff + timedelta(days=horizon_days) > now:
        raise invalid(
            "horizon_days",
            f"cutoff + {horizon_days} days is after now: whether the clients ordered within the "
            "horizon is not known yet",
            "horizon_not_over",
        )


async def history(session: AsyncSession, cutoff: datetime, horizon_days: int) -> list[PastClient]:
    """Every client with an event by `cutoff`, its facts folded from those events, and whether
    it placed no counting order within the horizon (its market is today's)."""
    ordered = await repository.ordered_within(
        session, cutoff, cutoff + timedelta(days=horizon_days)
    )
    everyone = await repository.clients(session)
    out: list[PastClient] = []
    for start in range(0, len(everyone), CHUNK):
        chunk = everyone[start : start + CHUNK]
        events = await repository.events_until(session, [c for c, _ in chunk], cutoff)
        out.extend(await asyncio.to_thread(_fold, chunk, events, ordered))
    return out


def _fold(
    chunk: list[tuple[str, str]],
    events: dict[str, list[tuple[dict[str, Any], datetime]]],
    ordered: set[str],
) -> list[PastClient]:
    return [
        PastClient(
            client_id, market, facts_from_events(events[client_id]), client_id not in ordered
        )
        for client_id, market in chunk
        if client_id in events
    ]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 4)


def model_read(fit: ModelFit, pending: int | None = None) -> ModelRead:
    params = fit.params_json()
    return ModelRead(
        id=fit.id,
        variant=fit.purchase.variant.value,
        purchase=PurchaseParams(**params["purchase"]),
        spend=SpendParams(**params["spend"]),
        n=fit.n,
        log_likelihood=None if math.isnan(fit.log_likelihood) else fit.log_likelihood,
        converged=fit.converged,
        iterations=fit.iterations,
        fit_seconds=fit.seconds,
        fallback_reason=fit.fallback_reason,
        spend_n=fit.spend_n,
        spend_log_likelihood=None
        if math.isnan(fit.spend_log_likelihood)
        else fit.spend_log_likelihood,
        spend_converged=fit.spend_converged,
        spend_fallback_reason=fit.spend_fallback_reason,
        warnings=list(fit.warnings),
        as_of=fit.as_of,
        fitted_at=fit.fitted_at,
        clients_pending=pending,
    )


def _figures(figures: CutoffFigures, policy: Policy) -> dict[str, Any]:
    quantiles = (policy.repeat_gap_at_risk_quantile, policy.repeat_gap_lost_quantile)
    gaps: dict[str, Any] = {}
    for market, found in figures.model.repeat_gaps.items():
        for name, gap in (
            ("first_to_second", found.after_first),
            ("second_to_third", found.after_second),
            ("later", found.later),  # the floor of irregular buyers' cycle lines
        ):
            if gap is not None:
                gaps.setdefault(market, {})[name] = {
                    "clients": gap.n,
                    "at_risk_days": round(gap.at(quantiles[0]), 1),
                    "lost_days": round(gap.at(quantiles[1]), 1),
                    "used": gap.n >= policy.repeat_gap_min_clients,
                }
    rfm = figures.model.rfm
    return {
        "market_cycles": {
            market: {"median_cycle_days": figures.market_cycles.get(market), "clients": count}
            for market, count in figures.market_cycle_clients.items()
        },
        "tier_thresholds": {
            ranking: {"a_min": str(cut.a_min), "b_min": str(cut.b_min)}
            for ranking, cut in figures.tier_rankings.items()
        },
        "repeat_gaps": gaps,
        "rfm_cuts": None if rfm is None else rfm.to_json(),
    }


def backtest_read(
    found: Report,
    figures: CutoffFigures,
    policy: Policy,
    cutoff: datetime,
    horizon_days: int,
    version: int,
    seconds: float,
) -> BacktestRead:
    return BacktestRead(
        cutoff=cutoff,
        horizon_days=horizon_days,
        policy_version=version,
        clients=found.clients,
        churned=found.churned,
        churn_rate=_number(_rate(found.churned, found.clients) or math.nan),
        prospects=found.prospects,
        auc={name: _number(value) for name, value in found.auc.items()},
        at_risk_and_lost=FlaggedRead(
            clients=found.flagged,
            precision=_number(found.precision),
            recall=_number(found.recall),
        ),
        by_status=[
            StatusCount(
                status=row.status,
                clients=row.clients,
                churned=row.churned,
                churn_rate=_number(_rate(row.churned, row.clients) or math.nan),
            )
            for row in found.by_status
        ],
        lift_by_decile={
            name: [
                DecileRead(
                    decile=d.decile,
                    clients=d.clients,
                    churned=d.positives,
                    churn_rate=round(d.rate, 4),
                    lift=_number(d.lift),
                )
                for d in deciles
            ]
            for name, deciles in found.lift.items()
        },
        model=None if found.fit is None else model_read(found.fit),
        figures=_figures(figures, policy),
        seconds=round(seconds, 3),
    )


async def run_backtest(
    session: AsyncSession, snapshot: Snapshot, cutoff: datetime, horizon_days: int, now: datetime
) -> BacktestRead:
    check_window(cutoff, horizon_days, now)
    started = time.perf_counter()
    clients = await history(session, cutoff, horizon_days)
    policy = snapshot.policy

    def compute() -> tuple[Report, CutoffFigures]:
        figures = figures_at(clients, policy, cutoff, now)
        evaluation = evaluate_at(clients, policy, cutoff, figures)
        return report(evaluation, figures.model.fit), figures

    found, figures = await asyncio.to_thread(compute)
    seconds = time.perf_counter() - started
    return backtest_read(found, figures, policy, cutoff, horizon_days, snapshot.version, seconds)


async def tune(
    session: AsyncSession, snapshot: Snapshot, cutoff: datetime, horizon_days: int, now: datetime
) -> TuneRead:
    """The thresholds and churn_risk weights that backtest best at this cutoff, with the
    backtest before and after. Changes nothing."""
    check_window(cutoff, horizon_days, now)
    started = time.perf_counter()
    clients = await history(session, cutoff, horizon_days)
    policy = snapshot.policy
    read_seconds = time.perf_counter() - started

    def compute() -> TuneRead:
        clock = time.perf_counter()
        figures = figures_at(clients, policy, cutoff, now)
        before = evaluate_at(clients, policy, cutoff, figures)
        before_read = backtest_read(
            report(before, figures.model.fit),
            figures,
            policy,
            cutoff,
            horizon_days,
            snapshot.version,
            read_seconds + time.perf_counter() - clock,
        )
        _, best, screened = tune_thresholds(before, figures, policy)
        thresholds = replace_policy(policy, best.changes)
        weights = fit_risk_weights(before, figures, thresholds) if before.churned.size else {}
        proposed_policy = replace_policy(thresholds, weights)
        clock = time.perf_counter()
        after = evaluate_at(clients, proposed_policy, cutoff, figures)
        after_read = backtest_read(
            report(after, figures.model.fit),
            figures,
            proposed_policy,
            cutoff,
            horizon_days,
            snapshot.version,
            read_seconds + time.perf_counter() - clock,
        )
        current = {name: float(getattr(policy, name)) for name in TUNED_FIELDS}
        proposed = {
            name: float(getattr(proposed_policy, name))
            for name in TUNED_FIELDS
            if getattr(proposed_policy, name) != getattr(policy, name)
        }
        return TuneRead(
            cutoff=cutoff,
            horizon_days=horizon_days,
            current=current,
            proposed=proposed,
            candidates_screened=screened,
            best_screen=ScreenRead(
                status_auc=_number(best.status_auc),
                precision=_number(best.precision),
                recall=_number(best.recall),
            ),
            before=before_read,
            after=after_read,
        )

    return await asyncio.to_thread(compute)


async def current_model(session: AsyncSession) -> ModelRead:
    fit = await population.current_fit(session)
    if fit is None or fit.id is None:
        raise ProblemError(
            404,
            "Not found",
            "no model has been fitted yet: the worker fits one at its first round, or POST "
            "/v1/models/refit",
            slug="not-found",
        )
    return model_read(fit, await population.clients_pending(session, fit.id))


async def refit(
    session: AsyncSession, policy: Policy, as_of: datetime | None, now: datetime
) -> ModelRead:
    if as_of is not None and as_of > now:
        raise invalid("as_of", "must not be in the future", "future_as_of")
    done = await population.refit(session, as_of or now, now, policy.model_rescore_seconds)
    if done is None:
        raise ProblemError(
            409,
            "Conflict",
            "another refit is running; GET /v1/models/current shows the result when it is done",
            slug="refit-running",
        )
    return model_read(done.fit, done.marked)


def backtest_text(found: BacktestRead) -> str:
    """A backtest as the CLI prints it."""
    lines = [
        f"backtest at {found.cutoff.isoformat()}, horizon {found.horizon_days} days: "
        f"{found.clients} clients with an order, {found.churned} without one in the horizon "
        f"({(found.churn_rate or 0):.1%}); {found.prospects} prospects left out; "
        f"{found.seconds:.1f} s",
        "",
        "AUC (no order within the horizon)",
    ]
    lines += [f"  {name:<20} {value:.3f}" for name, value in found.auc.items() if value is not None]
    flagged = found.at_risk_and_lost
    lines += [
        "",
        f"at_risk + lost: {flagged.clients} clients, precision {flagged.precision}, recall "
        f"{flagged.recall}",
        "",
        "status      clients  churned  rate",
    ]
    lines += [
        f"  {row.status:<10} {row.clients:>7} {row.churned:>8}  {(row.churn_rate or 0):.3f}"
        for row in found.by_status
    ]
    lines += ["", "churn_risk decile  clients  churn rate  lift"]
    lines += [
        f"  {d.decile:>2} {d.clients:>19} {d.churn_rate:>11.3f} {(d.lift or 0):>5.2f}"
        for d in found.lift_by_decile.get("churn_risk", [])
    ]
    if found.model is not None:
        m, p = found.model, found.model.purchase
        lines += [
            "",
            f"model at the cutoff: {m.variant} r {p.r:.4g}, alpha {p.alpha:.4g} days, a {p.a:.4g}, "
            f"b {p.b:.4g}; n {m.n}; LL {m.log_likelihood}; "
            + ("converged" if m.converged else f"fallback: {m.fallback_reason}"),
        ]
    return "\n".join(lines)
