"""Pure: the holdout split by hash, and Newcombe's interval for the uplift."""

from __future__ import annotations

import hashlib
import math

import pytest

from app.campaigns.holdout import fraction, in_holdout
from app.campaigns.uplift import Z_95, newcombe, wilson

CLIENTS = [f"client-{n:05d}" for n in range(10_000)]


@pytest.mark.parametrize("pct", [5, 10, 25, 50])
def test_the_split_is_close_to_holdout_pct_on_10000_clients(pct: float) -> None:
    held = sum(in_holdout("cmp_q4", client, pct) for client in CLIENTS)
    expected = len(CLIENTS) * pct / 100
    spread = math.sqrt(len(CLIENTS) * pct / 100 * (1 - pct / 100))  # binomial standard deviation
    assert abs(held - expected) < 4 * spread, (held, expected)


def test_the_split_is_stable_across_runs_and_differs_between_campaigns() -> None:
    first = [in_holdout("cmp_q4", client, 10) for client in CLIENTS]
    again = [in_holdout("cmp_q4", client, 10) for client in CLIENTS]
    assert first == again
    # SHA-256 of the pair, so the split cannot change with the machine or the Python version
    digest = hashlib.sha256(b"cmp_q4\nclient-00000").digest()
    assert fraction("cmp_q4", "client-00000") == int.from_bytes(digest[:8], "big") / 2**64
    other = [in_holdout("cmp_other", client, 10) for client in CLIENTS]
    both = sum(a and b for a, b in zip(first, other, strict=True))
    assert 50 < both < 150  # independent splits: about 1 % of clients are in both holdouts


def test_a_larger_holdout_keeps_everyone_already_held_out() -> None:
    for client in CLIENTS[:2000]:
        if in_holdout("cmp_q4", client, 10):
            assert in_holdout("cmp_q4", client, 20)
    assert not any(in_holdout("cmp_q4", client, 0) for client in CLIENTS)


def test_wilson_by_hand() -> None:
    # 2 of 6: p = 1/3, z^2 = 3.8415; centre = (1/3 + 3.8415/12) / (1 + 3.8415/6) = 0.3984;
    # half = 1.96 * sqrt(1/3 * 2/3 / 6 + 3.8415 / 144) / 1.6402 = 0.3016
    low, high = wilson(2, 6)
    assert low == pytest.approx(0.0968, abs=1e-4)
    assert high == pytest.approx(0.7000, abs=1e-4)


def test_newcombe_by_hand() -> None:
    """2/6 - 1/4 step by step. Wilson: 2/6 -> (0.0968, 0.7000), 1/4 -> (0.0456, 0.6994).
    low = 0.0833 - sqrt((0.3333 - 0.0968)^2 + (0.6994 - 0.25)^2) = 0.0833 - 0.5078 = -0.4245;
    high = 0.0833 + sqrt((0.7000 - 0.3333)^2 + (0.25 - 0.0456)^2) = 0.0833 + 0.4198 = 0.5031."""
    z2 = Z_95**2
    p1, p2 = 2 / 6, 1 / 4

    def by_hand(p: float, n: int) -> tuple[float, float]:
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        return centre - half, centre + half

    l1, u1 = by_hand(p1, 6)
    l2, u2 = by_hand(p2, 4)
    low = (p1 - p2) - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = (p1 - p2) + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    interval = newcombe(2, 6, 1, 4)
    assert interval.difference == pytest.approx(0.0833, abs=1e-4)
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert (round(interval.low, 4), round(interval.high, 4)) == (-0.4245, 0.5031)
    assert not interval.significant


@pytest.mark.parametrize(
    ("counts", "low", "high"),
    [
        # Newcombe (1998), Table II, method 10 (hybrid score, no continuity correction)
        ((56, 70, 48, 80), 0.0524, 0.3339),
        ((9, 10, 3, 10), 0.1705, 0.8090),
        ((6, 7, 2, 7), 0.0582, 0.8062),
        ((5, 56, 0, 29), -0.0381, 0.1926),
        ((0, 10, 0, 20), -0.1611, 0.2775),
        ((0, 10, 0, 10), -0.2775, 0.2775),
        ((10, 10, 0, 20), 0.6791, 1.0000),
        ((10, 10, 0, 10), 0.6075, 1.0000),
    ],
)
def test_newcombe_reproduces_the_published_examples(
    counts: tuple[int, int, int, int], low: float, high: float
) -> None:
    interval = newcombe(*counts)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)
    assert interval.significant == (low > 0)
