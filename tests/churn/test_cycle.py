"""SPEC §4 Cycle: median gap between distinct UTC purchase days (≥ 2 gaps), else the market's,
else the policy default; clamped to [min_cycle_days, max_cycle_days]; expected next order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.policy.schemas import Policy

from .helpers import History, at


def cycle_of(*day_list: float, policy: Policy | None = None, market: float | None = None):
    history = History()
    history.orders(*day_list)
    state = history.state(max(day_list) + 1, policy or Policy(), market)
    return state.cycle_days, state.cycle_source


def test_a_prospect_has_the_default_cycle_and_no_expected_order() -> None:
    history = History()
    history.request(0)
    state = history.state(1)
    assert (state.cycle_days, state.cycle_source) == (90, "default")
    assert state.expected_next_order_at is None
    assert state.last_order_at is None
    assert state.days_since_last_order is None


@pytest.mark.parametrize("day_list", [(0,), (0, 10)], ids=["one order", "one gap"])
def test_fewer_than_two_gaps_fall_back_to_the_default(day_list: tuple[float, ...]) -> None:
    assert cycle_of(*day_list) == (90, "default")


def test_two_gaps_give_an_own_cycle() -> None:
    assert cycle_of(0, 10, 30) == (15, "own")  # median of 10, 20


def test_median_of_an_odd_number_of_gaps() -> None:
    assert cycle_of(0, 5, 15, 45) == (10, "own")  # 5, 10, 30


def test_median_of_an_even_number_of_gaps() -> None:
    assert cycle_of(0, 10, 30, 60, 100) == (25, "own")  # 10, 20, 30, 40


def test_the_median_ignores_one_outlier_gap() -> None:
    assert cycle_of(0, 10, 20, 30, 300) == (10, "own")


def test_same_day_orders_are_one_purchase_occasion() -> None:
    history = History()
    for hour in (0, 9, 23):
        history.order_at(at(0, hour))
    history.order_at(at(10, 12))
    history.order_at(at(20, 1))
    history.order_at(at(20, 22))
    state = history.state(21)
    assert state.orders_count == 6
    assert state.purchase_days == 3
    assert (state.cycle_days, state.cycle_source) == (10, "own")
    assert state.lifetime_revenue == 600  # revenue counts every order


def test_two_same_day_orders_make_no_gap() -> None:
    history = History()
    history.order_at(at(0, 1))
    history.order_at(at(0, 20))
    history.order(30)
    state = history.state(31)
    assert state.purchase_days == 2
    assert state.cycle_source == "default"


def test_gaps_are_counted_between_calendar_days_not_timestamps() -> None:
    # 23:00 → 01:00 nine days later is 9.08 days of clock time but 10 calendar days
    history = History()
    history.order_at(at(0, 23))
    history.order_at(at(10, 1))
    history.order_at(at(20, 23))
    assert history.state(21).cycle_days == 10


def test_midnight_utc_splits_purchase_days() -> None:
    history = History()
    history.order_at(at(0, 23.5))
    history.order_at(at(1, 0.5))  # one hour later, the next UTC day
    history.order_at(at(11, 0))
    state = history.state(12)
    assert state.purchase_days == 3
    assert state.cycle_days == 7  # gaps 1 and 10: median 5.5, clamped to the minimum 7


def test_purchase_days_are_utc_days_whatever_the_offset_of_the_timestamp() -> None:
    plus_two = timezone(timedelta(hours=2))
    history = History()
    history.order_at(datetime(2025, 1, 1, 10, tzinfo=UTC))
    # 2025-01-02 01:00 at +02:00 is 2025-01-01 23:00 UTC: the same UTC day as the first order
    history.order_at(datetime(2025, 1, 2, 1, tzinfo=plus_two))
    history.order_at(datetime(2025, 1, 11, 10, tzinfo=UTC))
    history.order_at(datetime(2025, 1, 21, 10, tzinfo=UTC))
    state = history.state(datetime(2025, 1, 22, tzinfo=UTC))
    assert state.orders_count == 4
    assert state.purchase_days == 3
    assert state.cycle_days == 10


def test_the_market_cycle_is_used_before_the_default() -> None:
    assert cycle_of(0, 10, market=30) == (30, "market")
    assert cycle_of(0, market=45.5) == (45.5, "market")


def test_an_own_cycle_wins_over_the_market_cycle() -> None:
    assert cycle_of(0, 10, 20, market=30) == (10, "own")


def test_the_policy_default_cycle() -> None:
    assert cycle_of(0, policy=Policy(default_cycle_days=60)) == (60, "default")


@pytest.mark.parametrize(
    ("day_list", "market", "policy", "expected"),
    [
        ((0, 2, 4), None, Policy(), (7, "own")),  # below the minimum
        ((0, 7, 14), None, Policy(), (7, "own")),  # at the minimum
        ((0, 8, 16), None, Policy(), (8, "own")),  # above the minimum
        ((0, 400, 800), None, Policy(), (365, "own")),  # above the maximum
        ((0, 365, 730), None, Policy(), (365, "own")),
        ((0, 364, 728), None, Policy(), (364, "own")),
        ((0,), 3, Policy(), (7, "market")),
        ((0,), 1000, Policy(), (365, "market")),
        ((0,), None, Policy(default_cycle_days=5), (7, "default")),
        ((0,), None, Policy(default_cycle_days=500), (365, "default")),
        ((0, 2, 4), None, Policy(min_cycle_days=1), (2, "own")),
        ((0, 200, 400), None, Policy(max_cycle_days=100), (100, "own")),
        ((0,), None, Policy(default_cycle_days=90, max_cycle_days=60), (60, "default")),
    ],
)
def test_the_cycle_is_clamped(
    day_list: tuple[float, ...],
    market: float | None,
    policy: Policy,
    expected: tuple[float, str],
) -> None:
    assert cycle_of(*day_list, policy=policy, market=market) == expected


def test_expected_next_order_is_the_last_order_plus_the_cycle() -> None:
    history = History()
    history.orders(0, 10, 20)
    history.order_at(at(30, 15))
    state = history.state(31)
    assert state.cycle_days == 10
    assert state.last_order_at == at(30, 15)
    assert state.expected_next_order_at == at(40, 15)


def test_expected_next_order_uses_the_clamped_cycle() -> None:
    history = History()
    history.orders(0, 2, 4)
    assert history.state(5).expected_next_order_at == at(11)


def test_expected_next_order_with_the_default_cycle() -> None:
    history = History()
    history.order(5)
    assert history.state(6).expected_next_order_at == at(95)


def test_days_since_last_order_and_overdue_ratio() -> None:
    history = History()
    history.orders(0, 10, 20)
    state = history.state(at(35, 12))
    assert state.days_since_last_order == 15.5
    assert state.overdue_ratio == 1.55


def test_a_cancelled_order_leaves_the_cycle_and_recency() -> None:
    history = History()
    first, *_ = history.orders(0, 10, 20)
    late = history.order(23)
    history.cancel(late, 24)
    state = history.state(25)
    assert (state.cycle_days, state.cycle_source) == (10, "own")
    assert state.last_order_at == at(20)
    assert state.orders_count == 3
    history.cancel(first, 26)
    state = history.state(27)
    assert (state.cycle_days, state.cycle_source) == (90, "default")
    assert state.first_order_at == at(10)


def test_a_cancel_of_an_unknown_order_changes_nothing() -> None:
    history = History()
    history.orders(0, 10, 20)
    history.cancel("o-unknown", 21)
    state = history.state(22)
    assert state.orders_count == 3
    assert state.cycle_days == 10


def test_a_zero_amount_order_is_still_a_purchase() -> None:
    history = History()
    history.order(0)
    history.order(10, "0")
    history.order(20)
    state = history.state(21)
    assert state.purchase_days == 3
    assert state.cycle_source == "own"
