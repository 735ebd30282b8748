"""SPEC §4 Signals: the five signals at their policy thresholds, with `since` and `detail`."""

from __future__ import annotations

import pytest

from app.churn.engine import Dissatisfaction
from app.policy.schemas import Policy

from .helpers import TICK, History, around, at, codes, has, signal


def monthly() -> History:
    """Orders on days 0, 30, 60: cycle 30, lapsed from day 105, lost from day 150."""
    history = History()
    history.orders(0, 30, 60)
    return history


# --- 1. lapsed -------------------------------------------------------------------------------


def test_lapsed_at_at_risk_cycles_times_the_cycle() -> None:
    history = History()
    history.orders(0, 10, 20)  # cycle 10: lapsed from day 20 + 1.5 × 10 = 35
    day_before, instant_before, moment, day_after = around(at(35))
    assert codes(history.state(day_before)) == []
    assert codes(history.state(instant_before)) == []
    lapsed = signal(history.state(moment), "lapsed")
    assert lapsed.since == at(35)
    assert lapsed.detail == {
        "days_since_last_order": 15.0,
        "cycle_days": 10.0,
        "overdue_ratio": 1.5,
        "threshold_cycles": 1.5,
    }
    later = signal(history.state(day_after), "lapsed")
    assert later.since == at(35)
    assert later.detail["days_since_last_order"] == 16.0
    assert later.detail["overdue_ratio"] == 1.6


def test_lapsed_with_the_default_cycle() -> None:
    history = History()
    history.order(0)  # one order: cycle 90, lapsed from day 135
    assert not has(history.state(at(135) - TICK), "lapsed")
    assert signal(history.state(135), "lapsed").detail["cycle_days"] == 90


def test_a_new_order_clears_lapsed() -> None:
    history = History()
    history.orders(0, 10, 20)
    assert has(history.state(40), "lapsed")
    history.order(41)
    state = history.state(41)
    assert not has(state, "lapsed")
    assert state.status == "active"


def test_a_cancelled_order_does_not_reset_the_lapse() -> None:
    history = History()
    history.orders(0, 10, 20)
    late = history.order(34)
    assert not has(history.state(36), "lapsed")
    history.cancel(late, 36)
    assert signal(history.state(36), "lapsed").since == at(35)


# --- 2. requests_not_converting ------------------------------------------------------------


def test_three_lost_requests_since_the_last_order() -> None:
    history = monthly()
    ids = [history.request(61 + k) for k in range(3)]
    for k, rid in enumerate(ids):
        history.lose(rid, 64 + k, reason_code="competitor_price")
    assert not has(history.state(at(66) - TICK), "requests_not_converting")
    assert history.state(at(66) - TICK).unconverted_requests == 2
    state = history.state(66)
    found = signal(state, "requests_not_converting")
    assert found.since == at(66)
    assert found.detail == {"count": 3, "request_ids": ids}
    assert state.unconverted_requests == 3
    assert state.open_requests == 0
    assert state.status == "at_risk"


def test_open_requests_older_than_request_conversion_days() -> None:
    history = monthly()
    ids = [history.request(61 + k) for k in range(3)]  # stale at days 75, 76, 77
    state = history.state(70)
    assert state.open_requests == 3
    assert state.unconverted_requests == 0
    assert history.state(75).unconverted_requests == 1
    day_before, instant_before, moment, day_after = around(at(77))
    assert not has(history.state(day_before), "requests_not_converting")
    assert not has(history.state(instant_before), "requests_not_converting")
    found = signal(history.state(moment), "requests_not_converting")
    assert found.since == at(77)
    assert found.detail == {"count": 3, "request_ids": ids}
    assert signal(history.state(day_after), "requests_not_converting").since == at(77)


def test_lost_and_stale_requests_add_up() -> None:
    history = monthly()
    a, b, c = (history.request(day) for day in (61, 62, 63))
    history.lose(a, 62)
    history.lose(b, 63)
    assert not has(history.state(at(77) - TICK), "requests_not_converting")
    found = signal(history.state(77), "requests_not_converting")
    assert found.since == at(77)
    assert found.detail["request_ids"] == [a, b, c]


def test_converted_requests_do_not_count() -> None:
    history = monthly()
    a, b, c = (history.request(day) for day in (61, 62, 63))
    history.lose(a, 62)
    history.lose(b, 63)
    history.convert(c, 64)  # converted, its order not (yet) posted
    state = history.state(100)
    assert not has(state, "requests_not_converting")
    assert state.unconverted_requests == 2
    assert state.open_requests == 0


def test_requests_before_the_last_order_do_not_count() -> None:
    history = monthly()
    for day in (40, 41, 42, 43):
        history.lose(history.request(day), day + 1)
    history.request(59)  # open, but asked before the last order
    state = history.state(90)
    assert not has(state, "requests_not_converting")
    assert state.unconverted_requests == 0
    assert state.open_requests == 0


def test_a_request_at_the_moment_of_the_last_order_is_not_after_it() -> None:
    history = monthly()
    for hours in (0, 1, 2):
        history.add("request.created", at(60, hours), request_id=f"rq-{hours}", channel="quote")
    state = history.state(90)
    assert state.unconverted_requests == 2
    assert not has(state, "requests_not_converting")


def test_a_new_order_clears_requests_not_converting() -> None:
    history = monthly()
    for day in (61, 62, 63):
        history.lose(history.request(day), day)
    assert has(history.state(70), "requests_not_converting")
    history.order(71)
    state = history.state(71)
    assert not has(state, "requests_not_converting")
    assert state.unconverted_requests == 0


def test_a_lost_request_without_its_creation_counts_from_its_loss() -> None:
    history = monthly()
    for day in (61, 62, 63):
        history.lose(f"rq-unseen-{day}", day)
    assert signal(history.state(64), "requests_not_converting").since == at(63)


def test_a_request_stale_before_it_was_lost_counts_from_when_it_went_stale() -> None:
    history = monthly()
    ids = [history.request(day) for day in (61, 62, 63)]  # stale at 75, 76, 77
    history.lose(ids[2], 90)  # declined long after it went stale
    found = signal(history.state(100), "requests_not_converting")
    assert found.since == at(77)
    assert found.detail["count"] == 3


def test_prospects_can_have_requests_not_converting() -> None:
    history = History()
    for day in (1, 2, 3):
        history.lose(history.request(day), day + 1)
    state = history.state(10)
    assert state.status == "prospect"
    assert signal(state, "requests_not_converting").since == at(4)


# --- 3. unresponsive -------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["no_answer", "bounced"])
def test_three_unanswered_outbound_contacts(outcome: str) -> None:
    history = monthly()
    history.contact(61, outcome)
    history.contact(62, outcome)
    state = history.state(62.5)
    assert state.unanswered_contacts == 2
    assert not has(state, "unresponsive")
    history.contact(63, outcome)
    state = history.state(63)
    found = signal(state, "unresponsive")
    assert found.since == at(63)
    assert found.detail == {"unanswered_contacts": 3, "last_response_at": None}
    assert state.unanswered_contacts == 3
    assert state.status == "at_risk"
    assert state.last_contact_at == at(63)


def test_no_answer_and_bounced_mix() -> None:
    history = monthly()
    for day, outcome in ((61, "no_answer"), (62, "bounced"), (63, "no_answer")):
        history.contact(day, outcome)
    assert signal(history.state(64), "unresponsive").since == at(63)


@pytest.mark.parametrize(
    ("direction", "outcome"),
    [
        ("outbound", "replied"),
        ("outbound", "reached"),
        ("inbound", "reached"),
        ("inbound", "replied"),
        ("inbound", "opened"),
        ("inbound", "no_answer"),
    ],
)
def test_a_response_clears_unresponsive(direction: str, outcome: str) -> None:
    history = monthly()
    for day in (61, 62, 63):
        history.contact(day, "no_answer")
    assert has(history.state(64), "unresponsive")
    history.contact(65, outcome, direction=direction, channel="email")
    state = history.state(65)
    assert not has(state, "unresponsive")
    assert state.unanswered_contacts == 0
    assert state.last_response_at == at(65)
    assert state.status == "active"
    # the count starts over: three more are needed
    history.contact(66, "no_answer")
    history.contact(67, "bounced")
    assert not has(history.state(67), "unresponsive")
    history.contact(68, "no_answer")
    found = signal(history.state(68), "unresponsive")
    assert found.since == at(68)
    assert found.detail == {"unanswered_contacts": 3, "last_response_at": at(65).isoformat()}


@pytest.mark.parametrize("outcome", ["opened", "declined"])
def test_opened_and_declined_neither_break_nor_extend_the_streak(outcome: str) -> None:
    history = monthly()
    history.contact(61, "no_answer")
    history.contact(62, outcome)
    history.contact(63, "no_answer")
    state = history.state(63.5)
    assert state.unanswered_contacts == 2
    assert not has(state, "unresponsive")
    history.contact(64, "no_answer")
    assert signal(history.state(64), "unresponsive").since == at(64)


def test_a_reply_dated_before_the_unanswered_calls_does_not_clear_them() -> None:
    history = monthly()
    for day in (61, 62, 63):
        history.contact(day, "no_answer")
    history.contact(60.5, "replied")  # posted late, but it happened first
    state = history.state(64)
    assert signal(state, "unresponsive").since == at(63)
    assert state.last_response_at == at(60.5)


def test_a_new_order_does_not_clear_unresponsive() -> None:
    history = monthly()
    for day in (61, 62, 63):
        history.contact(day, "no_answer")
    history.order(64)
    assert has(history.state(64), "unresponsive")


# --- 4. volume_drop --------------------------------------------------------------------------


def steady(*amounts: str) -> History:
    """Orders every 10 days (from day 0) with the given amounts."""
    history = History()
    for k, amount in enumerate(amounts):
        history.order(10 * k, amount)
    return history


def test_volume_drop_below_the_ratio_of_the_previous_window() -> None:
    history = steady("100", "100", "100", "100", "49")
    state = history.state(41)
    found = signal(state, "volume_drop")
    assert found.since == at(40)
    assert found.detail == {"last_order_amount": "49", "previous_mean": "100.00", "ratio": 0.49}
    assert state.status == "at_risk"


@pytest.mark.parametrize(
    ("last", "dropped"),
    [("49.99", True), ("50", False), ("50.00", False), ("50.01", False), ("0", True)],
)
def test_volume_drop_boundary(last: str, dropped: bool) -> None:
    history = steady("80", "120", "100", "100", last)  # mean 100, threshold 50
    assert has(history.state(41), "volume_drop") is dropped


def test_volume_drop_needs_volume_window_previous_orders() -> None:
    assert not has(steady("100", "100", "100", "1").state(31), "volume_drop")
    assert has(steady("100", "100", "100", "100", "1").state(41), "volume_drop")


def test_volume_drop_uses_only_the_last_window() -> None:
    # the first order is outside the window of four: mean of 100, 100, 100, 100
    history = steady("10000", "100", "100", "100", "100", "49")
    assert signal(history.state(51), "volume_drop").detail["previous_mean"] == "100.00"


def test_volume_drop_clears_when_a_later_order_is_back_above_the_ratio() -> None:
    history = steady("100", "100", "100", "100", "40")
    assert has(history.state(41), "volume_drop")
    history.order(50, "44")  # mean of 100, 100, 100, 40 = 85: threshold 42.5
    state = history.state(51)
    assert not has(state, "volume_drop")
    assert state.status == "active"


def test_volume_drop_persists_while_later_orders_stay_low() -> None:
    history = steady("100", "100", "100", "100", "40")
    history.order(50, "42")  # below 42.5
    found = signal(history.state(51), "volume_drop")
    assert found.detail["last_order_amount"] == "42"
    assert found.detail["previous_mean"] == "85.00"


def test_volume_drop_compares_purchase_occasions() -> None:
    history = steady("100", "100", "100", "100", "30")
    assert has(history.state(41), "volume_drop")
    history.order_at(at(40, 18), "30")  # same day: that occasion is 60
    assert not has(history.state(41), "volume_drop")


def test_volume_drop_uses_net_amounts() -> None:
    history = steady("100", "100", "100", "100")
    last = history.order(40, "100")
    assert not has(history.state(41), "volume_drop")
    history.refund(last, 41, "60")
    assert signal(history.state(42), "volume_drop").detail["last_order_amount"] == "40"
    history.cancel(last, 43)
    assert not has(history.state(44), "volume_drop")


def test_volume_drop_is_not_time_bound() -> None:
    history = steady("100", "100", "100", "100", "10")
    assert has(history.state(45), "volume_drop")
    assert has(history.state(400), "volume_drop")


def test_no_volume_drop_against_a_zero_baseline() -> None:
    assert not has(steady("0", "0", "0", "0", "0").state(41), "volume_drop")


# --- 5. dissatisfied -------------------------------------------------------------------------


def test_an_unresolved_complaint() -> None:
    history = monthly()
    fb = history.feedback(61, "complaint", reason_code="delivery_failure")
    assert not has(history.state(at(61) - TICK), "dissatisfied")
    state = history.state(61)
    found = signal(state, "dissatisfied")
    assert found.since == at(61)
    assert found.detail == {"reasons": [f"complaint {fb} unresolved"]}
    assert state.open_complaints == 1
    assert state.status == "at_risk"
    assert has(history.state(400), "dissatisfied")  # an open complaint never expires


def test_a_resolved_complaint_clears_dissatisfied() -> None:
    history = monthly()
    fb = history.feedback(61, "complaint")
    history.resolve(fb, 70)
    assert has(history.state(at(70) - TICK), "dissatisfied")
    state = history.state(70)
    assert not has(state, "dissatisfied")
    assert state.open_complaints == 0
    assert state.status == "active"


def test_a_resolution_seen_before_its_complaint() -> None:
    history = monthly()
    history.resolve("fb-x", 70)
    history.feedback(61, "complaint", feedback_id="fb-x")
    assert not has(history.state(71), "dissatisfied")


@pytest.mark.parametrize("kind", ["survey", "review"])
@pytest.mark.parametrize(("score", "low"), [(0, True), (6, True), (6.5, False), (7, False)])
def test_a_low_score_within_the_feedback_window(kind: str, score: float, low: bool) -> None:
    history = monthly()
    fb = history.feedback(61, kind, score=score)
    state = history.state(62)
    assert has(state, "dissatisfied") is low
    if low:
        found = signal(state, "dissatisfied")
        assert found.since == at(61)
        assert found.detail == {"reasons": [f"{kind} {fb} scored {score:g}"]}


def test_a_low_score_expires_after_feedback_window_days() -> None:
    history = History()
    history.orders(0, 100, 200)  # cycle 100: no lapse before day 350
    history.feedback(201, "survey", score=3)  # window ends at day 291
    day_before, instant_before, moment, day_after = around(at(291))
    assert has(history.state(day_before), "dissatisfied")
    assert has(history.state(instant_before), "dissatisfied")
    assert not has(history.state(moment), "dissatisfied")
    assert not has(history.state(day_after), "dissatisfied")
    assert history.state(moment).status == "active"


def test_a_survey_without_a_score_or_an_exit_interview_is_not_a_low_score() -> None:
    history = monthly()
    history.feedback(61, "survey")
    history.feedback(62, "exit_interview", score=1)
    assert not has(history.state(63), "dissatisfied")


def test_a_resolved_complaint_outside_a_watch_is_not_a_signal() -> None:
    history = monthly()
    fb = history.feedback(61, "complaint", score=2)
    history.resolve(fb, 62)
    assert not has(history.state(63), "dissatisfied")


def test_several_reasons_are_listed_and_since_is_the_earliest() -> None:
    history = monthly()
    survey = history.feedback(61, "review", score=2)
    complaint = history.feedback(65, "complaint")
    found = signal(history.state(66), "dissatisfied")
    assert found.since == at(61)
    assert found.detail["reasons"] == [
        f"review {survey} scored 2",
        f"complaint {complaint} unresolved",
    ]


def test_dissatisfied_evidence_is_on_the_state_and_the_detail_is_written_from_it() -> None:
    """One rule: the engine lists each feedback item behind `dissatisfied` with its cause; the
    signal's detail (and the planner's evidence) are written from that list."""
    history = monthly()
    review = history.feedback(61, "review", score=2)
    history.feedback(62, "survey", score=9)  # not low
    complaint = history.feedback(65, "complaint")
    fixed = history.feedback(63, "complaint")
    history.resolve(fixed, 64)  # resolved, not in a watch
    state = history.state(66)
    assert state.dissatisfaction == (
        Dissatisfaction(review, "review", at(61), "low_score", 2),
        Dissatisfaction(complaint, "complaint", at(65), "open_complaint"),
    )
    found = signal(state, "dissatisfied")
    assert found.detail["reasons"] == [d.text for d in state.dissatisfaction]
    assert found.since == state.dissatisfaction[0].received_at


def test_dissatisfied_evidence_follows_the_rule_over_time() -> None:
    history = monthly()
    history.feedback(61, "survey", score=3)  # low until day 151
    assert history.state(at(61) - TICK).dissatisfaction == ()
    assert [d.cause for d in history.state(150).dissatisfaction] == ["low_score"]
    assert history.state(151).dissatisfaction == ()
    assert not has(history.state(151), "dissatisfied")
    ahead = history.state(60.5, as_of=False)  # the survey is dated ahead of this clock
    assert ahead.dissatisfaction == ()
    assert ahead.next_review_at == at(61)


def test_dissatisfied_is_independent_of_orders() -> None:
    history = monthly()
    history.feedback(61, "complaint")
    history.order(62)
    assert has(history.state(63), "dissatisfied")


def test_all_five_signals_at_once_in_their_order() -> None:
    history = steady("100", "100", "100", "100", "10")  # cycle 10, last order day 40
    for day in (41, 42, 43):
        history.lose(history.request(day), day)
        history.contact(day, "no_answer")
    history.feedback(44, "complaint")
    state = history.state(56)
    assert codes(state) == [
        "lapsed",
        "requests_not_converting",
        "unresponsive",
        "volume_drop",
        "dissatisfied",
    ]
    assert state.status == "at_risk"
    assert state.status_since == at(40)  # the earliest signal: the volume drop


def test_the_policy_low_score() -> None:
    history = monthly()
    history.feedback(61, "survey", score=8)
    assert not has(history.state(62), "dissatisfied")
    assert has(history.state(62, Policy(low_score=8)), "dissatisfied")
