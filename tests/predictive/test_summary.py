"""Orders → (x, t_x, T, mean repeat spend): same-day orders are one occasion, revenue counts
every order, the cutoff's day counts, later orders do not."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.predictive import WEEKS, ClientSummary, summarize, summarize_arrays

CUTOFF = date(2026, 3, 31)


def test_same_day_orders_are_one_occasion_and_revenue_counts_every_order() -> None:
    orders = [
        (datetime(2026, 1, 5, 9, tzinfo=UTC), Decimal("10.00")),
        (datetime(2026, 1, 5, 17, tzinfo=UTC), Decimal("5.00")),  # same day: one occasion
        (datetime(2026, 2, 4, 12, tzinfo=UTC), Decimal("30.00")),
        (datetime(2026, 2, 4, 13, tzinfo=UTC), Decimal("20.00")),
        (datetime(2026, 3, 6, 8, tzinfo=UTC), Decimal("40.00")),
    ]
    assert summarize(orders, CUTOFF) == ClientSummary(x=2, t_x=60.0, T=85.0, mean_repeat_spend=45.0)


def test_the_cutoff_day_counts_and_later_orders_do_not() -> None:
    orders = [(date(2026, 3, 1), 10.0), (CUTOFF, 20.0), (CUTOFF + timedelta(days=1), 99.0)]
    summary = summarize(orders, datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    assert summary == ClientSummary(x=1, t_x=30.0, T=30.0, mean_repeat_spend=20.0)


def test_one_time_buyer_and_no_orders() -> None:
    assert summarize([(date(2026, 3, 1), 10.0)], CUTOFF) == ClientSummary(0, 0.0, 30.0, 0.0)
    assert summarize([(date(2026, 1, 1), 1.0), (date(2026, 1, 1), 2.0)], date(2026, 1, 1)) == (
        ClientSummary(0, 0.0, 0.0, 0.0)
    )
    assert summarize([], CUTOFF) is None
    assert summarize([(CUTOFF + timedelta(days=1), 10.0)], CUTOFF) is None


def test_weeks() -> None:
    orders = [(date(1997, 1, 1), 1.0), (date(1997, 8, 2), 1.0)]
    summary = summarize(orders, date(1997, 9, 30), unit_days=WEEKS)
    assert summary is not None
    assert (summary.x, round(summary.t_x, 2), round(summary.T, 2)) == (1, 30.43, 38.86)
    assert summary.unit_days == WEEKS
    with pytest.raises(ValueError):
        summarize(orders, date(1997, 9, 30), unit_days=0)


histories = st.lists(
    st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 10_000)),  # day, cents
        min_size=1,
        max_size=8,
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(histories=histories, cutoff=st.integers(0, 60), unit=st.sampled_from([1.0, 7.0]))
def test_the_population_version_agrees_with_the_one_client_version(
    histories: list[list[tuple[int, int]]], cutoff: int, unit: float
) -> None:
    epoch = date(2026, 1, 1)
    client, day, amount = [], [], []
    for i, orders in enumerate(histories):
        for d, cents in orders:
            client.append(i * 3 + 1)
            day.append(d)
            amount.append(cents / 100)
    many = summarize_arrays(client, day, amount, cutoff, unit_days=unit)
    expected = {}
    for i, orders in enumerate(histories):
        one = summarize(
            [(epoch + timedelta(days=d), c / 100) for d, c in orders],
            epoch + timedelta(days=cutoff),
            unit_days=unit,
        )
        if one is not None:
            expected[i * 3 + 1] = one
    assert list(many.client) == sorted(expected)
    for k, cid in enumerate(many.client):
        one = expected[int(cid)]
        assert many.x[k] == one.x
        assert many.t_x[k] == pytest.approx(one.t_x)
        assert many.T[k] == pytest.approx(one.T)
        assert many.mean_repeat_spend[k] == pytest.approx(one.mean_repeat_spend)


def test_population_version_rejects_ragged_input_and_handles_empty() -> None:
    with pytest.raises(ValueError):
        summarize_arrays([1, 2], [0], [1.0, 2.0], 10)
    empty = summarize_arrays(np.array([], int), np.array([], int), np.array([]), 10)
    assert empty.client.size == 0 and empty.x.size == 0
