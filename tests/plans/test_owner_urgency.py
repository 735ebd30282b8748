"""Owner (role, excluded managers) and urgency bands with their boundaries."""

from __future__ import annotations

import pytest

from app.policy.schemas import Policy

from .builders import History, make_plan

LOST_DAY = 240


def test_lost_excludes_the_manager_in_charge_at_the_loss_and_the_current_one() -> None:
    # m-7 from day 0, m-9 from day 100 (in charge at the loss, day 210), m-8 from day 220
    history = History().regular().manager(100, "m-9").manager(220, "m-8")
    history.contact(215, "reached", reason="competitor_price")
    owner = make_plan(history, LOST_DAY, tier="B", manager_id="m-8").owner
    assert owner.role == "retention_team"
    assert owner.exclude_manager_ids == ["m-9", "m-8"]


def test_unknown_diagnosis_excludes_everyone_who_worked_with_the_client() -> None:
    history = History().regular().manager(100, "m-9").contact(215, "no_answer", manager_id="m-3")
    owner = make_plan(history, LOST_DAY, tier="B", manager_id="m-9").owner
    assert set(owner.exclude_manager_ids) == {"m-7", "m-9", "m-3"}


def test_tier_a_is_owned_by_leadership() -> None:
    assert make_plan(History().regular(), LOST_DAY, tier="A").owner.role == "leadership"
    assert make_plan(History().regular(), 170, tier="A").owner.role == "leadership"


def test_human_factor_is_owned_by_leadership_without_the_manager_in_conflict() -> None:
    history = (
        History().regular().contact(125, "reached", reason="manager_conflict", manager_id="m-3")
    )
    history.survey(126, 3)
    plan = make_plan(history, 130, tier="B", manager_id="m-7")
    assert plan.decision == "retain"
    assert plan.owner.role == "leadership"
    assert plan.owner.exclude_manager_ids == ["m-7", "m-3"]


def test_retention_without_human_factor_excludes_nobody() -> None:
    owner = make_plan(History().regular(), 170, tier="B", manager_id="m-7").owner
    assert owner.model_dump() == {"role": "retention_team", "exclude_manager_ids": []}


# regular(): cycle 30, lost at day 210
@pytest.mark.parametrize(
    ("day", "urgency", "reason"),
    [
        (270, "high", "urgency high: lost 60 days ago, 2.0 cycles ≤ urgency_high_cycles 2"),
        (271, "medium", "urgency medium: lost 61 days ago, 2.0 cycles ≤ urgency_medium_cycles 6"),
        (390, "medium", "urgency medium: lost 180 days ago, 6.0 cycles ≤ urgency_medium_cycles 6"),
        (391, "low", "urgency low: lost 181 days ago, 6.0 cycles > urgency_medium_cycles 6"),
    ],
)
def test_urgency_bands_by_cycles_since_the_loss(day: float, urgency: str, reason: str) -> None:
    plan = make_plan(History().regular(), day, tier="A")
    assert plan.urgency == urgency
    assert reason in [r.text for r in plan.decision_reasons]


def test_urgency_bands_follow_the_policy() -> None:
    policy = Policy(urgency_high_cycles=1, urgency_medium_cycles=2)
    assert make_plan(History().regular(), 240, policy, tier="A").urgency == "high"
    assert make_plan(History().regular(), 241, policy, tier="A").urgency == "medium"
    assert make_plan(History().regular(), 271, policy, tier="A").urgency == "low"


@pytest.mark.parametrize(("day", "urgency"), [(155, "high"), (156, "medium")])
def test_urgency_within_days_of_the_problem(day: float, urgency: str) -> None:
    # a complaint at day 125, not lapsed yet (the at-risk line is day 165)
    plan = make_plan(History().regular().complaint(125), day, tier="B")
    assert plan.decision == "retain"
    assert plan.urgency == urgency


def test_a_fresh_problem_makes_an_old_loss_urgent() -> None:
    history = History().regular().contact(480, "reached", reason="competitor_price")
    plan = make_plan(history, 500, tier="A")
    assert plan.urgency == "high"
    assert "urgency high: latest problem 20 days ago ≤ urgency_high_days 30" in (
        r.text for r in plan.decision_reasons
    )


def test_lapsed_at_risk_client_counts_from_the_lapse() -> None:
    # lapsed at day 165 (1.5 cycles); 2 cycles later is day 225, but it is lost at 210
    plan = make_plan(History().regular(), 200, tier="B")
    assert plan.status == "at_risk"
    assert plan.urgency == "high"
    assert "urgency high: lapsed 35 days ago, 1.2 cycles ≤ urgency_high_cycles 2" in (
        r.text for r in plan.decision_reasons
    )
