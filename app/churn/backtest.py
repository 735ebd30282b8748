"""Backtests (SPEC §8): how well status, signals, p_alive and churn_risk at a cutoff predicted
"no order within the horizon", on the seller's own history. Pure: no I/O, no clock.

The caller folds every client's events up to the cutoff (`PastClient.facts`, the same fold as
the write path) and says which clients ordered within the horizon. Here:

1. `figures_at`: the population figures the write path would have had at the cutoff, computed
   from those facts only, never from later events: the market cycles, the tier cut points, the
   RFM cut points, the repeat gaps and the model fit (MBG/NBD + Gamma-Gamma). They are the
   Python twins of the worker's set-based SQL (tests compare them).
2. `evaluate_at`: each client through the churn engine (`evaluate`, as the write path calls it)
   and every client's scores in one vectorised call (`app.churn.scores`, as the write path).
3. `report`: over the clients with an order by the cutoff (a prospect never ordered: not
   ordering again is not churn), the AUC of each predictor, precision and recall of
   at_risk + lost, churn by status, lift by decile. Status is ranked prospect < active <
   recovered < at_risk < lost (a recovered client is back, but in its watch); the reference
   predictors are plain recency (days since the last order), the fixed 90-day rule and the
   model's expected orders in 90 days.
4. `tune`: the churn thresholds (cycles, repeat-gap quantiles) that rank best, by a vectorised
   screen of a small grid (the lapse lines recomputed per candidate; which clients are in a
   recovery watch and the signals other than lapsed are kept as the current policy made them),
   and churn_risk weights by a logistic fit; the caller then backtests the proposal for real.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from app.churn.engine import (
    ClientState,
    Occasion,
    clamp_cycle,
    counting_orders,
    evaluate,
    irregularity,
    occasions_of,
    own_cycle_days,
    window_value,
)
from app.churn.facts import ClientFacts
from app.churn.scores import (
    LAPSE_FLOOR,
    ScoreArrays,
    ScoreInputs,
    churn_risk,
    inputs_of,
    score_arrays,
    score_row,
)
from app.domain import STATUSES, Status
from app.kit.time import days_between
from app.policy.schemas import Policy
from app.predictive.metrics import Decile, auc, lift_by_decile, precision_recall
from app.predictive.population import (
    GapQuantiles,
    ModelFit,
    PopulationModel,
    RepeatGaps,
    fit_orders,
    gap_quantiles,
    rfm_cuts,
)
from app.tiers import Thresholds, cut_points_by_ranking

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
EPOCH = date(1970, 1, 1)
# the documented ranking of statuses, least to most churn-like
STATUS_RANK: dict[Status, int] = {
    "prospect": 0,
    "active": 1,
    "recovered": 2,
    "at_risk": 3,
    "lost": 4,
}
FIXED_RULE_DAYS = 90.0


@dataclass(frozen=True, slots=True)
class PastClient:
    client_id: str
    market: str
    facts: ClientFacts  # folded from its events up to the cutoff
    churned: bool  # no counting order within the horizon after the cutoff


# --- 1. the population figures at the cutoff ----------------------------------------------------


@dataclass(frozen=True)
class CutoffFigures:
    tier_rankings: dict[str, Thresholds]
    market_cycles: dict[str, float]  # the usable ones (market_cycle_min_clients)
    market_cycle_clients: dict[str, int]
    model: PopulationModel


@dataclass(frozen=True, slots=True)
class _Purchases:
    occasions: list[Occasion]
    value: Decimal
    last_order_at: datetime | None


def _purchases(facts: ClientFacts, policy: Policy) -> _Purchases:
    orders = counting_orders(facts)
    last = max((o.placed_at for o in orders if o.placed_at), default=None)
    return _Purchases(occasions_of(orders), window_value(orders, policy), last)


def day_number(moment: datetime | date) -> int:
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return (day - EPOCH).days


def figures_at(
    clients: Sequence[PastClient], policy: Policy, cutoff: datetime, fitted_at: datetime
) -> CutoffFigures:
    """The figures of the population as it stood at `cutoff` (see the module)."""
    bought = [(c, _purchases(c.facts, policy)) for c in clients]
    bought = [(c, p) for c, p in bought if p.occasions]
    own: dict[str, list[float]] = {}
    gaps: dict[str, tuple[list[int], list[int], list[int]]] = {}
    for client, purchases in bought:
        days = [o.day for o in purchases.occasions]
        cycle = own_cycle_days(days)
        if cycle is not None:
            own.setdefault(client.market, []).append(clamp_cycle(cycle, policy))
        first, second, later = gaps.setdefault(client.market, ([], [], []))
        if len(days) >= 2:
            first.append((days[1] - days[0]).days)
        if len(days) >= 3:
            second.append((days[2] - days[1]).days)
        later.extend((b - a).days for a, b in itertools.pairwise(days[2:]))
    cycles = {
        market: float(statistics.median(values))
        for market, values in own.items()
        if len(values) >= policy.market_cycle_min_clients
    }
    tiers = cut_points_by_ranking(
        ((c.market, p.value) for c, p in bought), policy.tier_cutoffs, policy.tier_scope
    )
    rfm = rfm_cuts(
        [max(days_between(p.last_order_at, cutoff), 0.0) for _, p in bought if p.last_order_at],
        [len(p.occasions) for _, p in bought],
        [float(p.value) for _, p in bought],
    )
    repeat = {
        market: RepeatGaps(gap_quantiles(first), gap_quantiles(second), gap_quantiles(later))
        for market, (first, second, later) in gaps.items()
        if first
    }
    numbers = [k for k, (_, p) in enumerate(bought) for _ in p.occasions]
    fit = fit_orders(
        np.asarray(numbers, dtype=np.int64),
        np.fromiter(
            (day_number(o.day) for _, p in bought for o in p.occasions),
            dtype=np.int64,
            count=len(numbers),
        ),
        np.fromiter(
            (float(o.amount) for _, p in bought for o in p.occasions),
            dtype=np.float64,
            count=len(numbers),
        ),
        day_number(cutoff),
        cutoff,
        fitted_at,
    )
    return CutoffFigures(
        tier_rankings=tiers,
        market_cycles=cycles,
        market_cycle_clients={market: len(values) for market, values in own.items()},
        model=PopulationModel(fit=fit, rfm=rfm, repeat_gaps=repeat),
    )


# --- 2. every client as of the cutoff ----------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """The clients with a score (an order by the cutoff), their states, inputs and scores."""

    clients: list[PastClient]
    states: list[ClientState]
    inputs: ScoreInputs
    scores: ScoreArrays
    churned: BoolArray
    status_rank: FloatArray
    signals: FloatArray
    notice: BoolArray  # a churn notice after the last order, by the cutoff
    prospects: int  # clients left out: no order by the cutoff


def evaluate_at(
    clients: Sequence[PastClient], policy: Policy, cutoff: datetime, figures: CutoffFigures
) -> Evaluation:
    """Each client evaluated at `cutoff` with the figures of the cutoff, as the write path
    would have (engine per client, scores for all at once)."""
    kept: list[PastClient] = []
    states: list[ClientState] = []
    rows = []
    for client in clients:
        state = evaluate(
            client.facts,
            policy,
            cutoff,
            figures.market_cycles.get(client.market),
            figures.model.repeat_gaps.get(client.market),
        )
        row = score_row(state, cutoff)
        if row is None:
            continue
        kept.append(client)
        states.append(state)
        rows.append(row)
    inputs = inputs_of(rows)
    scores = score_arrays(inputs, figures.model, policy)
    return Evaluation(
        clients=kept,
        states=states,
        inputs=inputs,
        scores=scores,
        churned=np.fromiter((c.churned for c in kept), dtype=bool, count=len(kept)),
        status_rank=np.fromiter(
            (STATUS_RANK[s.status] for s in states), dtype=np.float64, count=len(kept)
        ),
        signals=np.fromiter((len(s.signals) for s in states), dtype=np.float64, count=len(kept)),
        notice=np.fromiter(
            (_notice(c.facts, s, cutoff) for c, s in zip(kept, states, strict=True)),
            dtype=bool,
            count=len(kept),
        ),
        prospects=len(clients) - len(kept),
    )


def _notice(facts: ClientFacts, state: ClientState, cutoff: datetime) -> bool:
    last = state.last_order_at
    return last is not None and any(last < t <= cutoff for t in facts.churn_notices)


# --- 3. the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    status: Status
    clients: int
    churned: int


@dataclass(frozen=True)
class Report:
    clients: int
    churned: int
    prospects: int
    auc: dict[str, float]
    flagged: int  # at_risk + lost
    precision: float
    recall: float
    by_status: list[StatusRow]
    lift: dict[str, list[Decile]]
    fit: ModelFit | None
    extra: dict[str, Any] = field(default_factory=dict)


def predictors(evaluation: Evaluation) -> dict[str, FloatArray]:
    """Each predictor as a score where higher means more likely to churn."""
    scores, inputs = evaluation.scores, evaluation.inputs
    return {
        "status": evaluation.status_rank,
        "churn_risk": scores.churn_risk,
        "p_alive": -scores.p_alive,
        "signals": evaluation.signals,
        "lapse": inputs.lapse,
        "recency": inputs.recency_days,
        "fixed_90_days": (inputs.recency_days >= FIXED_RULE_DAYS).astype(np.float64),
        "expected_orders_90d": -scores.expected_orders_90d,
    }


def report(evaluation: Evaluation, fit: ModelFit | None) -> Report:
    y = evaluation.churned
    found = predictors(evaluation)
    flag = evaluation.status_rank >= STATUS_RANK["at_risk"]
    precision, recall = precision_recall(flag, y)
    by_status = [
        StatusRow(
            status,
            int((evaluation.status_rank == STATUS_RANK[status]).sum()),
            int((y & (evaluation.status_rank == STATUS_RANK[status])).sum()),
        )
        for status in STATUSES
        if status != "prospect"
    ]
    return Report(
        clients=int(y.size),
        churned=int(y.sum()),
        prospects=evaluation.prospects,
        auc={name: auc(score, y) for name, score in found.items() if not np.isnan(score).all()},
        flagged=int(flag.sum()),
        precision=precision,
        recall=recall,
        by_status=by_status,
        lift={
            "churn_risk": lift_by_decile(found["churn_risk"], y),
            "p_alive": lift_by_decile(found["p_alive"], y),
        },
        fit=fit,
    )


def backtest(
    clients: Sequence[PastClient], policy: Policy, cutoff: datetime, fitted_at: datetime
) -> tuple[Report, CutoffFigures, Evaluation]:
    figures = figures_at(clients, policy, cutoff, fitted_at)
    evaluation = evaluate_at(clients, policy, cutoff, figures)
    return report(evaluation, figures.model.fit), figures, evaluation


# --- 4. tuning ----------------------------------------------------------------------------------

AT_RISK_CYCLES = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
LOST_CYCLES = (2.0, 2.5, 3.0, 4.0, 5.0, 6.0)
GAP_AT_RISK = (0.5, 0.6, 0.7, 0.75, 0.8, 0.9)
GAP_LOST = (0.8, 0.9, 0.95, 0.99)
RISK_FIELDS = (
    "risk_intercept",
    "risk_alive_weight",
    "risk_lapse_weight",
    "risk_frequency_weight",
    "risk_signal_weight",
)


@dataclass(frozen=True)
class _Lapse:
    """Per client what the lapse lines need: days since the last order, cycle, whether it is in
    a recovery watch, and which usable repeat-gap distribution draws its lines (an index into
    `groups`, one per market and number of purchase days; -1: the cycle rule)."""

    days: FloatArray
    cycle: FloatArray
    watch: BoolArray
    group: npt.NDArray[np.int64]
    groups: list[GapQuantiles]
    # irregular buyers with three or more purchase days: the index in `groups` of their market's
    # later gaps, whose quantiles floor their cycle lines (-1: none)
    floor: npt.NDArray[np.int64]


def _lapse_inputs(evaluation: Evaluation, figures: CutoffFigures, policy: Policy) -> _Lapse:
    groups: list[GapQuantiles] = []
    index: dict[tuple[str, int], int] = {}
    group = np.full(len(evaluation.states), -1, dtype=np.int64)
    for i, (client, state) in enumerate(zip(evaluation.clients, evaluation.states, strict=True)):
        key = (client.market, state.purchase_days)
        if key not in index:
            gaps = figures.model.repeat_gaps.get(client.market)
            found = gaps.for_occasions(state.purchase_days) if gaps is not None else None
            usable = found is not None and found.n >= policy.repeat_gap_min_clients
            index[key] = len(groups) if usable else -1
            if found is not None and usable:
                groups.append(found)
        group[i] = index[key]
    floor = np.full(len(evaluation.states), -1, dtype=np.int64)
    later_index: dict[str, int] = {}
    for i, (client, state) in enumerate(zip(evaluation.clients, evaluation.states, strict=True)):
        if not policy.repeat_gap_floor_irregular or state.purchase_days < 3:
            continue
        if irregularity([o.day for o in state.occasions]) <= policy.xyz_x_max_cv:
            continue
        if client.market not in later_index:
            gaps = figures.model.repeat_gaps.get(client.market)
            later = gaps.later if gaps is not None else None
            usable = later is not None and later.n >= policy.repeat_gap_min_clients
            later_index[client.market] = len(groups) if usable else -1
            if later is not None and usable:
                groups.append(later)
        floor[i] = later_index[client.market]
    states = evaluation.states
    return _Lapse(
        days=evaluation.inputs.recency_days,
        cycle=np.fromiter((s.cycle_days for s in states), dtype=np.float64, count=len(states)),
        watch=np.fromiter((s.in_watch for s in states), dtype=bool, count=len(states)),
        group=group,
        groups=groups,
        floor=floor,
    )


def _lines(lapse: _Lapse, policy: Policy) -> tuple[FloatArray, FloatArray]:
    """The at-risk (watch included) and lost lines of every client under `policy` (the engine's
    `lapse_lines`, vectorised)."""
    cycle = lapse.cycle
    at_risk = policy.at_risk_cycles * cycle
    lost = np.minimum(policy.lost_cycles * cycle, policy.max_lapse_days)
    for g, gaps in enumerate(lapse.groups):
        members = lapse.group == g
        at_risk_line = gaps.at(policy.repeat_gap_at_risk_quantile)
        line = min(gaps.at(policy.repeat_gap_lost_quantile), policy.max_lapse_days)
        at_risk = np.where(members, at_risk_line, at_risk)
        lost = np.where(members, line, lost)
        floored = lapse.floor == g
        at_risk = np.where(floored, np.maximum(at_risk, at_risk_line), at_risk)
        lost = np.where(floored, np.maximum(lost, line), lost)
    watch_line = policy.recovered_at_risk_cycles * cycle
    watch_line = np.where(lapse.group >= 0, np.minimum(watch_line, at_risk), watch_line)
    return np.where(lapse.watch, watch_line, at_risk), lost


def screen_status(evaluation: Evaluation, lapse: _Lapse, policy: Policy) -> FloatArray:
    """The status rank of every client under `policy`, by the lapse lines (see the module)."""
    at_risk_line, lost_line = _lines(lapse, policy)
    other = evaluation.inputs.other_signals > 0
    lost = evaluation.notice | (lapse.days >= lost_line)
    at_risk = other | (lapse.days >= at_risk_line)
    rank = np.where(lapse.watch, STATUS_RANK["recovered"], STATUS_RANK["active"])
    rank = np.where(at_risk, STATUS_RANK["at_risk"], rank)
    return np.where(lost, STATUS_RANK["lost"], rank).astype(np.float64)


@dataclass(frozen=True)
class Candidate:
    changes: dict[str, float]
    status_auc: float
    precision: float
    recall: float


def _f1(precision: float, recall: float) -> float:
    if not (precision + recall) or math.isnan(precision) or math.isnan(recall):
        return 0.0
    return 2 * precision * recall / (precision + recall)


def tune_thresholds(
    evaluation: Evaluation, figures: CutoffFigures, policy: Policy
) -> tuple[Candidate, Candidate, int]:
    """(the current policy's screen, the best candidate, candidates screened): the grid of
    AT_RISK_CYCLES x LOST_CYCLES x GAP_AT_RISK x GAP_LOST (valid pairs only) ranked by the AUC of
    status, then the F1 of at_risk + lost."""
    lapse = _lapse_inputs(evaluation, figures, policy)
    y = evaluation.churned

    def candidate(changes: dict[str, float]) -> Candidate:
        trial = replace_policy(policy, changes)
        rank = screen_status(evaluation, lapse, trial)
        precision, recall = precision_recall(rank >= STATUS_RANK["at_risk"], y)
        return Candidate(changes, auc(rank, y), precision, recall)

    current = candidate({})
    best = current
    screened = 0
    uses_gaps = bool(lapse.groups)
    gap_grid = (
        [(a, b) for a in GAP_AT_RISK for b in GAP_LOST if b > a]
        if uses_gaps
        else [(policy.repeat_gap_at_risk_quantile, policy.repeat_gap_lost_quantile)]
    )
    for at_risk, lost in itertools.product(AT_RISK_CYCLES, LOST_CYCLES):
        if lost <= at_risk or policy.recovered_at_risk_cycles > at_risk:
            continue
        for q_risk, q_lost in gap_grid:
            changes = {
                "at_risk_cycles": at_risk,
                "lost_cycles": lost,
                "repeat_gap_at_risk_quantile": q_risk,
                "repeat_gap_lost_quantile": q_lost,
            }
            found = candidate(changes)
            screened += 1
            if (found.status_auc, _f1(found.precision, found.recall)) > (
                best.status_auc,
                _f1(best.precision, best.recall),
            ):
                best = found
    return current, best, screened


def replace_policy(policy: Policy, changes: Mapping[str, float]) -> Policy:
    """The policy with these fields changed, validated as a whole."""
    if not changes:
        return policy
    return Policy.model_validate(policy.model_dump(mode="json") | dict(changes))


def fit_risk_weights(
    evaluation: Evaluation, figures: CutoffFigures, policy: Policy
) -> dict[str, float]:
    """churn_risk weights by maximum likelihood (a logistic regression of churned on the
    churn_risk terms, at `policy`'s lapse lines, with a light ridge so a term that never varies
    here, such as signals on an orders-only history, keeps its current weight), rounded to
    two decimals."""
    lapse = _lapse_inputs(evaluation, figures, policy)
    at_risk_line, _ = _lines(lapse, policy)
    alive = evaluation.scores.p_alive
    with np.errstate(divide="ignore"):
        lapse_ratio = np.where(at_risk_line > 0, lapse.days / at_risk_line, np.inf)
    terms = [
        np.ones_like(lapse.days),
        _logit_or_zero(1.0 - alive),
        np.log(np.maximum(lapse_ratio, LAPSE_FLOOR)),
        np.log1p(evaluation.inputs.x),
        evaluation.inputs.other_signals,
    ]
    keep = ~evaluation.notice
    x = np.column_stack([t[keep] for t in terms])
    y = evaluation.churned[keep].astype(np.float64)
    current = np.array([getattr(policy, name) for name in RISK_FIELDS])
    ridge = 1e-3

    def objective(w: FloatArray) -> tuple[float, FloatArray]:
        z = x @ w
        loss = float(np.mean(np.logaddexp(0.0, z) - y * z)) + ridge * float(
            np.sum((w - current) ** 2)
        )
        p = 1.0 / (1.0 + np.exp(-z))
        grad = x.T @ (p - y) / y.size + 2 * ridge * (w - current)
        return loss, grad

    if y.size == 0 or y.min() == y.max():
        return {name: float(v) for name, v in zip(RISK_FIELDS, current, strict=True)}
    from scipy.optimize import minimize  # 0.4 s at import: only tuning needs it

    found = minimize(objective, current, jac=True, method="L-BFGS-B")
    weights = np.clip(np.round(found.x, 2), -10, 10)
    weights[0] = np.clip(weights[0], -20, 20)
    return {name: float(v) for name, v in zip(RISK_FIELDS, weights, strict=True)}


def _logit_or_zero(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    out: FloatArray = np.where(np.isnan(p), 0.0, np.log(q) - np.log1p(-q))
    return out


def risk_auc(evaluation: Evaluation, policy: Policy) -> float:
    """The AUC of churn_risk under `policy`'s weights, with the inputs as evaluated."""
    inputs = evaluation.inputs
    risk = churn_risk(
        policy,
        evaluation.scores.p_alive,
        inputs.lapse,
        inputs.x,
        inputs.other_signals,
        inputs.by_notice,
    )
    return auc(risk, evaluation.churned)


__all__ = [
    "STATUS_RANK",
    "Candidate",
    "CutoffFigures",
    "Evaluation",
    "PastClient",
    "Report",
    "StatusRow",
    "backtest",
    "evaluate_at",
    "figures_at",
    "fit_risk_weights",
    "replace_policy",
    "report",
    "tune_thresholds",
]
