"""Diagnosis: recorded reasons win over inferred ones; each inferred kind; verify; human factor."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.plans.diagnosis import diagnose
from app.policy.schemas import Policy

from .builders import POLICY, History, at, make_plan, situation

LOST_DAY = 240


def test_lapse_alone_is_unknown_with_the_numbers() -> None:
    diagnosis = make_plan(History().regular(), LOST_DAY, tier="A").diagnosis
    assert diagnosis.group == "unknown"
    assert diagnosis.source == "none"
    assert diagnosis.reason_codes == []
    assert not diagnosis.verify
    assert diagnosis.evidence[0] == (
        "no order for 120 days: 4.00 cycles of 30 days (at-risk line 1.5 cycles)"
    )


@pytest.mark.parametrize(
    ("history", "code", "where"),
    [
        (
            History().regular().contact(215, "reached", reason="competitor_price"),
            "competitor_price",
            "a contact (exit interview)",
        ),
        (
            History().regular().request_lost(215, "r-1", "competitor_terms"),
            "competitor_terms",
            "lost request r-1",
        ),
        (History().regular().churned(215, "relocation"), "relocation", "the churn notice"),
        (
            History().regular().complaint(215, "fb-2", reason="delivery_failure"),
            "delivery_failure",
            "feedback fb-2",
        ),
    ],
)
def test_each_recorded_source(history: History, code: str, where: str) -> None:
    diagnosis = make_plan(history, LOST_DAY, tier="A").diagnosis
    assert diagnosis.source == "recorded"
    assert diagnosis.reason_codes == [code]
    assert diagnosis.evidence[0] == f"{code} recorded 25 days ago in {where}"


def test_group_comes_from_the_policy_and_the_latest_reason_leads() -> None:
    history = (
        History()
        .regular()
        .contact(212, "reached", reason="competitor_price")
        .contact(220, "reached", reason="budget_cut")
    )
    diagnosis = make_plan(history, LOST_DAY, tier="A").diagnosis
    assert diagnosis.reason_codes == ["budget_cut", "competitor_price"]
    assert diagnosis.group == "external"
    policy = Policy(extra_reason_codes={"warehouse_move": "company"})
    history = History().regular().contact(212, "reached", reason="warehouse_move")
    assert make_plan(history, LOST_DAY, policy, tier="A").diagnosis.group == "company"


def test_recorded_wins_over_inferred() -> None:
    history = History().regular()
    for n in range(3):
        history.request_lost(130 + n, f"r-{n}")
    history.contact(140, "reached", reason="competitor_terms")
    diagnosis = make_plan(history, 160, tier="B").diagnosis
    assert diagnosis.source == "recorded"
    assert diagnosis.reason_codes == ["competitor_terms"]
    assert not diagnosis.verify  # the evidence (requests) agrees: competitor


def test_reason_before_the_last_order_is_superseded_unless_its_complaint_is_open() -> None:
    old = History().regular().contact(100, "reached", reason="competitor_price")
    assert make_plan(old, LOST_DAY, tier="A").diagnosis.source == "none"
    still_open = History().regular().complaint(100, reason="product_quality")
    diagnosis = make_plan(still_open, LOST_DAY, tier="A").diagnosis
    assert diagnosis.source == "recorded"
    assert diagnosis.reason_codes == ["product_quality"]


def test_unresolved_complaint_is_inferred_company() -> None:
    diagnosis = make_plan(History().regular().complaint(188), LOST_DAY, tier="A").diagnosis
    assert (diagnosis.group, diagnosis.source, diagnosis.reason_codes) == (
        "company",
        "inferred",
        [],
    )
    assert "complaint fb-9 unresolved 52 days" in diagnosis.evidence


def test_low_score_is_inferred_company() -> None:
    diagnosis = make_plan(History().regular().survey(125, 4), 130, tier="A").diagnosis
    assert diagnosis.group == "company"
    assert diagnosis.evidence == [
        "survey sv-1 scored 4 of 10 5 days ago (low_score 6, feedback_window_days 90)"
    ]


def test_a_complaint_during_the_recovery_watch_is_evidence() -> None:
    # lost at 210, back at 250: in the watch; a complaint resolved at once still counts
    history = History().regular().order(250).complaint(255).resolve(256)
    diagnosis = make_plan(history, 260, tier="A").diagnosis
    assert diagnosis.group == "company"
    assert diagnosis.evidence == ["complaint fb-9 5 days ago, during the recovery watch"]


def test_the_dissatisfied_evidence_is_the_engines() -> None:
    """One definition of `dissatisfied`: the diagnosis writes out the feedback the engine found
    (`state.dissatisfaction`), in time order, and applies no rule of its own to the feedback."""
    history = History().regular().complaint(124, "fb-1").survey(121, 4, "sv-1")
    history.survey(122, 9, "sv-2").complaint(123, "fb-2").resolve(125, "fb-2")
    client, state, facts = situation(history, 130, tier="A")
    assert [d.feedback_id for d in state.dissatisfaction] == ["sv-1", "fb-1"]
    evidence = diagnose(client, state, facts, POLICY, at(130)).diagnosis.evidence
    assert evidence == [
        "survey sv-1 scored 4 of 10 9 days ago (low_score 6, feedback_window_days 90)",
        "complaint fb-1 unresolved 6 days",
    ]
    only_the_complaint = replace(state, dissatisfaction=state.dissatisfaction[1:])
    evidence = diagnose(client, only_the_complaint, facts, POLICY, at(130)).diagnosis.evidence
    assert evidence == ["complaint fb-1 unresolved 6 days"]


def test_requests_not_converting_is_inferred_competitor_price() -> None:
    history = History().regular()
    for n in range(3):
        history.request_lost(125 + n, f"r-{n}")
    diagnosis = make_plan(history, 130, tier="A").diagnosis
    assert (diagnosis.group, diagnosis.reason_codes) == ("competitor", ["competitor_price"])
    assert diagnosis.evidence == [
        "3 requests since the last order not converted (unconverted_requests 3): r-0, r-1, r-2"
    ]


def test_volume_drop_while_still_ordering_is_inferred_competitor() -> None:
    history = History().regular().order(150, "100.00")
    diagnosis = make_plan(history, 160, tier="A").diagnosis
    assert (diagnosis.group, diagnosis.source) == ("competitor", "inferred")
    assert diagnosis.evidence == [
        "last order 100.00 is 0.1 of the mean 1000.00 of the previous 4 (volume_drop_ratio 0.5)"
    ]


def test_volume_drop_of_a_client_who_stopped_ordering_says_nothing() -> None:
    history = History().regular().order(150, "100.00")
    plan = make_plan(history, 150 + 100, tier="A")  # lost at 240
    assert plan.status == "lost"
    assert plan.diagnosis.group == "unknown"


@pytest.mark.parametrize(
    ("market", "group", "code"),
    [("b2b", "external", "key_contact_left"), ("b2c", "company", "no_contact")],
)
def test_unresponsive_is_inferred_by_market(market: str, group: str, code: str) -> None:
    history = History().regular()
    for day in (125, 127, 129):
        history.contact(day, "no_answer")
    diagnosis = make_plan(history, 130, tier="A", market=market).diagnosis
    assert (diagnosis.group, diagnosis.reason_codes) == (group, [code])
    assert diagnosis.evidence == ["3 outbound contacts unanswered in a row (unanswered_contacts 3)"]


def test_inferred_order_complaint_leads() -> None:
    history = History().regular().complaint(125)
    for n in range(3):
        history.request_lost(125 + n, f"r-{n}")
    diagnosis = make_plan(history, 130, tier="A").diagnosis
    assert diagnosis.group == "company"
    assert diagnosis.reason_codes == []  # only the leading group's codes
    assert any(e.startswith("3 requests since the last order") for e in diagnosis.evidence)


def test_verify_when_the_recorded_reason_disagrees_with_the_evidence() -> None:
    history = History().regular().complaint(188).contact(215, "reached", reason="competitor_price")
    diagnosis = make_plan(history, LOST_DAY, tier="A").diagnosis
    assert diagnosis.source == "recorded"
    assert diagnosis.group == "competitor"
    assert diagnosis.verify
    assert diagnosis.evidence[-1] == (
        "verify: recorded competitor_price (competitor) disagrees with the dissatisfied "
        "evidence (company)"
    )


def test_no_verify_when_the_recorded_reason_fits() -> None:
    history = History().regular().complaint(188).contact(215, "reached", reason="delivery_failure")
    assert not make_plan(history, LOST_DAY, tier="A").diagnosis.verify
    # an unresponsive client who told us its contact left: agrees in either market
    history = History().regular().churned(125, "key_contact_left")
    for day in (126, 127, 128):
        history.contact(day, "no_answer")
    assert not make_plan(history, 130, tier="A", market="b2c").diagnosis.verify


@pytest.mark.parametrize("code", ["manager_conflict", "manager_unavailable", "broken_promise"])
def test_human_factor_reasons(code: str) -> None:
    history = History().regular().contact(215, "reached", reason=code)
    diagnosis = make_plan(history, LOST_DAY, tier="B").diagnosis
    assert diagnosis.human_factor
    assert diagnosis.group == "company"


def test_human_factor_codes_extend_by_policy() -> None:
    policy = Policy(extra_human_factor_codes=["no_contact"])
    history = History().regular().contact(215, "reached", reason="no_contact")
    assert make_plan(history, LOST_DAY, policy, tier="B").diagnosis.human_factor
    assert not make_plan(history, LOST_DAY, tier="B").diagnosis.human_factor


def test_unknown_diagnosis_opens_with_an_exit_interview() -> None:
    b2b = make_plan(History().regular(), LOST_DAY, tier="A")
    assert (b2b.steps[0].action, b2b.steps[0].channel, b2b.steps[0].day) == (
        "exit_interview",
        "call",
        0,
    )
    assert "never worked with" in b2b.steps[0].goal
    b2c = make_plan(History().regular(), LOST_DAY, tier="A", market="b2c")
    assert (b2c.steps[0].action, b2c.steps[0].channel) == ("exit_interview", "email")
    known = make_plan(
        History().regular().contact(215, "reached", reason="competitor_price"), LOST_DAY, tier="A"
    )
    assert known.steps[0].action == "miss_you_call"
