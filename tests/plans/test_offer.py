"""Offer: guarantee only when fixed, compensation capped by max_spend, bounded discounts."""

from __future__ import annotations

from decimal import Decimal

from app.plans.schemas import Offer, OfferComponent
from app.policy.schemas import Policy

from .builders import History, make_plan

LOST_DAY = 240  # regular() of 10,000.00 orders: value 50,000.00, max_spend 1,800.00 here


def big() -> History:
    return History().regular("10000.00")


def kinds(offer: Offer | None) -> list[str]:
    assert offer is not None
    return [c.kind for c in offer.components]


def component(offer: Offer | None, kind: str) -> OfferComponent:
    assert offer is not None
    return next(c for c in offer.components if c.kind == kind)


def test_compensation_is_a_percent_of_the_amount_at_issue() -> None:
    history = big().complaint(150, order_id="o-120", amount_at_issue="500.00")
    credit = component(make_plan(history, LOST_DAY, tier="B").offer, "compensation")
    assert credit.amount == "100.00"
    assert credit.basis == "20% of 500.00 at issue in complaint fb-9 (order o-120)"
    assert "(compensation_pct)" in credit.text


def test_compensation_falls_back_to_the_problem_orders_amount() -> None:
    history = big().complaint(150, order_id="o-90")
    plan = make_plan(history, LOST_DAY, Policy(compensation_pct=5), tier="B")
    credit = component(plan.offer, "compensation")
    assert credit.amount == "500.00"
    assert credit.basis == "5% of order o-90 (10,000.00)"


def test_compensation_is_capped_by_max_spend() -> None:
    history = big().complaint(150, order_id="o-120")
    plan = make_plan(history, LOST_DAY, tier="B")
    assert plan.economics.max_spend == "1800.00"
    credit = component(plan.offer, "compensation")
    assert credit.amount == "1800.00"
    assert credit.basis is not None
    assert credit.basis == "20% of order o-120 (10,000.00); 2,000.00 capped by max_spend 1,800.00"
    # exactly at the cap: not capped
    exact = make_plan(big().complaint(150, amount_at_issue="9000.00"), LOST_DAY, tier="B")
    credit = component(exact.offer, "compensation")
    assert credit.amount == "1800.00"
    assert credit.basis is not None and "capped" not in credit.basis


def test_no_compensation_without_an_amount_or_when_nothing_may_be_spent() -> None:
    assert "compensation" not in kinds(make_plan(big().complaint(150), LOST_DAY, tier="B").offer)
    history = big().complaint(150, order_id="o-120")
    free = make_plan(history, LOST_DAY, Policy(max_spend_ratio=0), tier="B")
    assert "compensation" not in kinds(free.offer)


def test_guarantee_only_when_the_complaint_is_resolved() -> None:
    resolved = big().complaint(150, order_id="o-120").resolve(160)
    offer = make_plan(resolved, LOST_DAY, tier="B").offer
    assert component(offer, "guarantee").text.endswith("(fixed: fb-9)")
    open_ = big().complaint(150, order_id="o-120")
    assert "guarantee" not in kinds(make_plan(open_, LOST_DAY, tier="B").offer)
    assert "guarantee" not in kinds(make_plan(big(), LOST_DAY, tier="B").offer)
    # one of two still open: not fixed
    mixed = resolved.complaint(170, "fb-10")
    assert "guarantee" not in kinds(make_plan(mixed, LOST_DAY, tier="B").offer)


def test_win_back_offer_components() -> None:
    plan = make_plan(big().contact(215, "reached", reason="competitor_price"), LOST_DAY, tier="A")
    assert kinds(plan.offer) == [
        "personal_control",
        "special_terms",
        "discount",
        "something_new",
        "gift",
    ]
    assert plan.offer is not None
    assert (plan.offer.max_discount_pct, plan.offer.valid_days) == (10, 30)
    assert component(plan.offer, "discount").text == (
        "a discount of at most 10% (max_discount_pct), valid 30 days (min_offer_days 14)"
    )
    tier_b = make_plan(big(), LOST_DAY, tier="B")
    assert "gift" not in kinds(tier_b.offer)
    assert "discount" not in kinds(tier_b.offer)  # not a competitor diagnosis
    b2c = make_plan(big(), LOST_DAY, tier="A", market="b2c")
    assert kinds(b2c.offer) == ["special_terms", "discount", "something_new"]


def test_offer_numbers_come_from_the_policy() -> None:
    policy = Policy(max_discount_pct=15, offer_valid_days=21, min_offer_days=21)
    plan = make_plan(big(), LOST_DAY, policy, tier="B", market="b2c")
    assert plan.offer is not None
    assert (plan.offer.max_discount_pct, plan.offer.valid_days) == (15, 21)
    assert plan.offer.valid_days >= policy.min_offer_days


def test_retention_offers_follow_the_signals() -> None:
    lapsed = make_plan(big(), 170, tier="B")
    assert kinds(lapsed.offer) == ["special_terms"]
    drop = make_plan(big().order(150, "1000.00"), 160, tier="B")
    assert kinds(drop.offer) == ["price_lock", "discount"]
    assert "10000.00 per order" in component(drop.offer, "price_lock").text
    unhappy = make_plan(big().complaint(125, order_id="o-120", amount_at_issue="1000.00"), 130)
    assert kinds(unhappy.offer) == ["personal_control", "compensation"]
    assert Decimal(component(unhappy.offer, "compensation").amount or "0") == Decimal("200.00")


def test_no_offer_without_a_plan() -> None:
    assert make_plan(big(), 130, tier="A").offer is None  # no_action
    assert make_plan(big(), LOST_DAY, tier="C").offer is None  # let_go
    unresponsive = big()
    for day in (125, 126, 127):
        unresponsive.contact(day, "no_answer")
    assert make_plan(unresponsive, 130, tier="B").offer is None  # nothing to offer yet
