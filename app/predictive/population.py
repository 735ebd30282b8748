"""What a population teaches about each of its clients, as plain data: the fitted purchase and
spend models (`ModelFit`), RFM quintile cut points (`RfmCuts`), the distribution of the gaps to a
second and a third purchase (`RepeatGaps`), and the pure maths that makes each of them from
arrays of orders or client figures. Pure: numpy, no database, no clock.

The worker computes these figures from the stored clients (set-based SQL for the cut points and
quantiles, the order arrays for the fit) and the backtest computes them here from a history
folded up to a cutoff; the two are compared by the tests. Every figure has a JSON form (stored in
`population_stats` and `model_fit`) that `from_json` reads back.

- **Model fit**: MBG/NBD (`RECOMMENDED_VARIANT`) in days and Gamma-Gamma on the repeat buyers with
  a positive mean repeat spend, as `fit_bgnbd` and `fit_gamma_gamma` return them (fallbacks
  included: `fallback_reason` says why).
- **RFM**: quintile scores 1-5. The cut points are the 20/40/60/80 % quantiles (linear
  interpolation, as PostgreSQL's `percentile_cont`) of the days since the last order, the
  purchase occasions and the value of every client with an order. A score is 1 + the number of
  cut points the client's figure is above (recency reversed: the fewest days score 5). Ties
  (most clients have one occasion) put everyone on a tied cut in the same, lower score.
- **XYZ**: regularity by the coefficient of variation (population standard deviation / mean) of
  the gaps in days between distinct purchase days, once there are `XYZ_MIN_GAPS` gaps: X below
  the policy's `xyz_x_max_cv`, Y below `xyz_y_max_cv`, Z otherwise.
- **Repeat gaps**: the quantiles (1 % to 99 %, linear) of the days from the first purchase day
  to the second, among clients who made a second one (`after_first`), and from the second to
  the third (`after_second`): how late second and third orders come in this business. The churn
  engine draws the at-risk and lost lines of one- and two-time buyers from them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from app.predictive.bgnbd import RECOMMENDED_VARIANT, BgNbdParams, Variant, fit_bgnbd
from app.predictive.fitting import Fit
from app.predictive.gamma_gamma import GammaGammaParams, fit_gamma_gamma
from app.predictive.summary import DAYS, Summaries, summarize_arrays

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RFM_LEVELS = (0.2, 0.4, 0.6, 0.8)
GAP_LEVELS = tuple(round(k / 100, 2) for k in range(1, 100))  # 0.01 .. 0.99
XYZ_MIN_GAPS = 2  # the coefficient of variation of fewer gaps says nothing (one gap: always 0)


# --- the model fit --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelFit:
    """A fitted purchase model (MBG/NBD, days) and spend model (Gamma-Gamma), with what the
    fits report. `as_of`: the history it was fitted on ends there; `fitted_at`: when."""

    purchase: BgNbdParams
    spend: GammaGammaParams
    n: int
    log_likelihood: float
    converged: bool
    iterations: int
    seconds: float
    fallback_reason: str | None
    spend_n: int
    spend_log_likelihood: float
    spend_converged: bool
    spend_fallback_reason: str | None
    as_of: datetime
    fitted_at: datetime
    warnings: tuple[str, ...] = ()
    id: int | None = None

    def params_json(self) -> dict[str, Any]:
        p, s = self.purchase, self.spend
        return {
            "purchase": {
                "variant": p.variant.value,
                "unit_days": p.unit_days,
                "r": p.r,
                "alpha": p.alpha,
                "a": p.a,
                "b": p.b,
            },
            "spend": {"p": s.p, "q": s.q, "gamma": s.gamma},
        }


def params_from_json(raw: Mapping[str, Any]) -> tuple[BgNbdParams, GammaGammaParams]:
    p, s = raw["purchase"], raw["spend"]
    purchase = BgNbdParams(
        r=float(p["r"]),
        alpha=float(p["alpha"]),
        a=float(p["a"]),
        b=float(p["b"]),
        variant=Variant(p["variant"]),
        unit_days=float(p["unit_days"]),
    )
    return purchase, GammaGammaParams(p=float(s["p"]), q=float(s["q"]), gamma=float(s["gamma"]))


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan


def fit_population(summaries: Summaries, as_of: datetime, fitted_at: datetime) -> ModelFit:
    """MBG/NBD (in days) and Gamma-Gamma fitted on a population's summaries."""
    if summaries.unit_days != DAYS:
        raise ValueError("winback's model is fitted in days")
    purchase: Fit[BgNbdParams] = fit_bgnbd(
        summaries.x, summaries.t_x, summaries.T, variant=RECOMMENDED_VARIANT, unit_days=DAYS
    )
    # over the repeat buyers with a positive mean repeat spend (the fit leaves out the others)
    spend: Fit[GammaGammaParams] = fit_gamma_gamma(summaries.x, summaries.mean_repeat_spend)
    return ModelFit(
        purchase=purchase.params,
        spend=spend.params,
        n=purchase.n,
        log_likelihood=_finite(purchase.log_likelihood),
        converged=purchase.converged,
        iterations=purchase.iterations,
        seconds=purchase.seconds + spend.seconds,
        fallback_reason=purchase.fallback_reason,
        spend_n=spend.n,
        spend_log_likelihood=_finite(spend.log_likelihood),
        spend_converged=spend.converged,
        spend_fallback_reason=spend.fallback_reason,
        as_of=as_of,
        fitted_at=fitted_at,
        warnings=purchase.warnings + spend.warnings,
    )


def fit_orders(
    client: npt.ArrayLike,
    day: npt.ArrayLike,
    amount: npt.ArrayLike,
    cutoff_day: int,
    as_of: datetime,
    fitted_at: datetime,
) -> ModelFit:
    """The fit from one row per order: (client number, UTC day number, net amount)."""
    return fit_population(summarize_arrays(client, day, amount, cutoff_day), as_of, fitted_at)


# --- RFM --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RfmCuts:
    """The 20/40/60/80 % quantiles of days since the last order (at `computed_at`), purchase
    occasions and value, over the `n` clients with an order."""

    recency_days: tuple[float, ...]
    frequency: tuple[float, ...]
    monetary: tuple[float, ...]
    n: int

    def to_json(self) -> dict[str, Any]:
        return {
            "recency_days": list(self.recency_days),
            "frequency": list(self.frequency),
            "monetary": list(self.monetary),
            "n": self.n,
        }

    @staticmethod
    def from_json(raw: Mapping[str, Any] | None) -> RfmCuts | None:
        if not raw or not raw.get("n"):
            return None
        return RfmCuts(
            tuple(float(v) for v in raw["recency_days"]),
            tuple(float(v) for v in raw["frequency"]),
            tuple(float(v) for v in raw["monetary"]),
            int(raw["n"]),
        )


def rfm_cuts(
    recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> RfmCuts | None:
    """The cut points of a population (one value per client with an order); None when empty."""
    r = np.asarray(recency_days, dtype=np.float64)
    if r.size == 0:
        return None

    def cuts(values: npt.ArrayLike) -> tuple[float, ...]:
        found = np.quantile(np.asarray(values, dtype=np.float64), RFM_LEVELS)
        return tuple(float(v) for v in found)

    return RfmCuts(cuts(r), cuts(frequency), cuts(monetary), int(r.size))


def _above(values: FloatArray, cuts: tuple[float, ...]) -> IntArray:
    """How many cut points each value is strictly above."""
    edges = np.asarray(cuts, dtype=np.float64)
    out: IntArray = np.sum(values[..., None] > edges, axis=-1).astype(np.int64)
    return out


def rfm_scores(
    cuts: RfmCuts, recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> tuple[IntArray, IntArray, IntArray]:
    """(R, F, M), each 1-5: R 5 for the most recent buyers, F and M 5 for the most and highest."""
    r = 5 - _above(np.asarray(recency_days, dtype=np.float64), cuts.recency_days)
    f = 1 + _above(np.asarray(frequency, dtype=np.float64), cuts.frequency)
    m = 1 + _above(np.asarray(monetary, dtype=np.float64), cuts.monetary)
    return r, f, m


# --- XYZ --------------------------------------------------------------------------------------


def xyz_classes(cv: npt.ArrayLike, x_max: float, y_max: float) -> npt.NDArray[np.str_]:
    """'X' for cv < x_max, 'Y' for cv < y_max, 'Z' otherwise, '' where cv is nan (too few gaps)."""
    cv_ = np.asarray(cv, dtype=np.float64)
    out = np.where(cv_ < x_max, "X", np.where(cv_ < y_max, "Y", "Z"))
    return np.where(np.isnan(cv_), "", out)


def gaps_cv(gaps: Sequence[int | float]) -> float:
    """The coefficient of variation (population standard deviation / mean) of gaps in days; nan
    with fewer than XYZ_MIN_GAPS. Plain floats: it runs once per client on the write path."""
    if len(gaps) < XYZ_MIN_GAPS:
        return math.nan
    mean = sum(gaps) / len(gaps)
    if mean <= 0:
        return math.nan
    variance = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    return math.sqrt(variance) / mean


# --- repeat gaps ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GapQuantiles:
    """Quantiles at GAP_LEVELS (1 % to 99 %) of gaps in days between purchase days, over n."""

    n: int
    values: tuple[float, ...]

    def at(self, q: float) -> float:
        """The q-quantile, interpolated between the stored levels (exact on a level).

        numpy.interp's arithmetic on plain floats (the same result to the bit): it runs a few
        times per client evaluated, where np.interp's array set-up cost most of a sweep's
        lapse lines."""
        levels, values = GAP_LEVELS, self.values
        if q != q:  # nan
            return math.nan
        if q <= levels[0]:
            return values[0]
        if q >= levels[-1]:
            return values[-1]
        j = bisect.bisect_right(levels, q) - 1
        slope = (values[j + 1] - values[j]) / (levels[j + 1] - levels[j])
        found = slope * (q - levels[j]) + values[j]
        if found != found:  # numpy: if nan one way, try from the other end
            found = slope * (q - levels[j + 1]) + values[j + 1]
            if found != found and values[j] == values[j + 1]:
                found = values[j]
        return found

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "values": list(self.values)}

    @staticmethod
    def from_json(raw: Mapping[str, Any] | None) -> GapQuantiles | None:
        if not raw or not raw.get("n"):
            return None
        return GapQuantiles(int(raw["n"]), tuple(float(v) for v in raw["values"]))


def gap_quantiles(gaps: npt.ArrayLike) -> GapQuantiles | None:
    g = np.asarray(gaps, dtype=np.float64)
    if g.size == 0:
        return None
    return GapQuantiles(int(g.size), tuple(float(v) for v in np.quantile(g, GAP_LEVELS)))


@dataclass(frozen=True, slots=True)
class RepeatGaps:
    """One market's gaps from the first purchase day to the second, the second to the third, and
    between later purchase days (the third to the fourth and on, pooled)."""

    after_first: GapQuantiles | None = None
    after_second: GapQuantiles | None = None
    later: GapQuantiles | None = None

    def for_occasions(self, occasions: int) -> GapQuantiles | None:
        """The distribution that says when the next purchase of a client with this many purchase
        days is late: after_first for one, after_second for two, none beyond (the client's own
        cycle, floored by `later` for irregular buyers)."""
        if occasions == 1:
            return self.after_first
        if occasions == 2:
            return self.after_second
        return None

    def to_json(self) -> dict[str, Any]:
        pairs = (
            ("after_first", self.after_first),
            ("after_second", self.after_second),
            ("later", self.later),
        )
        return {key: value.to_json() for key, value in pairs if value is not None}

    @staticmethod
    def from_json(raw: Mapping[str, Any] | None) -> RepeatGaps:
        raw = raw or {}
        return RepeatGaps(
            GapQuantiles.from_json(raw.get("after_first")),
            GapQuantiles.from_json(raw.get("after_second")),
            GapQuantiles.from_json(raw.get("later")),
        )


@dataclass(frozen=True, slots=True)
class PopulationModel:
    """The figures the scores and the newcomer lines need, as the snapshot carries them: the
    model fit (None until the first fit), the RFM cut points and the repeat gaps per market."""

    fit: ModelFit | None = None
    rfm: RfmCuts | None = None
    repeat_gaps: Mapping[str, RepeatGaps] = field(default_factory=dict)


__all__ = [
    "GAP_LEVELS",
    "RFM_LEVELS",
    "XYZ_MIN_GAPS",
    "GapQuantiles",
    "ModelFit",
    "PopulationModel",
    "RepeatGaps",
    "RfmCuts",
    "fit_orders",
    "fit_population",
    "gap_quantiles",
    "gaps_cv",
    "params_from_json",
    "rfm_cuts",
    "rfm_scores",
    "xyz_classes",
]
