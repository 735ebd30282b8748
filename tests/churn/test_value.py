"""SPEC §5 value and the revenue fields of §3: net of cancels and refunds, in the value window
ending at the last order, in the policy currency, optionally on margin."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.churn.engine import WindowMargin
from app.policy.schemas import Policy

from .helpers import History, at


def test_value_is_net_revenue_of_the_orders_in_the_window_ending_at_the_last_order() -> None:
    history = History()
    history.order(34, "1")  # 366 days before the last order
    history.order(35, "10")  # exactly 365 days before: outside the window
    history.order(36, "100")  # 364 days before: inside
    history.order(200, "1000")
    history.order(400, "10000")
    state = history.state(401)
    assert state.value == Decimal("11100")
    assert state.lifetime_revenue == Decimal("11111")
    assert state.orders_count == 5
    assert state.average_order_value == Decimal("2222.20")


def test_a_lost_client_keeps_its_value() -> None:
    history = History()
    history.orders(0, 10, 20)
    assert history.state(21).value == 300
    state = history.state(2000)
    assert state.status == "lost"
    assert state.value == 300


def test_refunds_reduce_net_revenue() -> None:
    history = History()
    order = history.order(0, "100")
    history.order(10, "50")
    history.refund(order, 2, "30")
    state = history.state(11)
    assert state.lifetime_revenue == Decimal("120")
    assert state.value == Decimal("120")
    history.refund(order, 3, "20.50")
    assert history.state(11).lifetime_revenue == Decimal("99.50")


def test_a_refund_never_makes_an_order_negative() -> None:
    history = History()
    order = history.order(0, "100")
    history.refund(order, 1, "80")
    history.refund(order, 2, "80")
    history.order(5, "10")
    state = history.state(6)
    assert state.lifetime_revenue == Decimal("10")
    assert state.orders_count == 2  # still a purchase


def test_a_refund_seen_before_its_order() -> None:
    history = History()
    history.refund("o-late", 2, "40")
    history.order(1, "100", order_id="o-late")
    assert history.state(3).lifetime_revenue == Decimal("60")


def test_a_cancel_removes_the_order_from_revenue_cycle_and_recency() -> None:
    history = History()
    history.orders(0, 10, 20)
    late = history.order(30, "500")
    before = history.state(31)
    assert (before.lifetime_revenue, before.last_order_at, before.orders_count) == (800, at(30), 4)
    history.cancel(late, 31)
    state = history.state(32)
    assert state.lifetime_revenue == 300
    assert state.value == 300
    assert state.last_order_at == at(20)
    assert state.orders_count == 3
    assert state.purchase_days == 3
    assert state.expected_next_order_at == at(30)


def test_a_cancel_seen_before_its_order() -> None:
    history = History()
    history.order(0)
    history.cancel("o-x", 4)
    history.order(5, "70", order_id="o-x")
    state = history.state(6)
    assert state.orders_count == 1
    assert state.lifetime_revenue == 100


def test_the_value_window_ends_at_the_last_counted_order() -> None:
    history = History()
    history.order(0, "100")
    late = history.order(400, "100")
    assert history.state(401).value == 100
    history.cancel(late, 401)
    assert history.state(402).value == 100  # the window now ends at day 0


def test_amount_in_base_for_a_foreign_currency() -> None:
    history = History()
    history.order(0, "100", currency="USD", amount_in_base="92.50")
    history.order(1, "10")
    state = history.state(2)
    assert state.lifetime_revenue == Decimal("102.50")
    assert state.value == Decimal("102.50")


def test_a_refund_of_a_foreign_order_is_in_the_base_currency() -> None:
    history = History()
    order = history.order(0, "100", currency="USD", amount_in_base="90")
    history.refund(order, 1, "45")
    assert history.state(2).lifetime_revenue == Decimal("45")


def test_amounts_given_as_numbers() -> None:
    history = History()
    history.add("order.placed", at(0), order_id="o-n", amount=12.5)
    history.add("order.placed", at(1), order_id="o-m", amount=7)
    assert history.state(2).lifetime_revenue == Decimal("19.5")


MARGIN = Policy(value_basis="margin")


def test_value_basis_margin() -> None:
    history = History()
    history.order(0, "100", margin="30")
    history.order(10, "200", margin="50")
    state = history.state(11, MARGIN)
    assert state.value == Decimal("80")
    assert state.lifetime_revenue == Decimal("300")  # revenue stays revenue
    assert history.state(11).value == Decimal("300")


def test_margin_is_reduced_in_proportion_to_refunds() -> None:
    history = History()
    order = history.order(0, "100", margin="30")
    history.refund(order, 1, "50")
    assert history.state(2, MARGIN).value == Decimal("15")


def test_margin_of_a_foreign_order_is_converted_at_the_orders_rate() -> None:
    history = History()
    history.order(0, "100", currency="USD", amount_in_base="90", margin="20")
    assert history.state(1, MARGIN).value == Decimal("18")


def test_margin_value_uses_the_value_window() -> None:
    history = History()
    history.order(0, "100", margin="30")
    history.order(400, "100", margin="40")
    assert history.state(401, MARGIN).value == Decimal("40")


def test_a_prospect_has_no_value() -> None:
    history = History()
    history.request(0)
    state = history.state(1)
    assert state.value == 0
    assert state.lifetime_revenue == 0


@pytest.mark.parametrize(
    ("window", "expected"),
    [(9, "100"), (10, "100"), (11, "110"), (30, "110"), (31, "111")],
)
def test_the_policy_value_window(window: float, expected: str) -> None:
    history = History()
    history.order(0, "1")
    history.order(20, "10")  # 10 days before the last
    history.order(30, "100")
    assert history.state(31, Policy(value_window_days=window)).value == Decimal(expected)


def test_the_margin_of_the_value_window_is_on_the_state() -> None:
    """The one value window: the planner's margin rate reads these figures, not the orders."""
    history = History()
    history.order(0, "100", margin="30")  # outside the window ending at day 400
    half = history.order(300, "200", margin="50")
    history.refund(half, 301, "100")  # half refunded: half the margin
    history.order(350, "100")  # no margin
    history.order(360, "0", margin="0")  # no amount: no margin share
    history.order(400, "100", margin="20")
    state = history.state(401)
    assert state.window_margin == WindowMargin(orders=2, net=Decimal("200"), margin=Decimal("45"))
    assert state.value == Decimal("300")
    margin_based = history.state(401, MARGIN)
    assert margin_based.window_margin == state.window_margin
    assert margin_based.value == Decimal("145")  # 25 + 100 (no margin: net) + 0 + 20
    assert History().state(1).window_margin == WindowMargin()
