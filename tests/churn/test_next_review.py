"""SPEC §4 Time: next_review_at is the earliest future moment the status or signals change."""

from __future__ import annotations

from datetime import timedelta

from app.churn.engine import evaluate
from app.policy.schemas import Policy

from .helpers import TICK, History, at, fingerprint


def assert_changes_at(history: History, now: float, policy: Policy = Policy()) -> None:
    """Nothing changes before next_review_at, something changes at it."""
    facts = history.facts()
    state = evaluate(facts, policy, at(now))
    review = state.next_review_at
    assert review is not None
    assert fingerprint(evaluate(facts, policy, review - TICK)) == fingerprint(state)
    assert fingerprint(evaluate(facts, policy, review)) != fingerprint(state)


def test_active_then_at_risk_then_lost_then_nothing() -> None:
    history = History()
    history.orders(0, 10, 20)
    assert history.state(20).next_review_at == at(35)
    assert history.state(34).next_review_at == at(35)
    assert_changes_at(history, 20)
    assert history.state(35).next_review_at == at(50)
    assert_changes_at(history, 35)
    assert history.state(50).next_review_at is None
    assert history.state(500).next_review_at is None


def test_a_request_going_stale() -> None:
    history = History()
    history.orders(0, 30, 60)  # lapsed at 105
    for day in (61, 62, 63):
        history.request(day)
    assert history.state(64).next_review_at == at(75)
    assert history.state(75).next_review_at == at(76)
    assert history.state(76).next_review_at == at(77)
    assert_changes_at(history, 76)
    assert history.state(77).next_review_at == at(105)


def test_a_low_score_expiring() -> None:
    history = History()
    history.orders(0, 30, 60)
    history.feedback(61, "survey", score=2)
    policy = Policy(feedback_window_days=30)
    assert history.state(61, policy).next_review_at == at(91)
    assert_changes_at(history, 61, policy)
    assert history.state(91, policy).next_review_at == at(105)
    # with the default window it expires after the lapse
    assert history.state(61).next_review_at == at(105)


def test_the_end_of_the_watch() -> None:
    history = History()
    history.orders(0, 100, 200)  # cycle 100, lost at 500
    history.order(520)  # recovered, watch until 700; in-watch lapse at 620
    history.order(610)
    state = history.state(611)
    assert state.status == "recovered"
    assert state.next_review_at == at(700)  # before the lapse at 710
    assert_changes_at(history, 611)
    assert history.state(700).status == "active"
    assert history.state(700).next_review_at == at(610 + 1.5 * 100)  # gaps 100, 100, 320, 90


def test_the_stricter_lapse_in_the_watch() -> None:
    history = History()
    history.orders(0, 10, 20)
    history.order(60)
    assert history.state(60).next_review_at == at(70)
    assert_changes_at(history, 60)


def test_a_watch_complaint_signal_ends_with_the_watch() -> None:
    history = History()
    history.orders(0, 10, 20)
    for day in range(60, 260, 10):
        history.order(day)
    fb = history.feedback(61, "complaint")
    history.resolve(fb, 62)
    state = history.state(235)
    assert state.status == "at_risk"
    assert state.next_review_at == at(240)
    assert_changes_at(history, 235)


def test_lost_by_lapse_with_nothing_pending_has_no_review() -> None:
    history = History()
    history.orders(0, 10, 20)
    history.contact(21, "no_answer")
    history.feedback(22, "complaint")
    state = history.state(60)
    assert state.status == "lost"
    assert state.next_review_at is None


def test_a_lost_client_is_still_reviewed_for_a_pending_signal_change() -> None:
    history = History()
    history.orders(0, 10, 20)
    history.feedback(45, "survey", score=1)  # expires at day 135
    assert history.state(60).next_review_at == at(135)
    assert_changes_at(history, 60)


def test_lost_by_notice_is_reviewed_for_the_lapse_signal() -> None:
    history = History()
    history.orders(0, 10, 20)
    history.churned(22)
    state = history.state(22)
    assert state.status == "lost"
    assert state.next_review_at == at(35)
    assert_changes_at(history, 22)
    assert history.state(35).next_review_at is None


def test_a_prospect_with_a_pending_request() -> None:
    history = History()
    history.request(1)
    assert history.state(2).next_review_at == at(15)
    assert history.state(15).next_review_at is None


def test_the_review_is_never_in_the_past() -> None:
    history = History()
    history.orders(0, 10, 20)
    for now in (20, 34.999, 35, 49, 50):
        review = history.state(now).next_review_at
        assert review is None or review > at(now)


def test_evaluating_at_next_review_walks_through_every_change() -> None:
    history = History()
    history.orders(0, 10, 20)
    history.order(60)
    for day in (61, 62):
        history.request(day)
    history.feedback(63, "review", score=4)
    facts = history.facts()
    policy = Policy()
    now = at(63)
    seen = []
    for _ in range(20):
        state = evaluate(facts, policy, now)
        seen.append((now, state.status, tuple(state.signal_codes)))
        if state.next_review_at is None:
            break
        now = state.next_review_at
    assert [(t, status) for t, status, _ in seen] == [
        (at(63), "at_risk"),  # the low review
        (at(70), "at_risk"),  # + lapsed in the watch (1 cycle)
        (at(75), "at_risk"),  # request 1 stale
        (at(76), "at_risk"),  # request 2 stale
        (at(90), "lost"),
        (at(153), "lost"),  # the review expires
    ]
    assert seen[-1][2] == ("lapsed",)


def test_a_future_dated_event_is_a_review_moment() -> None:
    # events may be dated up to max_future_skew ahead of the clock
    history = History()
    history.orders(0, 30, 60)
    history.feedback(70, "complaint")
    history.churned(71)
    now = at(70) - timedelta(hours=1)
    state = history.state(now, as_of=False)
    assert state.status == "active"
    assert state.next_review_at == at(70)
    assert_changes_at(history, 70 - 1 / 24)
    assert history.state(at(70), as_of=False).next_review_at == at(71)
    assert history.state(at(71), as_of=False).status == "lost"


def test_a_future_dated_lost_request_is_a_review_moment() -> None:
    history = History()
    history.orders(0, 30, 60)
    history.lose(history.request(65), 70)
    policy = Policy(unconverted_requests=1)
    state = history.state(at(70) - timedelta(hours=1), policy, as_of=False)
    assert state.unconverted_requests == 0
    assert state.next_review_at == at(70)
    assert history.state(at(70), policy, as_of=False).status == "at_risk"


def test_a_request_stale_before_its_future_dated_loss_already_counts() -> None:
    history = History()
    history.orders(0, 30, 60)
    history.lose(history.request(61), 80)  # stale from day 75
    policy = Policy(unconverted_requests=1)
    state = history.state(at(80) - timedelta(hours=1), policy, as_of=False)
    assert state.status == "at_risk"
    assert state.unconverted_requests == 1
    assert state.signals[0].since == at(75)
