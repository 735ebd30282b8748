"""Steps: the B2B and B2C series, their spacing, and retention touches by signal."""

from __future__ import annotations

import itertools

import pytest

from app.plans.schemas import RecoveryPlan
from app.policy.schemas import Policy

from .builders import History, make_plan

LOST_DAY = 240


def known() -> History:
    return History().regular().contact(215, "reached", reason="competitor_price")


def actions(plan: RecoveryPlan) -> list[str]:
    return [s.action for s in plan.steps]


def touch_days(plan: RecoveryPlan) -> list[int]:
    return [s.day for s in plan.steps if s.channel != "ads"]


def test_b2b_win_back_for_tier_a() -> None:
    plan = make_plan(known(), LOST_DAY, tier="A")
    assert [(s.day, s.channel, s.action) for s in plan.steps] == [
        (0, "call", "miss_you_call"),
        (3, "letter", "director_letter"),
        (10, "meeting", "office_meeting"),
        (24, "event", "event_invitation"),
        (114, "email", "drip_news"),
        (204, "email", "drip_news"),
    ]
    assert plan.steps[0].owner_role == "leadership"
    assert plan.steps[1].owner_role == "leadership"
    assert plan.steps[1].goal.endswith("with the offer and a gift (tier A)")
    assert plan.steps[2].goal == "meet at the client's office (tier A)"


def test_b2b_step_offsets_are_policy_numbers() -> None:
    policy = Policy(b2b_letter_after_days=5, b2b_meeting_after_days=10, b2b_event_after_days=20)
    plan = make_plan(known(), LOST_DAY, policy, tier="A")
    assert [s.day for s in plan.steps][:4] == [0, 5, 15, 35]


def test_b2b_retention_touch_gap_is_a_policy_number() -> None:
    history = History().regular().contact(125).contact(126).contact(127)  # unresponsive
    for gap in (2, 6):
        plan = make_plan(history, 130, Policy(b2b_retention_gap_days=gap), tier="B")
        assert plan.decision == "retain"
        assert [s.day for s in plan.steps] == [0, gap]


def test_company_fault_opens_with_an_apology() -> None:
    history = History().regular().complaint(215, reason="delivery_failure")
    assert make_plan(history, LOST_DAY, tier="B").steps[0].action == "apology_call"


def test_b2b_meeting_for_long_lapses_only() -> None:
    # tier B, lost at 210, cycle 30: meeting_lapse_cycles 4 → from day 330
    assert "office_meeting" not in actions(make_plan(known(), 329, tier="B"))
    plan = make_plan(known(), 330, tier="B")
    meeting = next(s for s in plan.steps if s.action == "office_meeting")
    assert (
        meeting.goal == "meet at the client's office (lost 4.0 cycles ago ≥ meeting_lapse_cycles 4)"
    )
    assert "office_meeting" in actions(
        make_plan(known(), 300, Policy(meeting_lapse_cycles=3), tier="B")
    )


@pytest.mark.parametrize("interval", [30, 90, 120])
def test_drip_no_more_often_than_the_interval(interval: int) -> None:
    plan = make_plan(known(), LOST_DAY, Policy(drip_interval_days=interval), tier="B")
    days = [s.day for s in plan.steps]
    drips = [s for s in plan.steps if s.action == "drip_news"]
    assert len(drips) == 2
    first = plan.steps.index(drips[0])
    for earlier, later in itertools.pairwise(days[first - 1 :]):
        assert later - earlier >= interval
    assert f"at most once every {interval} days (drip_interval_days)" in drips[0].goal


def test_b2c_win_back_series() -> None:
    plan = make_plan(known(), LOST_DAY, tier="B", market="b2c")
    assert [(s.day, s.channel, s.action) for s in plan.steps] == [
        (0, "email", "reminder_email"),
        (5, "email", "picks_email"),
        (10, "email", "promo_code_email"),
        (10, "ads", "retargeting_audience"),
        (15, "sms", "sms_reminder"),
    ]
    assert "b2c_min_touch_gap_days" in plan.steps[0].goal
    assert plan.steps[2].goal.endswith("with a deadline in 30 days")


@pytest.mark.parametrize("gap", [1, 5, 7, 13])
def test_b2c_touches_keep_the_minimum_gap(gap: int) -> None:
    policy = Policy(b2c_min_touch_gap_days=gap)
    unknown = make_plan(History().regular(), LOST_DAY, policy, tier="B", market="b2c")
    unhappy = History().regular()
    unhappy.complaint(125, order_id="o-120", amount_at_issue="100.00")
    unhappy.request_lost(126, "r-1").request_lost(127, "r-2").request_lost(128, "r-3")
    retention = make_plan(unhappy, 170, policy, tier="B", market="b2c")
    assert retention.decision == "retain"
    for plan in (unknown, retention):
        days = touch_days(plan)
        assert days == sorted(days)
        assert all(b - a >= gap for a, b in itertools.pairwise(days)), days
        assert len(days) >= 3


def test_b2c_sms_is_dropped_when_it_would_miss_the_deadline() -> None:
    policy = Policy(b2c_min_touch_gap_days=30, offer_valid_days=30)
    plan = make_plan(known(), LOST_DAY, policy, tier="B", market="b2c")
    assert "sms_reminder" not in actions(plan)


RETENTION_CASES = [
    ("lapsed", History().regular(), 170, ["earned_reminder", "individual_offer"]),
    (
        "dissatisfied",
        History().regular().complaint(125, order_id="o-120", amount_at_issue="100.00"),
        130,
        ["apology_call", "fix_and_confirm", "compensation_credit", "quality_survey"],
    ),
    (
        "requests",
        History()
        .regular()
        .request_lost(125, "r-1")
        .request_lost(126, "r-2")
        .request_lost(127, "r3"),
        130,
        ["individual_offer", "ask_why_declined"],
    ),
    (
        "volume_drop",
        History().regular().order(150, "100.00"),
        160,
        ["share_of_wallet_talk", "price_lock_offer"],
    ),
    (
        "unresponsive",
        History().regular().contact(125).contact(126).contact(127),
        130,
        ["management_contact", "find_decision_maker"],
    ),
]


@pytest.mark.parametrize(("name", "history", "day", "expected"), RETENTION_CASES)
def test_retention_steps_follow_the_signals(
    name: str, history: History, day: float, expected: list[str]
) -> None:
    plan = make_plan(history, day, tier="B")
    assert plan.decision == "retain", name
    assert actions(plan) == expected
    assert [s.day for s in plan.steps] == [2 * n for n in range(len(expected))]


def test_retention_management_contact_is_leadership() -> None:
    plan = make_plan(History().regular().contact(125).contact(126).contact(127), 130, tier="B")
    assert plan.steps[0].owner_role == "leadership"
    b2c = make_plan(
        History().regular().contact(125).contact(126).contact(127), 130, tier="B", market="b2c"
    )
    assert actions(b2c) == ["other_channel_contact"]


def test_retention_with_several_signals_starts_with_the_complaint_and_never_repeats() -> None:
    history = History().regular().complaint(150)
    history.request_lost(151, "r-1").request_lost(152, "r-2").request_lost(153, "r-3")
    plan = make_plan(history, 170, tier="B")  # dissatisfied, requests, lapsed
    assert actions(plan) == [
        "apology_call",
        "fix_and_confirm",
        "quality_survey",
        "individual_offer",
        "ask_why_declined",
        "earned_reminder",
    ]
    assert "(open complaints: fb-9)" in plan.steps[1].goal


def test_no_steps_without_a_plan() -> None:
    assert make_plan(History().regular(), 130, tier="A").steps == []
    assert make_plan(History().regular(), LOST_DAY, tier="C").steps == []
