"""Gamma-Gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie's note on it).

The value of each repeat purchase occasion of a client is Gamma(p, nu) (shape p, rate nu), and
nu varies across clients as Gamma(q, gamma). The mean z of a client's x repeat occasions is
then Gamma(p x, nu x), and with nu integrated out its density gives the log-likelihood

    ln G(px+q) - ln G(px) - ln G(q) + px ln x + (px-1) ln z + q ln gamma - (px+q) ln(gamma + x z)

(G the gamma function), fitted on the clients with x >= 1 and z > 0. The expected mean spend of
a client,

    E[M | x, z] = (gamma p + p x z) / (p x + q - 1),

weighs the population mean gamma p/(q-1) against the client's own mean (it needs q > 1; for
x = 0 it is the population mean). The model assumes spend is independent of purchase
frequency: check the correlation of x and z across clients before relying on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from app.predictive.fitting import MIN_CLIENTS, Fit, Stopwatch, minimise, weighted_sum

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """p: the shape of one occasion's value; q, gamma: the Gamma of the rates nu (gamma is in
    money)."""

    p: float
    q: float
    gamma: float

    @property
    def population_mean(self) -> float:
        """E[value of an occasion] across clients: pgamma/(q-1) (infinite when q <= 1)."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else math.inf


# Fader & Hardie, CDNOW 1/10th sample, the 946 repeat buyers (US$): the shapes of the fallback.
CDNOW_PUBLISHED = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def _check(x: npt.ArrayLike, mean_spend: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x_, z_ = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64), np.asarray(mean_spend, dtype=np.float64)
    )
    if not (np.all(np.isfinite(x_)) and np.all(np.isfinite(z_))):
        raise ValueError("x and mean_spend must be finite")
    if np.any(x_ < 0) or np.any(z_ < 0):
        raise ValueError("need x >= 0 and mean_spend >= 0")
    return x_, z_


def log_likelihood(
    params: GammaGammaParams, x: npt.ArrayLike, mean_spend: npt.ArrayLike
) -> FloatArray:
    """The log-likelihood of each repeat buyer's mean repeat spend (x >= 1, z > 0)."""
    x_, z_ = _check(x, mean_spend)
    if np.any(x_ < 1) or np.any(z_ <= 0):
        raise ValueError("the Gamma-Gamma likelihood is over repeat buyers: x >= 1, spend > 0")
    p, q, g = params.p, params.q, params.gamma
    px = p * x_
    out: FloatArray = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + px * np.log(x_)
        + (px - 1.0) * np.log(z_)
        + q * math.log(g)
        - (px + q) * np.log(g + x_ * z_)
    )
    return out


@dataclass(frozen=True, slots=True)
class _SpendRows:
    """Repeat buyers' (x, z, weight) with what does not depend on the parameters; the special
    functions depend on x only and are evaluated once per distinct x."""

    x: FloatArray
    weight: FloatArray
    x_values: FloatArray
    x_index: npt.NDArray[np.intp]
    xz: FloatArray
    log_xz: FloatArray
    log_z: FloatArray
    total: float

    @classmethod
    def of(cls, x: FloatArray, z: FloatArray, weight: FloatArray) -> _SpendRows:
        x_values, x_index = np.unique(x, return_inverse=True)
        total = float(weight.sum())
        return cls(x, weight, x_values, x_index.ravel(), x * z, np.log(x * z), np.log(z), total)


def _spend_terms(p: float, q: float, g: float, rows: _SpendRows) -> tuple[float, FloatArray]:
    """sum of w * ll and its gradient in (p, q, gamma)."""
    pxv = p * rows.x_values
    psi_pxq_v = digamma(pxv + q)
    ix = rows.x_index
    px = p * rows.x
    log_gxz = np.log(g + rows.xz)
    ll = (
        (gammaln(pxv + q) - gammaln(pxv))[ix]
        - gammaln(q)
        + px * rows.log_xz
        - rows.log_z
        + q * math.log(g)
        - (px + q) * log_gxz
    )
    d_p = rows.x * ((psi_pxq_v - digamma(pxv))[ix] + rows.log_xz - log_gxz)
    d_q = psi_pxq_v[ix] - digamma(q) + math.log(g) - log_gxz
    d_g = q / g - (px + q) / (g + rows.xz)
    w = rows.weight
    grad = np.array([weighted_sum(w, d) for d in (d_p, d_q, d_g)])
    return weighted_sum(w, ll), grad


def _repeat_buyers(
    x: npt.ArrayLike, mean_spend: npt.ArrayLike, weights: npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x_, z_ = _check(x, mean_spend)
    w_ = np.ones_like(x_) if weights is None else np.broadcast_to(np.asarray(weights), x_.shape)
    w_ = np.asarray(w_, dtype=np.float64)
    if np.any(w_ < 0) or not np.all(np.isfinite(w_)):
        raise ValueError("weights must be finite and >= 0")
    keep = (x_ >= 1) & (z_ > 0) & (w_ > 0)
    return x_[keep], z_[keep], w_[keep]


def log_likelihood_gradient(
    params: GammaGammaParams,
    x: npt.ArrayLike,
    mean_spend: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
) -> tuple[float, FloatArray]:
    """The sum of w * ll over the repeat buyers (x >= 1, z > 0; others left out) and its
    analytic gradient in (p, q, gamma): what the fit maximises."""
    rows = _SpendRows.of(*_repeat_buyers(x, mean_spend, weights))
    return _spend_terms(params.p, params.q, params.gamma, rows)


def fit_gamma_gamma(
    x: npt.ArrayLike,
    mean_spend: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    fallback: GammaGammaParams | None = None,
) -> Fit[GammaGammaParams]:
    """Maximum-likelihood p, q, gamma from the clients' (x, mean repeat spend); clients with x = 0
    or a mean spend of 0 are left out (they carry no positive repeat spend). Fewer than
    MIN_CLIENTS repeat buyers or no converged start give the fallback (default: CDNOW's shapes
    p, q with gamma scaled so that the population mean is the mean of the spends given, or CDNOW's
    gamma without any)."""
    clock = Stopwatch()
    x_, z_, w_ = _repeat_buyers(x, mean_spend, weights)
    n = float(w_.sum())

    def fall_back(reason: str, iterations: int = 0) -> Fit[GammaGammaParams]:
        params = fallback or _default_fallback(x_, z_, w_)
        ll = weighted_sum(w_, log_likelihood(params, x_, z_)) if x_.size else math.nan
        seconds = clock.seconds()
        return Fit(params, round(n), int(x_.size), ll, False, iterations, seconds, reason)

    if n < MIN_CLIENTS:
        return fall_back(f"fewer than {MIN_CLIENTS} repeat buyers ({n:g})")
    rows = _SpendRows.of(x_, z_, w_)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, g = np.exp(theta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, grad = _spend_terms(p, q, g, rows)
        return -value / rows.total, -grad * np.exp(theta) / rows.total

    mean = weighted_sum(w_, z_) / n
    starts = [  # population mean pgamma/(q-1) matched to the mean spend
        [0.0, math.log(2.0), math.log(mean)],
        [math.log(5.0), math.log(3.0), math.log(mean * 2.0 / 5.0)],
        [math.log(0.5), math.log(1.5), math.log(mean)],
    ]
    best = minimise(objective, starts)
    if not best.converged:
        return fall_back(f"did not converge: {best.message}", best.iterations)
    p, q, g = (float(v) for v in np.exp(best.theta))
    names = ("p", "q", "gamma")
    warnings = [f"{names[i]} at its bound" for i in best.at_bound]
    if q <= 1.0:
        warnings.append("q <= 1: the population mean spend is infinite")
    return Fit(
        GammaGammaParams(p, q, g),
        round(n),
        int(x_.size),
        -best.value * rows.total,
        True,
        best.iterations,
        clock.seconds(),
        None,
        tuple(warnings),
    )


def _default_fallback(x: FloatArray, z: FloatArray, w: FloatArray) -> GammaGammaParams:
    """CDNOW's shapes, with the population mean at the weighted mean of the spends given."""
    if not x.size:
        return CDNOW_PUBLISHED
    mean = weighted_sum(w, z) / float(w.sum())
    shape = CDNOW_PUBLISHED
    return GammaGammaParams(shape.p, shape.q, mean * (shape.q - 1.0) / shape.p)


def expected_spend(
    params: GammaGammaParams, x: npt.ArrayLike, mean_spend: npt.ArrayLike
) -> FloatArray:
    """E[mean spend per occasion | x, z]: (gamma p + p x z)/(p x + q - 1); the population mean for
    x = 0 (nan when q <= 1 and x = 0, where that mean is infinite)."""
    x_, z_ = _check(x, mean_spend)
    p, q, g = params.p, params.q, params.gamma
    denominator = p * x_ + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(denominator > 0, (g * p + p * x_ * z_) / denominator, np.nan)
    return out
