"""The uplift of treatment over holdout, with a 95 % interval: pure arithmetic, no I/O.

The interval for the difference of two independent proportions is Newcombe's hybrid score
interval without continuity correction (method 10 in R. G. Newcombe, "Interval estimation for the
difference between independent proportions: comparison of eleven methods", Statistics in Medicine
17 (1998) 873-890). Each proportion gets its Wilson score interval (l, u); for d = p1 - p2:

    lower = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)
    upper = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)

It stays inside [-1, 1], behaves at 0 % and 100 % and with small groups, where the textbook
Wald interval (d +- z * standard error) collapses or overshoots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the 97.5th percentile of the standard normal


@dataclass(frozen=True, slots=True)
class Interval:
    difference: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval leaves out 0: treatment and holdout differ at this confidence."""
        return self.low > 0 or self.high < 0


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for successes / n (n > 0)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError("need 0 <= successes <= n and n > 0")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(successes_1: int, n_1: int, successes_2: int, n_2: int, z: float = Z_95) -> Interval:
    """p1 - p2 with Newcombe's hybrid score interval (method 10)."""
    p1, p2 = successes_1 / n_1, successes_2 / n_2
    l1, u1 = wilson(successes_1, n_1, z)
    l2, u2 = wilson(successes_2, n_2, z)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(difference, max(-1.0, low), min(1.0, high))
