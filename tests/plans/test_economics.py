"""Economics: p_return bands and multipliers, margin rate, Decimal arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.plans import RecoveryPlan
from app.plans.economics import TIMES as X
from app.policy.schemas import Policy, ReturnProbabilityBand

from .builders import History, make_plan


def texts(plan: RecoveryPlan) -> list[str]:
    return [r.text for r in plan.decision_reasons]


def test_spec_example_numbers() -> None:
    # one order of 48,200.00: default cycle 90, lost at day 270; 40 days later
    plan = make_plan(History().order(0, "48200.00"), 310, tier="A")
    assert plan.economics.model_dump() == {
        "value": "48200.00",
        "margin_rate": 0.3,
        "p_return": 0.4,
        "expected_value": "5784.00",
        "max_spend": "1735.20",
    }
    reasons = texts(plan)
    assert reasons[:2] == [
        "tier A (value 48,200.00)",
        "lost 40 days ago: 0.4 cycles of 90 days",
    ]
    assert f"expected value 5,784.00 = p_return 0.4 {X} value 48,200.00 {X} margin_rate 0.3" in (
        reasons
    )
    assert f"max spend 1,735.20 = expected value {X} max_spend_ratio 0.3" in reasons


# regular(): cycle 30, lost at day 210; the bands count cycles since the loss
@pytest.mark.parametrize(
    ("day", "p_return", "text"),
    [
        (269, 0.4, "p_return 0.4: lost 1.97 cycles ago < 2 (p_return_bands)"),
        (270, 0.25, "p_return 0.25: lost 2.00 cycles ago < 4 (p_return_bands)"),
        (330, 0.15, "p_return 0.15: lost 4.00 cycles ago < 8 (p_return_bands)"),
        (449, 0.15, "p_return 0.15: lost 7.97 cycles ago < 8 (p_return_bands)"),
        (450, 0.05, "p_return 0.05: lost 8.00 cycles ago ≥ 8 (p_return_bands)"),
    ],
)
def test_p_return_bands(day: float, p_return: float, text: str) -> None:
    plan = make_plan(History().regular(), day, tier="A")
    assert plan.economics.p_return == p_return
    assert text in texts(plan)


def test_p_return_bands_come_from_the_policy() -> None:
    policy = Policy(
        p_return_bands=[
            ReturnProbabilityBand(below_cycles=1, p_return=0.5),
            ReturnProbabilityBand(p_return=0.1),
        ]
    )
    assert make_plan(History().regular(), 239, policy, tier="A").economics.p_return == 0.5
    assert make_plan(History().regular(), 240, policy, tier="A").economics.p_return == 0.1


def test_p_return_of_clients_not_lost_and_of_prospects() -> None:
    at_risk = make_plan(History().regular(), 170, tier="A")
    assert at_risk.economics.p_return == 0.4
    assert "p_return 0.4: not lost (first of p_return_bands)" in texts(at_risk)
    prospect = History().add("request.created", 1, {"request_id": "r-1", "channel": "quote"})
    economics = make_plan(prospect, 2).economics
    assert (economics.p_return, economics.value, economics.expected_value) == (0.05, "0.00", "0.00")
    assert make_plan(prospect, 2, Policy(p_return_prospect=0.07)).economics.p_return == 0.07


def test_human_factor_multiplies_down() -> None:
    history = History().regular().contact(215, "reached", reason="manager_unavailable")
    plan = make_plan(history, 240, tier="A")
    assert plan.economics.p_return == 0.28
    assert (
        f"p_return 0.4: lost 1.00 cycles ago < 2 (p_return_bands) {X} 0.7 for a human-factor "
        "reason (human_factor_multiplier) = 0.28"
    ) in texts(plan)
    custom = make_plan(history, 240, Policy(human_factor_multiplier=0.5), tier="A")
    assert custom.economics.p_return == 0.2


def test_a_loss_before_this_one_multiplies_down() -> None:
    policy = Policy(max_losses=3)
    # lost at 210, back at 250, lost again at 340; 30 days later
    twice = History().regular().order(250)
    plan = make_plan(twice, 370, policy, tier="A")
    assert plan.decision == "return_first"
    assert plan.economics.p_return == 0.2
    both = twice.contact(360, "reached", reason="broken_promise")
    assert make_plan(both, 370, policy, tier="A").economics.p_return == 0.14
    # a client lost once and now at risk in its watch: the earlier loss counts too
    at_risk = make_plan(History().regular().order(250), 281, tier="B")
    assert at_risk.economics.p_return == 0.2
    once = make_plan(History().regular(), 240, tier="A")
    assert once.economics.p_return == 0.4


def test_decimal_arithmetic_rounds_half_up_to_cents() -> None:
    # value 333.33: 0.4 * 333.33 * 0.3 = 39.9996 → 40.00; * 0.3 = 12.00
    plan = make_plan(History().order(0, "333.33"), 300, tier="A")
    assert plan.economics.expected_value == "40.00"
    assert plan.economics.max_spend == "12.00"
    # 0.25 * 1,234.50 * 0.3 = 92.5875 → 92.59; * 0.3 = 27.777 → 27.78
    plan = make_plan(History().order(0, "1234.50"), 270 + 180, tier="A")
    assert (plan.economics.p_return, plan.economics.expected_value) == (0.25, "92.59")
    assert plan.economics.max_spend == "27.78"
    policy = Policy(max_spend_ratio=0.15, margin_rate=0.45)
    plan = make_plan(History().order(0, "1000.00"), 300, policy, tier="A")
    assert plan.economics.expected_value == "180.00"
    assert plan.economics.max_spend == "27.00"


def test_margin_rate_from_the_orders_own_margins() -> None:
    history = History().order(0, "1000.00", margin="200.00").order(30, "3000.00", margin="900.00")
    plan = make_plan(history, 30 + 270 + 10, tier="A")
    assert plan.economics.margin_rate == 0.275  # 1,100 / 4,000
    assert Decimal(plan.economics.expected_value) == Decimal("440.00")  # 0.4 * 4,000 * 0.275
    assert any(
        r.startswith("margin_rate 0.275: the client's own margin on 2 orders") for r in texts(plan)
    )


def test_margin_rate_is_one_when_value_is_margin() -> None:
    history = History().order(0, "1000.00", margin="200.00")
    plan = make_plan(history, 300, Policy(value_basis="margin"), tier="A")
    assert plan.economics.value == "200.00"
    assert plan.economics.margin_rate == 1.0
    assert plan.economics.expected_value == "80.00"
