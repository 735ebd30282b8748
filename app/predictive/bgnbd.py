"""BG/NBD (Fader, Hardie & Lee 2005) and MBG/NBD (Batislam, Denizel & Filiztekin 2007).

While alive a client buys as a Poisson process of rate lambda ~ Gamma(r, alpha) (shape r, rate
alpha; alpha is a time, in the unit of `unit_days`); right after a purchase an alive client
drops out with probability p ~ Beta(a, b). BG/NBD gives a dropout chance after each *repeat*
purchase only, so a client who never came back is alive for sure (P(alive | x = 0) = 1): with
winback's one-order clients that is the wrong answer. MBG/NBD also gives one at the first
purchase (time 0), so a one-order client's P(alive) falls with T. Both are here; `Variant`
picks one.

With m = x + s survived dropout chances (s = 0 for BG/NBD, 1 for MBG/NBD) and
D = ln B(a, b + m) - ln B(a, b), the log-likelihood of (x, t_x, T) is

    ln G(r+x) - ln G(r) + r ln alpha + D
      + ln[ (alpha+T)^-(r+x) + [m >= 1] a/(b+m-1) (alpha+t_x)^-(r+x) ]

(G the gamma function; alive at T, or dropped out right after the purchase at t_x); it is
evaluated with logaddexp, and its gradient in closed form (digamma). The conditional scores:

    P(alive) = 1 / (1 + [m >= 1] a/(b+m-1) ((alpha+T)/(alpha+t_x))^(r+x))
    E[Y(t) | x, t_x, T] = P(alive) E[Y(t) | alive],
        with the posteriors p ~ Beta(a, b+m), lambda ~ Gamma(r+x, alpha+T)
    P(next purchase within s) = P(alive) (1 - ((alpha+T)/(alpha+T+s))^(r+x))
    median wait from the cutoff to the next purchase, if alive = (alpha+T)(2^(1/(r+x)) - 1)

(an alive client buys again for sure: dropout happens only right after a purchase, so the wait
is exponential with the posterior rate, a Lomax distribution once lambda is integrated out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, expit, gammaln

from app.predictive.fitting import MIN_CLIENTS, Fit, Stopwatch, minimise, weighted_sum
from app.predictive.hypergeometric import alive_expected_purchases
from app.predictive.summary import DAYS, WEEKS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Variant(StrEnum):
    BG_NBD = "bg_nbd"
    MBG_NBD = "mbg_nbd"

    @property
    def shift(self) -> int:
        """Dropout chances before the first repeat purchase: 0 (BG/NBD) or 1 (MBG/NBD)."""
        return 1 if self is Variant.MBG_NBD else 0


# What winback wires: most of a seller's clients have one order, and BG/NBD calls every one of
# them alive (docs/models.md). BG/NBD stays the default of the functions: the classic model, the
# one the published CDNOW numbers check.
RECOMMENDED_VARIANT = Variant.MBG_NBD


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """r, alpha: the Gamma of purchase rates (alpha in units of `unit_days` days); a, b: the Beta of
    dropout probabilities."""

    r: float
    alpha: float
    a: float
    b: float
    variant: Variant = Variant.BG_NBD
    unit_days: float = DAYS

    def in_unit(self, unit_days: float) -> BgNbdParams:
        """The same model with times in another unit (alpha is a time; r, a, b have no unit)."""
        return replace(self, alpha=self.alpha * self.unit_days / unit_days, unit_days=unit_days)


# Fader, Hardie & Lee (2005), CDNOW 1/10th sample, weeks: the fallback when a population is too
# small to estimate its own (a retail population: a repeat purchase every ~18 weeks while alive).
CDNOW_PUBLISHED = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426, unit_days=WEEKS)


# --- data --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rows:
    """Distinct (x, t_x, T) rows with their weights, and the distinct x and T values (the
    special functions are evaluated once per distinct x, the logs once per distinct T)."""

    x: FloatArray
    t_x: FloatArray
    weight: FloatArray
    x_values: FloatArray
    x_index: IntArray
    t_values: FloatArray
    t_index: IntArray
    total: float  # sum of weights: the number of clients


def check_rows(
    x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Broadcast float arrays; ValueError unless x >= 0, 0 <= t_x <= T (t_x = 0 when x = 0),
    all finite."""
    x_, t_x_, T_ = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64),
        np.asarray(t_x, dtype=np.float64),
        np.asarray(T, dtype=np.float64),
    )
    if not (np.all(np.isfinite(x_)) and np.all(np.isfinite(t_x_)) and np.all(np.isfinite(T_))):
        raise ValueError("x, t_x and T must be finite")
    if np.any(x_ < 0) or np.any(t_x_ < 0) or np.any(t_x_ > T_):
        raise ValueError("need x >= 0 and 0 <= t_x <= T")
    if np.any((x_ == 0) & (t_x_ != 0)):
        raise ValueError("t_x is the time of the last repeat purchase: 0 when x = 0")
    return x_, t_x_, T_


def _group(x: FloatArray, t_x: FloatArray, T: FloatArray, weights: FloatArray | None) -> _Rows:
    x, t_x, T = x.ravel(), t_x.ravel(), T.ravel()
    order = np.lexsort((T, t_x, x))
    xs, ts, Ts = x[order], t_x[order], T[order]
    new = np.ones(xs.size, dtype=bool)
    new[1:] = (xs[1:] != xs[:-1]) | (ts[1:] != ts[:-1]) | (Ts[1:] != Ts[:-1])
    starts = np.flatnonzero(new)
    if weights is None:
        weight = np.diff(np.append(starts, xs.size)).astype(np.float64)
    else:
        weight = np.add.reduceat(weights.ravel()[order], starts)
    x_distinct, t_x_distinct, T_distinct = xs[starts], ts[starts], Ts[starts]
    x_values, x_index = np.unique(x_distinct, return_inverse=True)
    t_values, t_index = np.unique(T_distinct, return_inverse=True)
    return _Rows(
        x=x_distinct,
        t_x=t_x_distinct,
        weight=weight,
        x_values=x_values,
        x_index=x_index.astype(np.int64),
        t_values=t_values,
        t_index=t_index.astype(np.int64),
        total=float(weight.sum()),
    )


# --- likelihood --------------------------------------------------------------------------------


def _log_terms(
    r: float, alpha: float, a: float, b: float, shift: int, rows: _Rows, gradient: bool
) -> tuple[float, FloatArray | None]:
    """sum of w * ll over the rows and, if asked, its gradient in (r, alpha, a, b)."""
    xv = rows.x_values
    mv = xv + shift
    has_second_v = mv >= 1
    b_m1 = np.where(has_second_v, b + mv - 1.0, 1.0)
    # per distinct x
    gl_rx = gammaln(r + xv) - gammaln(r)
    d_v = gammaln(a + b) - gammaln(b) + gammaln(b + mv) - gammaln(a + b + mv)
    log_ratio_v = np.where(has_second_v, math.log(a) - np.log(b_m1), -np.inf)
    ix = rows.x_index
    x = rows.x
    rx = r + x
    log_a_T = np.log(alpha + rows.t_values)[rows.t_index]
    log_a_tx = np.log(alpha + rows.t_x)
    first = -rx * log_a_T
    second = log_ratio_v[ix] - rx * log_a_tx
    both = np.logaddexp(first, second)
    ll = gl_rx[ix] + r * math.log(alpha) + d_v[ix] + both
    total = weighted_sum(rows.weight, ll)
    if not gradient:
        return total, None
    w = rows.weight
    pi = np.exp(second - both)  # the share of "dropped out after t_x"; 0 when m = 0
    one_pi = 1.0 - pi
    d_r = (digamma(r + xv) - digamma(r))[ix] + math.log(alpha) - one_pi * log_a_T - pi * log_a_tx
    inv_T = (1.0 / (alpha + rows.t_values))[rows.t_index]
    d_alpha = r / alpha - rx * (one_pi * inv_T + pi / (alpha + rows.t_x))
    psi_ab = digamma(a + b)
    psi_abm = digamma(a + b + mv)
    d_a_v = psi_ab - psi_abm
    d_b_v = psi_ab - digamma(b) + digamma(b + mv) - psi_abm
    d_a = d_a_v[ix] + pi / a
    d_b = d_b_v[ix] - pi / b_m1[ix]
    grad = np.array([weighted_sum(w, d) for d in (d_r, d_alpha, d_a, d_b)])
    return total, grad


def log_likelihood(
    params: BgNbdParams, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """The log-likelihood of each client's (x, t_x, T) (not grouped: a reference and what a
    gradient-free fit would use)."""
    x_, t_x_, T_ = check_rows(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    m = x_ + params.variant.shift
    has_second = m >= 1
    b_m1 = np.where(has_second, b + m - 1.0, 1.0)
    d = gammaln(a + b) - gammaln(b) + gammaln(b + m) - gammaln(a + b + m)
    first = -(r + x_) * np.log(alpha + T_)
    second = np.where(
        has_second, math.log(a) - np.log(b_m1) - (r + x_) * np.log(alpha + t_x_), -np.inf
    )
    out: FloatArray = (
        gammaln(r + x_) - gammaln(r) + r * math.log(alpha) + d + np.logaddexp(first, second)
    )
    return out


def log_likelihood_gradient(
    params: BgNbdParams,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
) -> tuple[float, FloatArray]:
    """sum of w * ll over the clients and its analytic gradient in (r, alpha, a, b): what the fit
    maximises, on grouped rows."""
    x_, t_x_, T_ = check_rows(x, t_x, T)
    w_ = None if weights is None else np.broadcast_to(np.asarray(weights, np.float64), x_.shape)
    rows = _group(x_, t_x_, T_, w_)
    shift = params.variant.shift
    value, grad = _log_terms(params.r, params.alpha, params.a, params.b, shift, rows, True)
    assert grad is not None
    return value, grad


# --- fit ---------------------------------------------------------------------------------------


def fit_bgnbd(
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    variant: Variant = Variant.BG_NBD,
    unit_days: float = DAYS,
    weights: npt.ArrayLike | None = None,
    fallback: BgNbdParams | None = None,
) -> Fit[BgNbdParams]:
    """Maximum-likelihood r, alpha, a, b of a population's (x, t_x, T) in `unit_days` units.

    Identical rows are grouped (or pass already grouped rows with `weights`). Fewer than
    MIN_CLIENTS clients, no repeat purchase at all (the likelihood then grows without bound as
    r/alpha -> 0) or no converged start give the fallback parameters (default: CDNOW's
    published ones; either way in this unit and with this variant) and say why in
    `fallback_reason`.
    """
    clock = Stopwatch()
    x_, t_x_, T_ = check_rows(x, t_x, T)
    w_ = None if weights is None else np.broadcast_to(np.asarray(weights, np.float64), x_.shape)
    if w_ is not None and (np.any(w_ < 0) or not np.all(np.isfinite(w_))):
        raise ValueError("weights must be finite and >= 0")
    if w_ is not None:
        keep = w_ > 0
        x_, t_x_, T_, w_ = x_[keep], t_x_[keep], T_[keep], w_[keep]
    if np.any(x_ != np.round(x_)):
        raise ValueError("x counts purchases: whole numbers")
    default = replace(fallback or CDNOW_PUBLISHED, variant=variant).in_unit(unit_days)
    n = float(x_.size if w_ is None else w_.sum())
    repeat = float(np.sum(x_ if w_ is None else x_ * w_))

    def fall_back(reason: str, rows: int, iterations: int = 0) -> Fit[BgNbdParams]:
        each = log_likelihood(default, x_, t_x_, T_)
        ll = float(each.sum() if w_ is None else weighted_sum(w_, each)) if x_.size else math.nan
        return Fit(default, round(n), rows, ll, False, iterations, clock.seconds(), reason)

    if n < MIN_CLIENTS:
        return fall_back(f"fewer than {MIN_CLIENTS} clients ({n:g})", int(x_.size))
    if repeat == 0:
        return fall_back("no client has a repeat purchase", int(x_.size))
    rows = _group(x_, t_x_, T_, w_)
    shift = variant.shift

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(theta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, grad = _log_terms(r, alpha, a, b, shift, rows, gradient=True)
        assert grad is not None
        return -value / rows.total, -grad * np.exp(theta) / rows.total

    # starts: mean rate r/alpha matched to the purchases per unit of time observed
    rate = repeat / max(weighted_sum(rows.weight, rows.t_values[rows.t_index]), 1e-12)
    starts = [
        [0.0, math.log(1.0 / rate), 0.0, math.log(3.0)],
        [math.log(0.5), math.log(0.5 / rate), math.log(0.5), math.log(1.5)],
        [math.log(2.0), math.log(2.0 / rate), math.log(2.0), math.log(8.0)],
    ]
    best = minimise(objective, starts)
    if not best.converged:
        return fall_back(f"did not converge: {best.message}", int(rows.x.size), best.iterations)
    r, alpha, a, b = (float(v) for v in np.exp(best.theta))
    names = ("r", "alpha", "a", "b")
    warnings = tuple(f"{names[i]} at its bound" for i in best.at_bound)
    params = BgNbdParams(r, alpha, a, b, variant, unit_days)
    return Fit(
        params,
        round(n),
        int(rows.x.size),
        -best.value * rows.total,
        True,
        best.iterations,
        clock.seconds(),
        None,
        warnings,
    )


# --- scores ------------------------------------------------------------------------------------


def _log_odds_dead(
    params: BgNbdParams, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    m = x + params.variant.shift
    has_second = m >= 1
    b_m1 = np.where(has_second, params.b + m - 1.0, 1.0)
    log_odds = (
        math.log(params.a)
        - np.log(b_m1)
        + (params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + t_x))
    )
    out: FloatArray = np.where(has_second, log_odds, -np.inf)
    return out


def p_alive(
    params: BgNbdParams, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """P(alive at T | x, t_x, T)."""
    x_, t_x_, T_ = check_rows(x, t_x, T)
    out: FloatArray = expit(-_log_odds_dead(params, x_, t_x_, T_))
    return out


def expected_purchases(
    params: BgNbdParams, t: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchase occasions in (T, T + t]."""
    x_, t_x_, T_ = check_rows(x, t_x, T)
    alive = expit(-_log_odds_dead(params, x_, t_x_, T_))
    b_post = params.b + x_ + params.variant.shift
    given_alive = alive_expected_purchases(
        params.a, b_post, params.r + x_, params.alpha + T_, np.asarray(t, dtype=np.float64)
    )
    out: FloatArray = alive * given_alive
    return out


def purchase_probability(
    params: BgNbdParams, s: npt.ArrayLike, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """P(at least one purchase in (T, T + s] | x, t_x, T)."""
    x_, t_x_, T_ = check_rows(x, t_x, T)
    s_ = np.asarray(s, dtype=np.float64)
    alive = expit(-_log_odds_dead(params, x_, t_x_, T_))
    out: FloatArray = alive * -np.expm1(-(params.r + x_) * np.log1p(s_ / (params.alpha + T_)))
    return out


def next_purchase_median(params: BgNbdParams, x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
    """Median time from the cutoff to the next purchase of a client who is alive:
    (alpha+T)(2^(1/(r+x)) - 1). Multiply nothing by P(alive): report both."""
    x_ = np.asarray(x, dtype=np.float64)
    T_ = np.asarray(T, dtype=np.float64)
    out: FloatArray = (params.alpha + T_) * np.expm1(math.log(2.0) / (params.r + x_))
    return out
