"""Maximum likelihood in log-parameters, shared by the BG/NBD and Gamma-Gamma fits.

Every model parameter is positive, so the optimiser works on log(parameter): no positivity
constraint, and steps are relative. scipy's bounded truncated Newton (TNC) gets the analytic
gradient of the mean log-likelihood per client (so tolerances do not depend on the population's
size), within box bounds on the logs that keep every parameter in [e^-LOG_BOUND, e^LOG_BOUND].
A result that is not a stationary point (projected gradient above GRADIENT_TOLERANCE) is
polished by L-BFGS-B; if still not, the next start is tried; the best converged result wins.

Why TNC first: scipy's L-BFGS-B calls OpenBLAS, whose worker threads made a fit 10 times
slower, and erratic, on a busy two-core machine; TNC is self-contained C and reached the same
optima (CDNOW: the same log-likelihood to 1e-11) in 10 to 40 ms there.

`seconds` is measured with a monotonic performance counter: a duration for the fit's report,
never a date and never an input of any result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

P = TypeVar("P")
FloatArray = npt.NDArray[np.float64]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]

MIN_CLIENTS = 10
LOG_BOUND = 30.0  # parameters within [1e-13, 1e13]
GRADIENT_TOLERANCE = 1e-5  # on the mean log-likelihood per client, per log-parameter
MAX_ITERATIONS = 1000


@dataclass(frozen=True, slots=True)
class Fit(Generic[P]):
    """A fitted population model.

    `params` are the maximum-likelihood estimates when `fallback_reason` is None, else the
    fallback parameters the fit was given (or the documented default) and the reason. `n` is the
    number of clients the likelihood is over, `rows` the distinct rows they grouped into,
    `log_likelihood` the log-likelihood of `params` over the n clients (nan without data).
    `warnings` name parameters that ended on a bound (the maximum is at infinity or zero).
    """

    params: P
    n: int
    rows: int
    log_likelihood: float
    converged: bool
    iterations: int
    seconds: float
    fallback_reason: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """True when params were estimated from this population's data."""
        return self.fallback_reason is None


@dataclass(frozen=True, slots=True)
class Optimum:
    theta: FloatArray
    value: float  # the minimised objective: minus the mean log-likelihood
    converged: bool
    iterations: int
    message: str
    at_bound: tuple[int, ...]


def weighted_sum(weight: FloatArray, values: FloatArray) -> float:
    """sum(weight * values), pairwise-summed by numpy. Not np.dot: BLAS's threads on long
    vectors made fits 10 times slower, and erratic, on a busy two-core machine."""
    return float(np.sum(weight * values))


def projected_gradient(theta: FloatArray, gradient: FloatArray) -> FloatArray:
    """The gradient with the components that push out of the bounds zeroed (KKT at a bound)."""
    low = (theta <= -LOG_BOUND + 1e-9) & (gradient > 0)
    high = (theta >= LOG_BOUND - 1e-9) & (gradient < 0)
    return np.where(low | high, 0.0, gradient)


def minimise(objective: Objective, starts: Sequence[Sequence[float]]) -> Optimum:
    """Minimise `objective` (value and gradient in log-parameters) from each start until one
    converges; the best converged optimum, else the best one found. Each start runs TNC and, if
    that ends off a stationary point, L-BFGS-B from where TNC stopped."""
    best: Optimum | None = None
    for start in starts:
        theta0 = np.asarray(start, dtype=np.float64)
        value0, gradient0 = objective(theta0)
        if not math.isfinite(value0) or not np.all(np.isfinite(gradient0)):
            continue
        found = _run(objective, theta0, "TNC", 0)
        if not found.converged and math.isfinite(found.value):
            found = _run(objective, found.theta, "L-BFGS-B", found.iterations)
        if best is None or _better(found, best):
            best = found
        if best.converged:
            break
    if best is None:
        nothing = np.asarray(starts[0], dtype=np.float64)
        return Optimum(nothing, math.nan, False, 0, "no start had a finite likelihood", ())
    return best


def minimize(*args: Any, **kwargs: Any) -> Any:
    """scipy.optimize.minimize, imported on the first fit: it costs 0.4 s at import, and every
    process that scores clients imports this module."""
    from scipy.optimize import minimize as scipy_minimize

    return scipy_minimize(*args, **kwargs)


def _run(objective: Objective, theta0: FloatArray, method: str, iterations: int) -> Optimum:
    bounds = [(-LOG_BOUND, LOG_BOUND)] * theta0.size
    if method == "TNC":
        # ftol and xtol off: stop on the projected gradient (or when no step improves)
        options = {"maxfun": MAX_ITERATIONS, "ftol": 0.0, "xtol": 0.0, "gtol": 1e-10}
    else:
        options = {"maxiter": MAX_ITERATIONS, "ftol": 1e-15, "gtol": 1e-10}
    result = minimize(objective, theta0, jac=True, method=method, bounds=bounds, options=options)
    theta = np.asarray(result.x, dtype=np.float64)
    value, gradient = objective(theta)
    stationary = bool(
        math.isfinite(value)
        and np.all(np.isfinite(gradient))
        and np.max(np.abs(projected_gradient(theta, gradient))) <= GRADIENT_TOLERANCE
    )
    at_bound = tuple(int(i) for i in np.flatnonzero(np.abs(theta) >= LOG_BOUND - 1e-6))
    total = iterations + int(result.nit)
    return Optimum(theta, value, stationary, total, f"{method}: {result.message}", at_bound)


def _better(found: Optimum, best: Optimum) -> bool:
    if found.converged != best.converged:
        return found.converged
    return bool(math.isfinite(found.value) and not found.value >= best.value)


class Stopwatch:
    """Elapsed seconds of a fit (a duration for the report, nothing else)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.started
