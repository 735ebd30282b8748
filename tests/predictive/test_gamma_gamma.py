"""Gamma-Gamma: likelihood, gradient, fit (recovery, guards) and the expected spend."""

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.optimize import approx_fprime

from app.predictive import GammaGammaParams, expected_spend, fit_gamma_gamma
from app.predictive.bgnbd import CDNOW_PUBLISHED as PURCHASES
from app.predictive.gamma_gamma import (
    CDNOW_PUBLISHED,
    log_likelihood,
    log_likelihood_gradient,
)
from app.predictive.simulate import simulate_bgnbd, simulate_spend
from tests.predictive.helpers import standard_errors

SPEND = CDNOW_PUBLISHED


def test_log_likelihood_matches_numerical_integration() -> None:
    """The density of the mean of x values Gamma(p, nu), with nu ~ Gamma(q, gamma) integrated
    numerically."""
    for x, z in [(1, 12.0), (2, 22.35), (7, 40.0), (30, 15.0)]:

        def density(nu: float, x: int = x, z: float = z) -> float:
            mean_of_x = stats.gamma.pdf(z, SPEND.p * x, scale=1 / (nu * x))
            return float(mean_of_x * stats.gamma.pdf(nu, SPEND.q, scale=1 / SPEND.gamma))

        value, _ = integrate.quad(density, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
        assert float(log_likelihood(SPEND, x, z)) == pytest.approx(math.log(value), rel=1e-8)


def test_the_analytic_gradient_is_the_gradient() -> None:
    x = np.array([1, 2, 2, 5, 30, 0])
    z = np.array([10.0, 22.35, 5.0, 80.0, 15.0, 0.0])  # the x = 0 row is left out
    weights = np.array([2.0, 1.0, 3.0, 1.0, 1.0, 1.0])

    def total(v: np.ndarray) -> float:
        keep = x > 0
        return float(np.dot(weights[keep], log_likelihood(GammaGammaParams(*v), x[keep], z[keep])))

    point = np.array([SPEND.p, SPEND.q, SPEND.gamma])
    value, grad = log_likelihood_gradient(SPEND, x, z, weights)
    assert value == pytest.approx(total(point))
    assert grad == pytest.approx(approx_fprime(point, total, 1e-7), rel=1e-5, abs=1e-5)


def test_known_parameters_are_recovered_from_simulated_spend() -> None:
    """Repeat buyers of 20,000 simulated clients, spends drawn with CDNOW's parameters: each
    estimate within 4 standard errors of the truth (see test_bgnbd's recovery test)."""
    rng = np.random.default_rng(946)
    T = rng.integers(27, 40, 20_000).astype(float)
    x, _ = simulate_bgnbd(PURCHASES, T, rng)
    z = simulate_spend(SPEND, x, rng)
    fit = fit_gamma_gamma(x, z)
    assert fit.converged and fit.n == int((x > 0).sum())
    got = np.array([fit.params.p, fit.params.q, fit.params.gamma])
    want = np.array([SPEND.p, SPEND.q, SPEND.gamma])

    def gradient(v: np.ndarray) -> tuple[float, np.ndarray]:
        return log_likelihood_gradient(GammaGammaParams(*v), x, z)

    errors = standard_errors(gradient, got)
    assert np.all(np.abs(np.log(got) - np.log(want)) <= 4 * errors), (got, want, errors)


def test_expected_spend_weighs_the_population_against_the_client() -> None:
    population = SPEND.population_mean
    assert population == pytest.approx(6.25 * 15.44 / 2.74)
    assert float(expected_spend(SPEND, 0, 0.0)) == pytest.approx(population)
    for x, z in [(1, 10.0), (2, 22.35), (50, 100.0)]:
        weight = SPEND.p * x / (SPEND.p * x + SPEND.q - 1)
        want = (1 - weight) * population + weight * z
        assert float(expected_spend(SPEND, x, z)) == pytest.approx(want)
    # the more repeat purchases, the closer to the client's own mean
    many = expected_spend(SPEND, np.array([1, 10, 1000]), 100.0)
    assert np.all(np.diff(np.abs(many - 100.0)) < 0)
    assert math.isnan(float(expected_spend(GammaGammaParams(1.0, 0.5, 1.0), 0, 0.0)))
    assert GammaGammaParams(1.0, 0.5, 1.0).population_mean == math.inf


def test_few_repeat_buyers_fall_back_to_their_mean() -> None:
    fit = fit_gamma_gamma([0, 1, 2, 3], [0.0, 10.0, 20.0, 30.0])
    assert fit.fallback_reason == "fewer than 10 repeat buyers (3)"
    assert not fit.converged and fit.n == 3
    assert fit.params.p == SPEND.p and fit.params.q == SPEND.q
    assert fit.params.population_mean == pytest.approx(20.0)
    given = GammaGammaParams(2.0, 3.0, 4.0)
    assert fit_gamma_gamma([1], [5.0], fallback=given).params == given
    nobody = fit_gamma_gamma([0, 0], [0.0, 0.0])
    assert nobody.params == SPEND and math.isnan(nobody.log_likelihood)


def test_zero_spends_are_left_out_and_bad_input_refused() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(1, 6, 200)
    z = rng.gamma(5, 4, 200)
    with_zeros = fit_gamma_gamma(np.append(x, [3, 0]), np.append(z, [0.0, 0.0]))
    without = fit_gamma_gamma(x, z)
    assert with_zeros.n == without.n == 200
    assert with_zeros.params.p == pytest.approx(without.params.p)
    with pytest.raises(ValueError):
        fit_gamma_gamma([1, 2], [-1.0, 3.0])
    with pytest.raises(ValueError):
        fit_gamma_gamma([1, 2], [np.inf, 3.0])
    with pytest.raises(ValueError):
        log_likelihood(SPEND, 0, 10.0)
