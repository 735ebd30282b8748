"""BG/NBD and MBG/NBD: likelihood, gradient, fit (grouping, recovery, guards) and scores."""

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.optimize import OptimizeResult, approx_fprime

from app.predictive import (
    DAYS,
    WEEKS,
    BgNbdParams,
    Variant,
    expected_purchases,
    fit_bgnbd,
    fitting,
    next_purchase_median,
    p_alive,
    purchase_probability,
)
from app.predictive.bgnbd import CDNOW_PUBLISHED, log_likelihood, log_likelihood_gradient
from app.predictive.simulate import simulate_bgnbd
from tests.predictive.helpers import standard_errors

BG = CDNOW_PUBLISHED
MBG = BgNbdParams(r=0.525, alpha=6.183, a=0.891, b=1.614, variant=Variant.MBG_NBD, unit_days=WEEKS)
ROWS = (
    np.array([0, 0, 1, 2, 7, 30]),
    np.array([0.0, 0.0, 3.5, 30.43, 20.0, 38.0]),
    np.array([38.86, 2.0, 20.0, 38.86, 38.86, 38.5]),
)


def numeric_likelihood(params: BgNbdParams, x: int, t_x: float, T: float) -> float:
    """The (M)BG/NBD likelihood by integrating over p; the Gamma over lambda in closed form:
    alive at T (survived m = x + s dropout chances) or dropped out right after t_x."""
    m = x + params.variant.shift
    r, alpha = params.r, params.alpha
    nbd = math.exp(math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)) if x or r else 1.0
    alive_part = nbd * (alpha + T) ** -(r + x)
    dead_part = nbd * (alpha + t_x) ** -(r + x)

    def density(p: float) -> float:
        alive = (1 - p) ** m * alive_part
        dead = p * (1 - p) ** (m - 1) * dead_part if m >= 1 else 0.0
        return float((alive + dead) * stats.beta.pdf(p, params.a, params.b))

    value, _ = integrate.quad(density, 0, 1, limit=200, epsabs=0, epsrel=1e-11)
    return value


@pytest.mark.parametrize("params", [BG, MBG])
def test_log_likelihood_matches_numerical_integration(params: BgNbdParams) -> None:
    ours = log_likelihood(params, *ROWS)
    for k, (x, t_x, T) in enumerate(zip(*ROWS, strict=True)):
        assert ours[k] == pytest.approx(math.log(numeric_likelihood(params, int(x), t_x, T)))


@pytest.mark.parametrize("params", [BG, MBG])
def test_the_analytic_gradient_is_the_gradient(params: BgNbdParams) -> None:
    x, t_x, T = ROWS
    weights = np.array([3.0, 1.0, 2.0, 1.0, 1.0, 5.0])

    def total(v: np.ndarray) -> float:
        p = BgNbdParams(*v, variant=params.variant, unit_days=params.unit_days)
        return float(np.dot(weights, log_likelihood(p, x, t_x, T)))

    point = np.array([params.r, params.alpha, params.a, params.b])
    value, grad = log_likelihood_gradient(params, x, t_x, T, weights)
    assert value == pytest.approx(total(point))
    numeric = approx_fprime(point, total, 1e-7)
    assert grad == pytest.approx(numeric, rel=1e-5, abs=1e-5)


def test_grouped_rows_and_weights_give_the_same_fit() -> None:
    rng = np.random.default_rng(3)
    T = rng.integers(27, 40, 3000).astype(float)
    x, t_x = simulate_bgnbd(BG, T, rng)
    t_x = np.round(t_x)  # whole weeks: many identical rows
    plain = fit_bgnbd(x, t_x, T, unit_days=WEEKS)
    keys, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    grouped = fit_bgnbd(keys[:, 0], keys[:, 1], keys[:, 2], unit_days=WEEKS, weights=counts)
    assert plain.rows == grouped.rows == keys.shape[0] < 3000
    assert plain.n == grouped.n == 3000
    assert grouped.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-12)
    assert grouped.params.r == pytest.approx(plain.params.r, rel=1e-6)
    # the reported log-likelihood is the ungrouped sum at the estimate
    assert plain.log_likelihood == pytest.approx(log_likelihood(plain.params, x, t_x, T).sum())


@pytest.mark.parametrize("variant", list(Variant))
def test_known_parameters_are_recovered_from_simulated_data(variant: Variant) -> None:
    """20,000 clients drawn with CDNOW-like parameters in days (first purchases over 12
    weeks, then observed to a common cutoff). Each estimate must lie within 4 standard errors
    (from the observed information) of the truth: with a correct likelihood and fit, a
    parameter lands outside with probability 6e-5; a wrong term shifts an estimate by many
    standard errors at this size. The seed is fixed, so the test is deterministic."""
    truth = BgNbdParams(r=0.243, alpha=30.9, a=0.793, b=2.426, variant=variant, unit_days=DAYS)
    rng = np.random.default_rng(20_000)
    T = rng.integers(189, 273, 20_000).astype(float)
    x, t_x = simulate_bgnbd(truth, T, rng)
    t_x = np.round(t_x)  # purchase days
    fit = fit_bgnbd(x, t_x, T, variant=variant, unit_days=DAYS)
    assert fit.converged and fit.usable and fit.n == 20_000
    got = np.array([fit.params.r, fit.params.alpha, fit.params.a, fit.params.b])
    want = np.array([truth.r, truth.alpha, truth.a, truth.b])

    def gradient(v: np.ndarray) -> tuple[float, np.ndarray]:
        return log_likelihood_gradient(BgNbdParams(*v, variant=variant), x, t_x, T)

    errors = standard_errors(gradient, got)
    assert np.all(np.abs(np.log(got) - np.log(want)) <= 4 * errors), (got, want, errors)
    assert np.all(errors < 0.25)  # 20,000 clients pin each parameter within ~25 %


def test_units_only_rescale_alpha() -> None:
    rng = np.random.default_rng(5)
    T = rng.integers(189, 273, 4000).astype(float)
    x, t_x = simulate_bgnbd(BG.in_unit(DAYS), T, rng)
    in_days = fit_bgnbd(x, t_x, T, unit_days=DAYS)
    in_weeks = fit_bgnbd(x, t_x / 7, T / 7, unit_days=WEEKS)
    assert in_days.params.in_unit(WEEKS).alpha == pytest.approx(in_weeks.params.alpha, rel=1e-4)
    assert in_days.params.r == pytest.approx(in_weeks.params.r, rel=1e-4)
    assert in_days.params.b == pytest.approx(in_weeks.params.b, rel=1e-4)
    # densities of t_x in days are 1/7 of those in weeks: one factor per repeat purchase
    shift = math.log(7) * x.sum()
    assert in_days.log_likelihood == pytest.approx(in_weeks.log_likelihood - shift, rel=1e-9)
    days = BG.in_unit(DAYS)
    assert p_alive(days, 2, 213.0, 272.0) == pytest.approx(p_alive(BG, 2, 213 / 7, 272 / 7))


# --- guards ------------------------------------------------------------------------------------


def test_all_one_time_buyers_fall_back_and_say_so() -> None:
    T = np.linspace(10, 40, 500)
    fit = fit_bgnbd(np.zeros(500), np.zeros(500), T, unit_days=WEEKS)
    assert not fit.converged and not fit.usable
    assert fit.fallback_reason == "no client has a repeat purchase"
    assert fit.params == BG  # the default fallback: CDNOW's published parameters
    assert fit.n == 500 and math.isfinite(fit.log_likelihood)
    # BG/NBD cannot doubt them; MBG/NBD can
    assert np.all(p_alive(fit.params, 0, 0, T) == 1.0)
    mbg = fit_bgnbd(np.zeros(500), np.zeros(500), T, unit_days=DAYS, variant=Variant.MBG_NBD)
    assert mbg.params.variant is Variant.MBG_NBD and mbg.params.unit_days == DAYS
    assert mbg.params.alpha == pytest.approx(BG.alpha * 7)
    assert np.all(np.diff(p_alive(mbg.params, 0, 0, T)) < 0)


def test_tiny_populations_fall_back_to_the_given_parameters() -> None:
    mine = BgNbdParams(r=1.0, alpha=20.0, a=1.0, b=5.0)
    fit = fit_bgnbd([0, 2, 5], [0, 10, 40], [50, 50, 60], fallback=mine)
    assert fit.fallback_reason == "fewer than 10 clients (3)"
    assert fit.params == mine and fit.n == 3 and not fit.converged
    empty = fit_bgnbd([], [], [])
    assert empty.n == 0 and math.isnan(empty.log_likelihood) and not empty.usable


def test_non_convergence_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    T = rng.integers(189, 273, 2000).astype(float)
    x, t_x = simulate_bgnbd(BG.in_unit(DAYS), T, rng)
    monkeypatch.setattr(fitting, "MAX_ITERATIONS", 1)
    fit = fit_bgnbd(x, t_x, T)
    assert not fit.converged and fit.iterations >= 1
    assert fit.fallback_reason is not None and fit.fallback_reason.startswith("did not converge")
    assert fit.params == BG.in_unit(DAYS)


def test_l_bfgs_b_takes_over_where_tnc_stops_short(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    T = rng.integers(189, 273, 2000).astype(float)
    x, t_x = simulate_bgnbd(BG.in_unit(DAYS), T, rng)
    reference = fit_bgnbd(x, t_x, T)
    scipy_minimize = fitting.minimize

    def stuck_tnc(fun, x0, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["method"] == "TNC":
            return OptimizeResult(x=x0, nit=0, message="stuck")
        return scipy_minimize(fun, x0, **kwargs)

    monkeypatch.setattr(fitting, "minimize", stuck_tnc)
    fit = fit_bgnbd(x, t_x, T)
    assert fit.converged and fit.usable
    assert fit.log_likelihood == pytest.approx(reference.log_likelihood, abs=1e-6)
    assert fit.params.r == pytest.approx(reference.params.r, rel=1e-4)


def test_a_likelihood_without_finite_start_is_not_converged() -> None:
    def nowhere(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return math.nan, np.full(theta.size, math.nan)

    best = fitting.minimise(nowhere, [[0.0, 0.0]])
    assert not best.converged and best.message == "no start had a finite likelihood"


def test_bad_inputs_are_refused() -> None:
    wrong = [([-1], [0], [1]), ([1], [2], [1]), ([1], [-1], [1]), ([np.nan], [0], [1])]
    wrong.append(([0], [1], [2]))  # no repeat purchase, yet a recency
    for x, t_x, T in wrong:
        with pytest.raises(ValueError):
            fit_bgnbd(x, t_x, T)
    with pytest.raises(ValueError):
        fit_bgnbd([1.5] * 20, [1] * 20, [2] * 20)
    with pytest.raises(ValueError):
        fit_bgnbd([1] * 20, [1] * 20, [2] * 20, weights=[-1] * 20)


# --- scores ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [BG, MBG])
def test_huge_purchase_counts_stay_finite(params: BgNbdParams) -> None:
    x = np.array([1e3, 1e5, 1e7, 1e9])
    T = np.full(4, 38.86)
    alive = p_alive(params, x, T, T)  # bought on the cutoff day
    assert np.all(alive == pytest.approx(1.0, abs=1e-3))
    gone = p_alive(params, x, np.full(4, 10.0), T)  # very regular buyer, silent for 28 weeks
    assert np.all(gone < 1e-100) and np.all(gone >= 0)
    expected = expected_purchases(params, 10.0, x, T, T)
    assert np.all(np.isfinite(expected))
    # as x grows, lambda -> (r+x)/(alpha+T) and p (b+m) -> u ~ Gamma(a, 1), so that
    # E[Y(t) | alive] -> (b+m) E[(1 - exp(-c u))/u] = (b+m)(1 - (1+c)^(1-a))/(a-1),
    # c = (r+x) t / ((alpha+T)(b+m)); alive is ~1 after a purchase on the cutoff day
    b_m = params.b + x + params.variant.shift
    c = (params.r + x) * 10.0 / ((params.alpha + T) * b_m)
    limit = b_m * -np.expm1((1 - params.a) * np.log1p(c)) / (params.a - 1)
    assert expected == pytest.approx(limit, rel=2e-3)
    assert expected[1:] == pytest.approx(limit[1:], rel=1e-5)
    assert np.all(np.isfinite(log_likelihood(params, x, T / 2, T)))
    assert np.all(np.isfinite(next_purchase_median(params, x, T)))


@pytest.mark.parametrize("params", [BG, MBG])
def test_expected_purchases_grow_with_the_horizon(params: BgNbdParams) -> None:
    horizon = np.array([0.0, 1.0, 4.0, 13.0, 52.0, 520.0, 5200.0])
    expected = expected_purchases(params, horizon, 2, 30.43, 38.86)
    assert expected[0] == 0.0
    assert np.all(np.diff(expected) > 0)
    # over a short horizon: P(alive) times the posterior mean rate (r+x)/(alpha+T)
    short = expected_purchases(params, 1e-6, 2, 30.43, 38.86) / 1e-6
    assert short == pytest.approx(
        p_alive(params, 2, 30.43, 38.86) * (params.r + 2) / (params.alpha + 38.86), rel=1e-4
    )


@pytest.mark.parametrize("params", [BG, MBG])
def test_next_purchase_median_and_probability(params: BgNbdParams) -> None:
    x, t_x, T = ROWS
    median = next_purchase_median(params, x, T)
    alive = p_alive(params, x, t_x, T)
    within = purchase_probability(params, median, x, t_x, T)
    assert within / alive == pytest.approx(0.5)
    assert np.all(purchase_probability(params, 1e200, x, t_x, T) == pytest.approx(alive))
    assert np.all(purchase_probability(params, 0.0, x, t_x, T) == 0.0)
    # more purchases over the same time: a sooner next purchase
    assert next_purchase_median(params, 10, 38.86) < next_purchase_median(params, 1, 38.86)


def test_p_alive_of_the_published_example_and_its_shape() -> None:
    # BG/NBD: a returning client who has been silent longer is less likely alive
    silence = p_alive(BG, 2, np.array([38.0, 30.0, 20.0, 5.0]), 38.86)
    assert np.all(np.diff(silence) < 0) and silence[0] < 1
    assert float(p_alive(BG, 0, 0, 38.86)) == 1.0
    assert 0 < float(p_alive(MBG, 0, 0, 38.86)) < float(p_alive(MBG, 0, 0, 1.0)) < 1
