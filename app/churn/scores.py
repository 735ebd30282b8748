"""Each client's model scores and churn risk (SPEC §8): pure, vectorised, with `now` an argument.

One function does the work for any number of clients, `score_arrays`: the write path calls it
for the clients of a write (often one), the sweeper for a batch, a backtest for a whole
population at once, so "the scores on write" and "the scores of a backtest" are the same
computation. From each client's evaluated state (`ClientState`, which carries its purchase
days) and the population's figures (`PopulationModel`):

- `p_alive`, `expected_orders_90d`, `predicted_clv` and `predicted_next_order_at`: the fitted
  MBG/NBD and Gamma-Gamma (app.predictive), on (x, t_x, T, mean repeat spend) in days, the cutoff
  being `now`'s UTC day (orders later that day count, as in the models' summaries). CLV is the
  discounted expected margin of the next `clv_horizon_days` at `margin_rate`, discounted at
  `clv_discount_rate` a year; the next order date is `now` + the median wait if alive.
- `rfm`: "RFM" quintile scores 1-5 against the population's cut points (recency: days since the
  last order; frequency: purchase days; monetary: value).
- `xyz`: X, Y or Z by the coefficient of variation of the gaps between purchase days (needs two
  gaps).
- `churn_risk` (0-1): a logistic combination, each weight a policy number,

      logit(risk) = risk_intercept + risk_alive_weight * logit(1 - p_alive)
                    + risk_lapse_weight * ln(lapse) + risk_frequency_weight * ln(1 + x)
                    + risk_signal_weight * (signals other than lapsed)

  with lapse = days since the last order / the client's at-risk line (its own cycle's, or the
  population's for one- and two-time buyers: lapse >= 1 is the lapsed signal; floored at 0.01).
  Without a fitted model the p_alive term is left out. A client lost by a churn notice has risk
  1: it said so. The defaults were fitted on CDNOW (docs/models.md) and `POST /v1/policy/tune`
  proposes this seller's own.

Scores are for clients with an order on or before `now`'s day; others get `NO_SCORES`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from app.churn.engine import ClientState
from app.kit.money import to_money
from app.policy.schemas import Policy
from app.predictive import next_purchase_median, p_alive
from app.predictive.population import PopulationModel, gaps_cv, rfm_scores, xyz_classes
from app.predictive.value import clv_and_expected

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EXPECTED_ORDERS_DAYS = 90.0
LAPSE_FLOOR = 0.01
ALIVE_CLIP = 1e-6  # logit(1 - p_alive) within +-13.8
MAX_WAIT_DAYS = 36_500.0  # a median wait beyond a century is no date


@dataclass(frozen=True, slots=True)
class Scores:
    """What the write path stores next to the status (None: not computed, see the module)."""

    p_alive: float | None = None
    expected_orders_90d: float | None = None
    predicted_clv: Decimal | None = None
    predicted_next_order_at: datetime | None = None
    rfm: str | None = None
    xyz: str | None = None
    churn_risk: float | None = None
    model_fit_id: int | None = None


NO_SCORES = Scores()


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """One entry per client: the models' summary in days and what the rest of the scores read."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    mean_spend: FloatArray
    recency_days: FloatArray
    frequency: FloatArray  # purchase days
    monetary: FloatArray  # value
    gaps_cv: FloatArray  # nan with fewer than two gaps
    lapse: FloatArray  # days since the last order / at-risk line
    other_signals: FloatArray
    by_notice: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ScoreArrays:
    p_alive: FloatArray  # nan without a model
    expected_orders_90d: FloatArray
    predicted_clv: FloatArray
    next_order_days: FloatArray  # median wait from now, if alive
    rfm_r: IntArray  # 0 without cut points
    rfm_f: IntArray
    rfm_m: IntArray
    xyz: npt.NDArray[np.str_]  # '' without two gaps
    churn_risk: FloatArray


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One client's inputs (`score_row`), gathered into `ScoreInputs` by `inputs_of`."""

    x: float
    t_x: float
    T: float
    mean_spend: float
    recency_days: float
    frequency: float
    monetary: float
    gaps_cv: float
    lapse: float
    other_signals: float
    by_notice: bool


def score_row(state: ClientState, now: datetime) -> ScoreRow | None:
    """The inputs of one client, or None without a purchase day on or before now's UTC day."""
    if state.lines is None:
        return None
    cutoff = now.astimezone(UTC).date()
    days = [o for o in state.occasions if o.day <= cutoff]
    if not days:
        return None
    first = days[0].day
    repeat = days[1:]
    gaps = [(b.day - a.day).days for a, b in itertools.pairwise(days)]
    since = max(state.days_since_last_order or 0.0, 0.0)
    line = state.lines.at_risk(state.in_watch)
    notice = state.status == "lost" and bool(state.episodes) and state.episodes[-1].by_notice
    return ScoreRow(
        x=float(len(repeat)),
        t_x=float((days[-1].day - first).days),
        T=float((cutoff - first).days),
        mean_spend=float(sum(o.amount for o in repeat) / len(repeat)) if repeat else 0.0,
        recency_days=since,
        frequency=float(state.purchase_days),
        monetary=float(state.value),
        gaps_cv=gaps_cv(gaps),
        lapse=since / line if line > 0 else math.inf,
        other_signals=float(sum(1 for s in state.signals if s.code != "lapsed")),
        by_notice=notice,
    )


def inputs_of(rows: Sequence[ScoreRow]) -> ScoreInputs:
    def column(name: str) -> FloatArray:
        return np.fromiter((getattr(r, name) for r in rows), dtype=np.float64, count=len(rows))

    return ScoreInputs(
        x=column("x"),
        t_x=column("t_x"),
        T=column("T"),
        mean_spend=column("mean_spend"),
        recency_days=column("recency_days"),
        frequency=column("frequency"),
        monetary=column("monetary"),
        gaps_cv=column("gaps_cv"),
        lapse=column("lapse"),
        other_signals=column("other_signals"),
        by_notice=np.fromiter((r.by_notice for r in rows), dtype=bool, count=len(rows)),
    )


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, ALIVE_CLIP, 1.0 - ALIVE_CLIP)
    out: FloatArray = np.log(q) - np.log1p(-q)
    return out


def churn_risk(
    policy: Policy,
    alive: FloatArray,
    lapse: FloatArray,
    x: FloatArray,
    other_signals: FloatArray,
    by_notice: npt.NDArray[np.bool_],
) -> FloatArray:
    """The logistic combination of the module's docstring (alive nan: no model term)."""
    z = (
        policy.risk_intercept
        + policy.risk_lapse_weight * np.log(np.maximum(lapse, LAPSE_FLOOR))
        + policy.risk_frequency_weight * np.log1p(x)
        + policy.risk_signal_weight * other_signals
    )
    model_term = np.where(np.isnan(alive), 0.0, policy.risk_alive_weight * _logit(1.0 - alive))
    with np.errstate(over="ignore"):
        risk: FloatArray = 1.0 / (1.0 + np.exp(-(z + model_term)))
    return np.where(by_notice, 1.0, risk)


def score_arrays(inputs: ScoreInputs, model: PopulationModel, policy: Policy) -> ScoreArrays:
    """Every score of every client at once (see the module)."""
    size = inputs.x.size
    nan = np.full(size, np.nan)
    fit = model.fit
    if fit is not None and size:
        x, t_x, T, z = inputs.x, inputs.t_x, inputs.T, inputs.mean_spend
        alive = p_alive(fit.purchase, x, t_x, T)
        with np.errstate(invalid="ignore"):
            value, at = clv_and_expected(
                fit.purchase,
                fit.spend,
                x,
                t_x,
                T,
                z,
                horizon=policy.clv_horizon_days,
                margin=policy.margin_rate,
                annual_discount_rate=policy.clv_discount_rate,
                also_at=(EXPECTED_ORDERS_DAYS,),
            )
        expected = at[0]
        wait = next_purchase_median(fit.purchase, x, T)
    else:
        alive, expected, value, wait = nan, nan, nan, nan
    if model.rfm is not None:
        r, f, m = rfm_scores(model.rfm, inputs.recency_days, inputs.frequency, inputs.monetary)
    else:
        r = f = m = np.zeros(size, dtype=np.int64)
    risk = churn_risk(policy, alive, inputs.lapse, inputs.x, inputs.other_signals, inputs.by_notice)
    return ScoreArrays(
        p_alive=alive,
        expected_orders_90d=expected,
        predicted_clv=value,
        next_order_days=wait,
        rfm_r=r,
        rfm_f=f,
        rfm_m=m,
        xyz=xyz_classes(inputs.gaps_cv, policy.xyz_x_max_cv, policy.xyz_y_max_cv),
        churn_risk=risk,
    )


def _float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def scores_at(arrays: ScoreArrays, i: int, now: datetime, fit_id: int | None) -> Scores:
    """Client i of `arrays` as stored values."""
    wait = arrays.next_order_days[i]
    clv_value = arrays.predicted_clv[i]
    code = f"{arrays.rfm_r[i]}{arrays.rfm_f[i]}{arrays.rfm_m[i]}" if arrays.rfm_r[i] > 0 else None
    return Scores(
        p_alive=_float(arrays.p_alive[i]),
        expected_orders_90d=_float(arrays.expected_orders_90d[i]),
        predicted_clv=to_money(Decimal(repr(float(clv_value))))
        if math.isfinite(clv_value)
        else None,
        predicted_next_order_at=now + timedelta(days=float(wait))
        if math.isfinite(wait) and wait <= MAX_WAIT_DAYS
        else None,
        rfm=code,
        xyz=str(arrays.xyz[i]) or None,
        churn_risk=_float(arrays.churn_risk[i]),
        model_fit_id=fit_id,
    )


def score_states(
    states: Sequence[ClientState], model: PopulationModel, policy: Policy, now: datetime
) -> list[Scores]:
    """The scores of evaluated clients (one call for all of them), in their order."""
    rows = [score_row(state, now) for state in states]
    present = [row for row in rows if row is not None]
    if not present:
        return [NO_SCORES] * len(states)
    arrays = score_arrays(inputs_of(present), model, policy)
    fit_id = model.fit.id if model.fit is not None else None
    out: list[Scores] = []
    k = 0
    for row in rows:
        if row is None:
            out.append(NO_SCORES)
        else:
            out.append(scores_at(arrays, k, now, fit_id))
            k += 1
    return out
