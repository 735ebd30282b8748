"""Population figures: RFM cut points and scores, XYZ, repeat-gap quantiles, the fit record; the
two routes of E[Y | alive] (scipy's hyp2f1 and the series) agree; backtest metrics."""

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.predictive.bgnbd import CDNOW_PUBLISHED
from app.predictive.hypergeometric import SCIPY_MIN_EPS, _series, alive_expected_purchases
from app.predictive.metrics import auc, lift_by_decile, precision_recall
from app.predictive.population import (
    GAP_LEVELS,
    GapQuantiles,
    ModelFit,
    RepeatGaps,
    fit_orders,
    gap_quantiles,
    gaps_cv,
    params_from_json,
    rfm_cuts,
    rfm_scores,
    xyz_classes,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_rfm_quintiles() -> None:
    days = np.arange(1, 11, dtype=float)  # 1..10 days since the last order
    cuts = rfm_cuts(days, days, days)
    assert cuts is not None
    assert cuts.recency_days == pytest.approx((2.8, 4.6, 6.4, 8.2))  # linear, as percentile_cont
    r, f, m = rfm_scores(cuts, days, days, days)
    assert list(r) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]  # the most recent score 5
    assert list(f) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # the most frequent score 5
    assert list(m) == list(f)
    assert rfm_cuts([], [], []) is None


def test_rfm_ties_share_the_lower_score() -> None:
    frequency = np.array([1, 1, 1, 1, 1, 1, 2, 2, 3, 6], dtype=float)
    cuts = rfm_cuts(frequency, frequency, frequency)
    assert cuts is not None
    _, f, _ = rfm_scores(cuts, frequency, frequency, frequency)
    assert set(f[:6]) == {1}  # every one-time buyer alike
    assert f[-1] == 5


def test_xyz_and_cv() -> None:
    assert math.isnan(gaps_cv([10]))  # one gap says nothing
    assert gaps_cv([10, 10, 10]) == 0.0
    assert gaps_cv([5, 15]) == pytest.approx(0.5)  # std 5 / mean 10
    classes = xyz_classes([0.0, 0.49, 0.5, 0.99, 1.0, math.nan], 0.5, 1.0)
    assert list(classes) == ["X", "X", "Y", "Y", "Z", ""]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(0, 1e5), min_size=len(GAP_LEVELS), max_size=len(GAP_LEVELS)),
    st.lists(
        st.one_of(st.floats(-0.5, 1.5), st.sampled_from((*GAP_LEVELS, math.nan))),
        min_size=1,
        max_size=20,
    ),
)
def test_quantile_lookup_is_numpys_interpolation(values: list[float], levels: list[float]) -> None:
    """GapQuantiles.at (plain floats, on the write path) gives np.interp's result to the bit,
    repeated quantiles (flat stretches) and levels outside 1-99 % included."""
    found = GapQuantiles(len(values), tuple(sorted(values)))
    for q in levels:
        expected = float(np.interp(q, GAP_LEVELS, found.values))
        assert found.at(q) == expected or (math.isnan(expected) and math.isnan(found.at(q)))


def test_gap_quantiles_exact_on_levels() -> None:
    gaps = np.arange(1, 101, dtype=float)
    found = gap_quantiles(gaps)
    assert found is not None and found.n == 100 and len(found.values) == len(GAP_LEVELS)
    assert found.at(0.75) == pytest.approx(float(np.quantile(gaps, 0.75)))
    assert found.at(0.755) == pytest.approx(float(np.quantile(gaps, 0.755)), rel=1e-3)
    assert GapQuantiles.from_json(found.to_json()) == found
    repeat = RepeatGaps(found, None)
    assert repeat.for_occasions(1) is found
    assert repeat.for_occasions(2) is None and repeat.for_occasions(3) is None
    assert RepeatGaps.from_json(repeat.to_json()) == repeat
    assert gap_quantiles([]) is None


def test_fit_record_round_trip_and_fallback() -> None:
    fit = fit_orders([1, 1, 2], [0, 10, 5], [10.0, 20.0, 5.0], 30, NOW, NOW)
    assert fit.fallback_reason is not None  # two clients: the documented default
    assert not fit.converged and fit.n == 2
    purchase, spend = params_from_json(fit.params_json())
    assert purchase == fit.purchase and spend == fit.spend
    assert isinstance(fit, ModelFit)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scipy_and_series_routes_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    a = rng.uniform(0.05, 5, n)
    a = np.where(np.abs(a - 1) < SCIPY_MIN_EPS, 1.5, a)
    b = rng.uniform(0.05, 20, n) + np.floor(rng.exponential(5, n)) + 1
    r = rng.uniform(0.05, 5, n) + np.floor(rng.exponential(5, n))
    alpha = rng.uniform(1, 500, n) + rng.uniform(0, 1500, n)
    t = rng.uniform(1, 2000, n)
    z = t / (alpha + t)
    for i in np.flatnonzero(z <= 0.99)[:400]:
        ours = float(alive_expected_purchases(a[i], b[i], r[i], alpha[i], t[i]))
        c = a[i] + b[i] - 1
        eps = a[i] - 1
        cs = _series(a[i], np.array([c - r[i]]), np.array([c]), np.array([z[i]]))[0]
        log_1mz = -math.log1p(t[i] / alpha[i])
        series = c * (-math.expm1(eps * log_1mz) / eps) - math.exp(eps * log_1mz) * cs
        assert ours == pytest.approx(series, rel=1e-9, abs=1e-12)


def test_cdnow_default_stays_reachable() -> None:
    assert CDNOW_PUBLISHED.in_unit(1.0).alpha == pytest.approx(4.414 * 7)


def test_auc_with_ties() -> None:
    assert auc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert auc([4, 3, 2, 1], [False, False, True, True]) == 0.0
    assert auc([1, 1, 1, 1], [False, True, False, True]) == 0.5
    # positives 4 and 4, negatives 1, 3, 4: (1 + 1 + 0.5) * 2 / 6
    assert auc([4, 4, 1, 3, 4], [True, True, False, False, False]) == pytest.approx(5 / 6)
    assert math.isnan(auc([1, 2], [True, True]))


def test_precision_recall_and_lift() -> None:
    precision, recall = precision_recall([True, True, False, True], [True, False, False, True])
    assert (precision, recall) == (2 / 3, 1.0)
    score = np.arange(20, dtype=float)
    positive = score >= 10  # the top half churns
    deciles = lift_by_decile(score, positive)
    assert [d.clients for d in deciles] == [2] * 10
    assert [d.rate for d in deciles] == [1.0] * 5 + [0.0] * 5
    assert deciles[0].lift == 2.0 and deciles[0].min_score == 18.0


def test_a_concentrated_dropout_takes_the_fixed_p_limit() -> None:
    a, b, r, alpha, t = 251225.87, 262628.6, 8.9, 60.0, 90.0
    ours = float(alive_expected_purchases(a, b, r, alpha, t))
    p = a / (a + b)
    assert ours == pytest.approx((1 - (alpha / (alpha + p * t)) ** r) / p, rel=1e-12)
    # continuous with the exact routes where they still work
    exact = float(alive_expected_purchases(1500.0, 1600.0, r, alpha, t))
    limit = (1 - (alpha / (alpha + 1500 / 3100 * t)) ** r) / (1500 / 3100)
    assert exact == pytest.approx(limit, rel=1e-2)


def test_average_ranks_match_scipy() -> None:
    from scipy.stats import rankdata

    from app.predictive.metrics import average_ranks

    rng = np.random.default_rng(3)
    values = rng.integers(0, 20, 500).astype(float)
    assert np.array_equal(average_ranks(values), rankdata(values))
