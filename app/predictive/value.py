"""Customer lifetime value over a horizon, and all of one client's scores at once.

CLV here is a plain discounted sum over periods (default: months of 365.25/12 days):

    CLV = margin * E[spend] * sum_k (E[Y(t_k)] - E[Y(t_{k-1})]) / (1 + annual_rate)^(t_k in years)

with t_k = min(k * period, horizon), E[Y(t)] the expected purchases in the next t
(`bgnbd.expected_purchases`) and E[spend] the Gamma-Gamma expected mean spend: each period's
expected purchases are valued at the expected spend and the margin, discounted from the end of
the period. It is the expected margin of the next `horizon` (not of a whole lifetime), in the
money of the spends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.predictive.bgnbd import (
    BgNbdParams,
    check_rows,
    expected_purchases,
    next_purchase_median,
    p_alive,
    purchase_probability,
)
from app.predictive.gamma_gamma import GammaGammaParams, expected_spend
from app.predictive.summary import ClientSummary

FloatArray = npt.NDArray[np.float64]
DAYS_PER_YEAR = 365.25
MONTH_DAYS = DAYS_PER_YEAR / 12


def clv(
    purchase: BgNbdParams,
    spend: GammaGammaParams,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
    mean_spend: npt.ArrayLike,
    *,
    horizon: float,
    margin: float,
    annual_discount_rate: float,
    period: float | None = None,
) -> FloatArray:
    """The discounted expected margin of the next `horizon` (in the params' time unit), per
    client; `period` defaults to a month in that unit."""
    value, _ = clv_and_expected(
        purchase,
        spend,
        x,
        t_x,
        T,
        mean_spend,
        horizon=horizon,
        margin=margin,
        annual_discount_rate=annual_discount_rate,
        period=period,
    )
    return value


def clv_and_expected(
    purchase: BgNbdParams,
    spend: GammaGammaParams,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
    mean_spend: npt.ArrayLike,
    *,
    horizon: float,
    margin: float,
    annual_discount_rate: float,
    period: float | None = None,
    also_at: Sequence[float] = (),
) -> tuple[FloatArray, FloatArray]:
    """`clv`, and the expected purchases E[Y(t)] at each t of `also_at` (shape (len(also_at),
    *x.shape)), from one evaluation of E[Y] over all the times: what a client's scores need,
    at the cost of one call (numpy's per-call overhead dominates for a single client)."""
    if horizon < 0 or not math.isfinite(horizon):
        raise ValueError("horizon must be finite and >= 0")
    if annual_discount_rate <= -1:
        raise ValueError("annual_discount_rate must be > -1")
    step = MONTH_DAYS / purchase.unit_days if period is None else period
    if step <= 0:
        raise ValueError("period must be positive")
    x_, t_x_, T_ = check_rows(x, t_x, T)
    value = margin * expected_spend(spend, x_, mean_spend)
    periods = max(1, math.ceil(horizon / step - 1e-9))
    ends = np.minimum(np.arange(1, periods + 1) * step, horizon)
    years = ends * purchase.unit_days / DAYS_PER_YEAR
    discount = (1.0 + annual_discount_rate) ** -years
    times = np.concatenate([ends, np.asarray(also_at, dtype=np.float64)])
    shape = (times.size,) + (1,) * x_.ndim
    expected = expected_purchases(purchase, times.reshape(shape), x_, t_x_, T_)
    cumulative = expected[:periods]
    per_period = np.diff(cumulative, axis=0, prepend=np.zeros((1, *x_.shape)))
    discounted = np.tensordot(discount, per_period, axes=(0, 0))
    out: FloatArray = value * discounted
    return out, expected[periods:]


@dataclass(frozen=True, slots=True)
class ClientScores:
    """One client's scores; times in the params' unit, measured from the cutoff.

    - p_alive: P(the client is still a client at the cutoff)
    - expected_purchases: expected purchase occasions within the horizon
    - purchase_probability: P(at least one purchase within the horizon)
    - expected_spend: expected mean spend per occasion (Gamma-Gamma)
    - clv: discounted expected margin within the horizon
    - next_purchase_median: median wait for the next purchase if alive
    """

    p_alive: float
    expected_purchases: float
    purchase_probability: float
    expected_spend: float
    clv: float
    next_purchase_median: float


def score(
    purchase: BgNbdParams,
    spend: GammaGammaParams,
    client: ClientSummary,
    *,
    horizon: float,
    margin: float,
    annual_discount_rate: float,
    period: float | None = None,
) -> ClientScores:
    """All of one client's scores (what the write path stores next to its status)."""
    if not math.isclose(client.unit_days, purchase.unit_days):
        raise ValueError(
            f"the client's summary is in {client.unit_days:g}-day units, "
            f"the model in {purchase.unit_days:g}-day units"
        )
    x, t_x, T, z = client.x, client.t_x, client.T, client.mean_repeat_spend
    return ClientScores(
        p_alive=float(p_alive(purchase, x, t_x, T)),
        expected_purchases=float(expected_purchases(purchase, horizon, x, t_x, T)),
        purchase_probability=float(purchase_probability(purchase, horizon, x, t_x, T)),
        expected_spend=float(expected_spend(spend, x, z)),
        clv=float(
            clv(
                purchase,
                spend,
                x,
                t_x,
                T,
                z,
                horizon=horizon,
                margin=margin,
                annual_discount_rate=annual_discount_rate,
                period=period,
            )
        ),
        next_purchase_median=float(next_purchase_median(purchase, x, T)),
    )
