"""E[Y(t) | alive] by the transformed series (and scipy past SERIES_MAX_Z) against two
independent references:

- the sum over purchases: a client alive now makes a k-th purchase within t if the Poisson
  process gets that far (NBD tail) and the client survived the k-1 dropout chances before it:
  E = sum_k B(a, b'+k-1)/B(a, b') P(NBD(r', alpha'; t) >= k), all terms positive;
- the textbook formula C/(a-1) [1 - (alpha'/(alpha'+t))^r' 2F1(r', b'; C; z)] with scipy's
  hyp2f1, where that does not overflow.
"""

import numpy as np
import pytest
from scipy import special, stats

from app.predictive.hypergeometric import SERIES_MAX_Z, alive_expected_purchases


def by_purchases(a: float, b: float, r: float, alpha: float, t: float) -> float:
    success = alpha / (alpha + t)
    top = int(stats.nbinom.isf(1e-18, r, success)) + 100
    k = np.arange(1, top + 1)
    log_survive = (
        special.gammaln(b + k - 1)
        - special.gammaln(b)
        - special.gammaln(a + b + k - 1)
        + special.gammaln(a + b)
    )
    return float(np.sum(np.exp(log_survive) * stats.nbinom.sf(k - 1, r, success)))


def textbook(a: float, b: float, r: float, alpha: float, t: float) -> float:
    c = a + b - 1
    z = t / (alpha + t)
    return float(c / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, c, z)))


CASES = [
    # a, b', r', alpha', t
    (0.793, 4.426, 2.243, 43.274, 39.0),  # CDNOW's example client (BG/NBD, x = 2)
    (0.793, 2.426, 0.243, 4.414, 39.0),  # a client with x = 0, T = 0
    (0.3, 0.5, 0.2, 2.0, 10.0),  # C = a + b' - 1 < 0
    (1.0, 3.0, 1.2, 5.0, 7.0),  # a = 1 exactly
    (1.0 + 1e-9, 3.0, 1.2, 5.0, 7.0),  # a next to 1
    (5.0, 1.0, 0.2, 1.0, 50.0),  # a > 1 + r': growing terms before they fall
    (0.793, 502.426, 500.243, 43.274, 39.0),  # x = 500
    (0.5, 0.2, 0.3, 0.5, 40.0),  # z = 0.988, the longest series
    (0.5, 0.2, 0.3, 0.5, 400.0),  # z > SERIES_MAX_Z: scipy's hyp2f1
    (2.0, 3.0, 0.7, 1.0, 2000.0),  # z > SERIES_MAX_Z
]


@pytest.mark.parametrize("case", CASES)
def test_against_the_sum_over_purchases(case: tuple[float, ...]) -> None:
    ours = float(alive_expected_purchases(*case))
    assert ours == pytest.approx(by_purchases(*case), rel=1e-9)


@pytest.mark.parametrize("case", [c for c in CASES if abs(c[0] - 1) > 1e-3])
def test_against_the_textbook_formula(case: tuple[float, ...]) -> None:
    assert float(alive_expected_purchases(*case)) == pytest.approx(textbook(*case), rel=1e-9)


def test_where_the_textbook_formula_overflows() -> None:
    a, b, r, alpha, t = 0.793, 2.426, 0.243, 43.274, 39.0
    x = 5000.0
    with np.errstate(all="ignore"):
        assert not np.isfinite(textbook(a, b + x, r + x, alpha, t))
    ours = float(alive_expected_purchases(a, b + x, r + x, alpha, t))
    assert ours == pytest.approx(by_purchases(a, b + x, r + x, alpha, t), rel=1e-9)


def test_vectorised_and_edges() -> None:
    b = np.array([[2.0], [50.0]])
    t = np.array([0.0, 1.0, 1e3, 1e6])
    out = alive_expected_purchases(0.8, b, b, 10.0, t)
    assert out.shape == (2, 4)
    assert np.all(out[:, 0] == 0) and np.all(np.diff(out, axis=1) > 0)
    assert np.all(np.isfinite(out))
    assert SERIES_MAX_Z < 1
    with pytest.raises(ValueError):
        alive_expected_purchases(0.8, 2.0, 1.0, 10.0, -1.0)


def test_a_concentrated_dropout_where_scipy_fails_is_finite_and_quick() -> None:
    """A fit of a synthetic population (a = 844, b = 66,145: the dropout chance hardly varies):
    for a young client over a year scipy's hyp2f1 fails and the series did not settle in 20,000
    terms (NaN, 35 ms a client on the write path). The fixed-dropout limit answers instead."""
    a, b, r, alpha = 843.96, 66145.0, 3.5139, 185.61
    for x, age in ((0, 30.0), (3, 30.0), (30, 30.0)):
        case = (a, b + x, r + x, alpha + age, 365.0)
        ours = float(alive_expected_purchases(*case))
        assert np.isfinite(ours)
        assert ours == pytest.approx(by_purchases(*case), rel=1e-4)
