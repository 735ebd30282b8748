"""The expected number of purchases of a client who is alive, without overflow.

For a client alive at the cutoff whose posterior dropout probability is p ~ Beta(a, b') and
purchase rate lambda ~ Gamma(r', alpha') (shape, rate), the expected number of purchases in
the next t is (Fader, Hardie & Lee 2005, eq. 10, with the posterior plugged in)

    E = C/(a-1) [1 - (1-z)^r' 2F1(r', b'; C; z)],   C = a + b' - 1,  z = t/(alpha' + t).

For a client with many purchases r' and b' grow with x: 2F1(r', b'; C; z) grows like
(1-z)^-r' and overflows while the product stays near 1. Euler's transformation
2F1(a1, b1; c1; z) = (1-z)^(c1-a1-b1) 2F1(c1-a1, c1-b1; c1; z) turns the bracket into

    1 - (1-z)^(a-1) 2F1(A, a-1; C; z),   A = C - r' = a + b' - 1 - r',

whose upper parameters A and a-1 do not grow with x (for BG/NBD A = a + b - 1 - r). Writing
e = a - 1, L = log(1-z) and 2F1 = 1 + e S with
S = sum_{n>=1} (A)_n (a)_{n-1} z^n / ((C)_n n!) gives

    E = C (-expm1(e L)/e) - exp(e L) C S,

with C S = sum_{n>=1} (A)_n (a)_{n-1} z^n / ((C+1)_{n-1} n!): no division by a - 1 (the
a -> 1 limit of the first term is -L), none by C (below 1 when a + b' < 2), and
(C+1)_{n-1} > 0 always. The series' term ratio tends to z < 1; it is summed term by term for
z <= SERIES_MAX_Z (at most a few thousand terms) and, for larger z (a horizon a hundred times
the client's alpha + T or more), handed to scipy's hyp2f1 of the transformed parameters.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import hyp2f1

FloatArray = npt.NDArray[np.float64]

SERIES_MAX_Z = 0.99
MAX_TERMS = 20_000
RELATIVE_TOLERANCE = 1e-16


def alive_expected_purchases(
    a: float,
    b_post: npt.ArrayLike,
    r_post: npt.ArrayLike,
    alpha_post: npt.ArrayLike,
    t: npt.ArrayLike,
) -> FloatArray:
    """E[purchases in (0, t] | alive, p ~ Beta(a, b_post), lambda ~ Gamma(r_post, rate alpha_post)],
    elementwise over the broadcast arrays."""
    b_, r_, alpha_, t_ = np.broadcast_arrays(
        np.asarray(b_post, dtype=np.float64),
        np.asarray(r_post, dtype=np.float64),
        np.asarray(alpha_post, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
    )
    shape = b_.shape
    b_, r_, alpha_, t_ = (v.ravel() for v in (b_, r_, alpha_, t_))
    if np.any(t_ < 0):
        raise ValueError("t must be >= 0")
    c = a + b_ - 1.0
    big_a = c - r_
    z = t_ / (alpha_ + t_)
    log_1mz = -np.log1p(t_ / alpha_)  # log(1 - z), exact for large t
    eps = a - 1.0
    first = -log_1mz if abs(eps) < 1e-12 else -np.expm1(eps * log_1mz) / eps
    cs = np.zeros_like(z)
    by_series = z <= SERIES_MAX_Z
    if abs(eps) < 1e-6:
        by_series[:] = True  # scipy's route divides by a - 1
    if np.any(by_series):
        cs[by_series] = _series(a, big_a[by_series], c[by_series], z[by_series])
    # a series that did not settle within MAX_TERMS (not seen for z <= SERIES_MAX_Z) goes to scipy
    rest = ~by_series | (np.isnan(cs) & (abs(eps) >= 1e-6))
    if np.any(rest):
        f = hyp2f1(big_a[rest], eps, c[rest], z[rest])
        cs[rest] = c[rest] * (f - 1.0) / eps
    result = c * first - np.exp(eps * log_1mz) * cs
    out: FloatArray = np.where(t_ == 0, 0.0, result).reshape(shape)
    return out


def _series(a: float, big_a: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """sum_{n>=1} (A)_n (a)_{n-1} z^n / ((C+1)_{n-1} n!), summed until every term is negligible."""
    term = big_a * z  # n = 1
    total = term.copy()
    active = np.flatnonzero(term != 0)
    n = 1
    while active.size and n < MAX_TERMS:
        term_a = term[active]
        step = (big_a[active] + n) * (a + n - 1) * z[active] / ((c[active] + n) * (n + 1))
        term_a = term_a * step
        term[active] = term_a
        total[active] += term_a
        n += 1
        # stop an element once its terms are negligible and shrinking (ratio below 1)
        ratio_below_one = (np.abs(big_a[active] + n) * (a + n - 1) * z[active]) < (
            (c[active] + n) * (n + 1)
        )
        small = np.abs(term_a) <= RELATIVE_TOLERANCE * np.maximum(np.abs(total[active]), 1e-300)
        active = active[~(small & ratio_below_one)]
    total[active] = np.nan  # not settled: the caller uses scipy's hyp2f1
    return total
