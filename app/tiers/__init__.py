"""Value tiers by Pareto share (SPEC §5): pure cut-point maths; SQL lives in tiers.repository."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Tier = Literal["A", "B", "C"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A client is A when its value >= a_min, B when >= b_min, else C."""

    a_min: Decimal
    b_min: Decimal


def assign(value: Decimal, thresholds: Thresholds | None) -> Tier | None:
    """O(1) on every write. None until the worker has computed the first cut points."""
    if thresholds is None:
        return None
    if value > 0 and value >= thresholds.a_min:
        return "A"
    if value > 0 and value >= thresholds.b_min:
        return "B"
    return "C"


def cut_points(values: Iterable[Decimal], cutoffs: tuple[float, float]) -> Thresholds | None:
    """Sort by value descending; clients up to where the cumulative share reaches cutoffs[0] are A,
    up to cutoffs[1] B, the rest C. Returns the values of the last A and the last B client.

    The reference for the set-based SQL in tiers.repository (tests compare the two).
    """
    ordered = sorted((v for v in values if v > 0), reverse=True)
    total = sum(ordered, Decimal(0))
    if not ordered:
        return None
    a_min = b_min = None
    running = Decimal(0)
    for value in ordered:
        running += value
        share = running / total
        if a_min is None and share >= Decimal(str(cutoffs[0])):
            a_min = value
        if b_min is None and share >= Decimal(str(cutoffs[1])):
            b_min = value
            break
    assert a_min is not None and b_min is not None
    return Thresholds(a_min=a_min, b_min=b_min)
