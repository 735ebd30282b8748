"""Value tiers by Pareto share (SPEC §5): pure cut-point maths; SQL lives in tiers.repository."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from app.domain import Tier

TierScope = Literal["market", "global"]
# The ranking key of clients when every market is ranked together.
ALL_MARKETS = "all"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A client is A when its value >= a_min, B when >= b_min, else C."""

    a_min: Decimal
    b_min: Decimal


def ranking_of(market: str, scope: TierScope) -> str:
    """Which ranking a client's value is compared in: its market's, or the one of all clients."""
    return market if scope == "market" else ALL_MARKETS


def thresholds_for(
    rankings: Mapping[str, Thresholds], market: str, scope: TierScope
) -> Thresholds | None:
    return rankings.get(ranking_of(market, scope))


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


def cut_points_by_ranking(
    clients: Iterable[tuple[str, Decimal]], cutoffs: tuple[float, float], scope: TierScope
) -> dict[str, Thresholds]:
    """(market, value) pairs -> the cut points of each ranking the scope makes."""
    groups: dict[str, list[Decimal]] = {}
    for market, value in clients:
        groups.setdefault(ranking_of(market, scope), []).append(value)
    out = {}
    for ranking, values in groups.items():
        thresholds = cut_points(values, cutoffs)
        if thresholds is not None:
            out[ranking] = thresholds
    return out
