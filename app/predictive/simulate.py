"""Populations drawn from the models, for tests and benches (pure: the caller passes the
random generator, e.g. `numpy.random.default_rng(seed)`).

A client of the (M)BG/NBD process, observed for T after the first purchase: lambda ~
Gamma(r, alpha), p ~ Beta(a, b); the number of repeat purchases it would make before dropping
out is K ~ Geometric(p) on {1, 2, ...} for BG/NBD (a dropout chance after each repeat purchase)
and on {0, 1, ...} for MBG/NBD (one more right after the first purchase). Given
N ~ Poisson(lambda T) potential purchases in (0, T], x = min(N, K) and, for x >= 1, t_x is the
x-th of N ordered uniform times on (0, T): T Beta(x, N - x + 1). Exact, and vectorised.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.predictive.bgnbd import BgNbdParams, Variant
from app.predictive.gamma_gamma import GammaGammaParams

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def simulate_bgnbd(
    params: BgNbdParams, T: npt.ArrayLike, rng: np.random.Generator
) -> tuple[IntArray, FloatArray]:
    """(x, t_x) of one simulated client per element of T."""
    T_ = np.asarray(T, dtype=np.float64)
    rate = rng.gamma(params.r, 1.0 / params.alpha, size=T_.shape)
    p = rng.beta(params.a, params.b, size=T_.shape)
    lifetime = rng.geometric(p)  # repeat purchases until dropout, counted from 1
    if params.variant is Variant.MBG_NBD:
        lifetime = lifetime - 1
    potential = rng.poisson(rate * T_)
    x = np.minimum(potential, lifetime).astype(np.int64)
    bought = x >= 1
    t_x = np.zeros(T_.shape)
    t_x[bought] = T_[bought] * rng.beta(x[bought], potential[bought] - x[bought] + 1)
    return x, t_x


def simulate_spend(
    params: GammaGammaParams, x: npt.ArrayLike, rng: np.random.Generator
) -> FloatArray:
    """The mean value of each client's x repeat occasions (0 where x = 0): nu ~ Gamma(q, gamma),
    each occasion ~ Gamma(p, nu), so the mean of x of them is Gamma(px, nux)."""
    x_ = np.asarray(x, dtype=np.float64)
    nu = rng.gamma(params.q, 1.0 / params.gamma, size=x_.shape)
    bought = x_ >= 1
    mean = np.zeros(x_.shape)
    mean[bought] = rng.gamma(params.p * x_[bought], 1.0 / (nu[bought] * x_[bought]))
    return mean
