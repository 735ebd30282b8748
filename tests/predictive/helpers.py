"""Shared checks: finite-difference gradients and Hessians in log-parameters."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Gradient = Callable[[FloatArray], tuple[float, FloatArray]]


def log_gradient(gradient: Gradient, theta: FloatArray) -> FloatArray:
    """The gradient in log-parameters of a function given with its gradient in parameters."""
    _, grad = gradient(np.exp(theta))
    out: FloatArray = grad * np.exp(theta)
    return out


def standard_errors(gradient: Gradient, estimate: FloatArray, step: float = 1e-5) -> FloatArray:
    """Standard errors of the log-parameters at a maximum: the inverse observed information,
    the Hessian by central differences of the analytic gradient."""
    theta = np.log(estimate)
    k = theta.size
    hessian = np.empty((k, k))
    for j in range(k):
        shift = np.zeros(k)
        shift[j] = step
        up = log_gradient(gradient, theta + shift)
        down = log_gradient(gradient, theta - shift)
        hessian[:, j] = (up - down) / (2 * step)
    hessian = (hessian + hessian.T) / 2
    covariance = np.linalg.inv(-hessian)
    out: FloatArray = np.sqrt(np.diag(covariance))
    return out
