"""The decision of SPEC §6, branch by branch and in order; `decide` agrees with `plan`."""

from __future__ import annotations

import pytest

from app.plans import DECISION_REASON_CODES, DecisionReason, decide, plan
from app.policy.schemas import Policy

from .builders import POLICY, History, at, make_plan, situation

LOST_DAY = 240  # regular() is lost at day 210: 30 days ago, 1 cycle


def decision(history: History, day: float, policy: Policy = POLICY, **profile: object):
    client, state, facts = situation(history, day, policy, **profile)
    return decide(client, state, facts, policy, at(day))


def lost_twice() -> History:
    # lost at 210, back at 250, lost again at 340
    return History().regular().order(250)


def test_prospect_and_active_need_no_action() -> None:
    prospect = History().add("request.created", 5, {"request_id": "r-1", "channel": "quote"})
    assert decision(prospect, 10, tier="A") == (
        "no_action",
        [DecisionReason(code="prospect", text="prospect: no order yet")],
    )
    assert decision(History().regular(), 130, tier="A") == (
        "no_action",
        [DecisionReason(code="active", text="active: no signal")],
    )


def test_recovered_without_signal_needs_no_action_but_is_watched() -> None:
    result = make_plan(History().regular().order(250), 260, tier="A")
    assert result.status == "recovered"
    assert result.decision == "no_action"
    assert "recovery_watch_days 180" in result.decision_reasons[0].text
    assert result.after_return is not None
    assert result.after_return.model_dump() == {"watch_days": 180, "review_every_days": 30}
    assert result.steps == []
    assert result.offer is None


def test_healthy_clients_are_no_action_even_with_let_go_attributes() -> None:
    # nothing to pursue: the let-go guards only matter when there is something to do
    got, _ = decision(History().regular(), 130, do_not_contact=True, problem_client=True)
    assert got == "no_action"


@pytest.mark.parametrize(
    ("tier", "advocate", "expected", "first_reason"),
    [
        ("A", False, "return_first", "tier A (value 5,000.00)"),
        ("B", False, "should_return", "tier B (value 5,000.00)"),
        ("C", True, "return_if_possible", "tier C with advocate (value 5,000.00)"),
        ("C", False, "let_go", "tier C (value 5,000.00)"),
        (None, False, "let_go", "no tier yet, treated as C (value 5,000.00)"),
        (None, True, "return_if_possible", "no tier yet, treated as C with advocate"),
    ],
)
def test_lost_clients_by_tier(
    tier: str | None, advocate: bool, expected: str, first_reason: str
) -> None:
    got, reasons = decision(History().regular(), LOST_DAY, tier=tier, advocate=advocate)
    assert got == expected
    assert reasons[0].text.startswith(first_reason)
    assert reasons[1].text == "lost 30 days ago: 1.0 cycles of 30 days"


def test_do_not_contact_beats_everything() -> None:
    history = lost_twice().churned(350, "business_closed")
    got, reasons = decision(history, 360, tier="A", do_not_contact=True, problem_client=True)
    assert got == "let_go"
    assert reasons[0].text.startswith("do_not_contact")


def test_lost_twice_is_let_go_even_tier_a() -> None:
    got, reasons = decision(lost_twice(), 360, tier="A", problem_client=True)
    assert got == "let_go"
    assert reasons[0].text.startswith("lost 2 times (max_losses 2)")


def test_max_losses_boundary_comes_from_policy() -> None:
    assert decision(History().regular(), LOST_DAY, tier="A")[0] == "return_first"
    strict = Policy(max_losses=1)
    got, reasons = decision(History().regular(), LOST_DAY, strict, tier="A")
    assert got == "let_go"
    assert reasons[0].text.startswith("lost 1 times (max_losses 1)")
    assert decision(lost_twice(), 360, Policy(max_losses=3), tier="A")[0] == "return_first"


@pytest.mark.parametrize("code", ["business_closed", "need_changed"])
def test_terminal_diagnosis_is_let_go(code: str) -> None:
    history = History().regular().contact(215, "reached", reason=code)
    got, reasons = decision(history, LOST_DAY, tier="A", problem_client=True)
    assert got == "let_go"
    assert reasons[0].text == f"diagnosis {code}: there is nothing to win back"


def test_terminal_reason_before_the_last_order_is_superseded() -> None:
    history = History().regular().contact(100, "reached", reason="need_changed")
    assert decision(history, LOST_DAY, tier="A")[0] == "return_first"


def test_problem_client_is_let_go_after_the_other_guards() -> None:
    got, reasons = decision(History().regular(), LOST_DAY, tier="A", problem_client=True)
    assert got == "let_go"
    assert reasons[0].text == "problem client: costs more than it brings"


def test_at_risk_is_retained_whatever_the_tier() -> None:
    for tier in ("A", "B", "C", None):
        got, reasons = decision(History().regular(), 170, tier=tier)
        assert got == "retain"
        assert [r.text for r in reasons] == ["at risk: signals lapsed"]


@pytest.mark.parametrize(
    ("flags", "day", "reason_start"),
    [
        ({"do_not_contact": True}, 170, "do_not_contact"),
        ({"problem_client": True}, 170, "problem client"),
    ],
)
def test_let_go_guards_apply_to_at_risk_clients(
    flags: dict[str, bool], day: float, reason_start: str
) -> None:
    got, reasons = decision(History().regular(), day, tier="A", **flags)
    assert got == "let_go"
    assert reasons[0].text.startswith(reason_start)
    assert reasons[1].text == "at risk: signals lapsed"


def test_at_risk_after_two_losses_is_let_go() -> None:
    # lost twice, back again at 400: in its watch, lapsed (1 cycle) by day 431
    history = lost_twice().order(400)
    client, state, facts = situation(history, 431, tier="A")
    assert state.status == "at_risk"
    assert state.lost_count == 2
    assert decide(client, state, facts, POLICY, at(431))[0] == "let_go"


def test_recovered_client_with_a_signal_is_retained_and_watched() -> None:
    # back at 250; in the watch the at-risk line is recovered_at_risk_cycles (1.0) = day 280
    result = make_plan(History().regular().order(250), 281, tier="B")
    assert result.status == "at_risk"
    assert result.decision == "retain"
    watch = f"in the watch until {at(250 + 180).date().isoformat()}"
    assert watch in result.decision_reasons[0].text
    assert result.after_return is not None


def test_retention_of_a_client_not_in_watch_has_no_after_return() -> None:
    result = make_plan(History().regular(), 170, tier="B")
    assert result.decision == "retain"
    assert result.after_return is None


@pytest.mark.parametrize(
    ("day", "profile"),
    [
        (130, {"tier": "A"}),
        (170, {"tier": "C"}),
        (LOST_DAY, {"tier": "A"}),
        (LOST_DAY, {"tier": "C", "advocate": True}),
        (LOST_DAY, {"tier": "C"}),
        (LOST_DAY, {"tier": "B", "do_not_contact": True}),
    ],
)
def test_plan_carries_the_stored_decision_and_its_reasons(day: float, profile: dict) -> None:
    client, state, facts = situation(History().regular(), day, **profile)
    decided, reasons = decide(client, state, facts, POLICY, at(day))
    full = plan(client, state, facts, POLICY, at(day))
    assert full.decision == decided
    assert full.decision_reasons[: len(reasons)] == reasons


def test_let_go_plan_has_no_steps_no_offer_no_after_return() -> None:
    result = make_plan(History().regular(), LOST_DAY, tier="C")
    assert result.decision == "let_go"
    assert result.steps == []
    assert result.offer is None
    assert result.after_return is None
    assert result.urgency == "low"
    # the economics behind "not worth it" are still shown
    assert any(r.text.startswith("expected value") for r in result.decision_reasons)


def prospect() -> History:
    return History().add("request.created", 5, {"request_id": "r-1", "channel": "quote"})


# (history, day, profile, decision, the codes of decide's reasons): every path of the decision
DECISION_PATHS = [
    (prospect(), 10, {"tier": "A"}, "no_action", ["prospect"]),
    (History().regular(), 130, {"tier": "A"}, "no_action", ["active"]),
    (History().regular().order(250), 260, {"tier": "A"}, "no_action", ["recovered_watch"]),
    (History().regular(), 170, {"tier": "C"}, "retain", ["signals"]),
    (
        History().regular(),
        LOST_DAY,
        {"tier": "A", "do_not_contact": True},
        "let_go",
        ["do_not_contact", "lapse"],
    ),
    (
        History().regular(),
        170,
        {"tier": "A", "do_not_contact": True},
        "let_go",
        ["do_not_contact", "signals"],
    ),
    (lost_twice(), 360, {"tier": "A"}, "let_go", ["max_losses", "lapse"]),
    (
        History().regular().contact(215, "reached", reason="business_closed"),
        LOST_DAY,
        {"tier": "A"},
        "let_go",
        ["nothing_to_win_back", "lapse"],
    ),
    (
        History().regular(),
        LOST_DAY,
        {"tier": "A", "problem_client": True},
        "let_go",
        ["problem_client", "lapse"],
    ),
    (History().regular(), LOST_DAY, {"tier": "A"}, "return_first", ["tier_a", "lapse"]),
    (History().regular(), LOST_DAY, {"tier": "B"}, "should_return", ["tier_b", "lapse"]),
    (
        History().regular(),
        LOST_DAY,
        {"tier": "C", "advocate": True},
        "return_if_possible",
        ["advocate", "lapse"],
    ),
    (
        History().regular(),
        LOST_DAY,
        {"tier": None, "advocate": True},
        "return_if_possible",
        ["advocate", "lapse"],
    ),
    (History().regular(), LOST_DAY, {"tier": "C"}, "let_go", ["tier_c", "lapse"]),
    (History().regular(), LOST_DAY, {"tier": None}, "let_go", ["tier_c", "lapse"]),
]
ECONOMICS = ["p_return", "margin_rate", "expected_value", "max_spend"]


@pytest.mark.parametrize(("history", "day", "profile", "decided", "codes"), DECISION_PATHS)
def test_each_decision_path_gives_its_reason_codes(
    history: History, day: float, profile: dict, decided: str, codes: list[str]
) -> None:
    got, reasons = decision(history, day, **profile)
    assert got == decided
    assert [r.code for r in reasons] == codes


@pytest.mark.parametrize(("history", "day", "profile", "decided", "codes"), DECISION_PATHS)
def test_plan_reasons_add_urgency_when_acting_and_economics_unless_no_action(
    history: History, day: float, profile: dict, decided: str, codes: list[str]
) -> None:
    full = make_plan(history, day, **profile)
    expected = list(codes)
    if decided not in ("no_action", "let_go"):
        expected.append("urgency")
    if decided != "no_action":
        expected.extend(ECONOMICS)
    assert [r.code for r in full.decision_reasons] == expected


def test_the_reason_codes_are_a_closed_set_and_every_one_is_used() -> None:
    used = {code for *_, codes in DECISION_PATHS for code in codes}
    assert used | {"urgency", *ECONOMICS} == set(DECISION_REASON_CODES)
