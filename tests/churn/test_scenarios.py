"""The issue's scenarios, each told as a timeline evaluated as it stood at each moment."""

from __future__ import annotations

from .helpers import TICK, History, at, codes, signal, weekly_buyer


def test_a_weekly_buyer_who_stops() -> None:
    history = weekly_buyer(weeks=6)  # days 0..35, cycle 7
    state = history.state(35)
    assert (state.status, state.cycle_days, state.cycle_source) == ("active", 7, "own")
    assert state.expected_next_order_at == at(42)
    assert state.next_review_at == at(45.5)  # 1.5 cycles after the last order
    # still active when the next order is merely late
    assert history.state(44).status == "active"
    state = history.state(45.5)
    assert state.status == "at_risk"
    assert codes(state) == ["lapsed"]
    assert state.status_since == at(45.5)
    assert state.next_review_at == at(56)  # 3 cycles
    assert history.state(at(56) - TICK).status == "at_risk"
    state = history.state(56)
    assert state.status == "lost"
    assert state.lost_count == 1
    assert state.last_lost_at == at(56)
    assert state.next_review_at is None
    assert state.value == 600  # a lost client keeps its weight


def test_a_client_with_three_unconverted_requests() -> None:
    history = History()
    history.orders(0, 30, 60)
    first = history.request(62)
    second = history.request(63)
    history.lose(second, 65, reason_code="competitor_price")
    third = history.request(70)
    assert history.state(70).unconverted_requests == 1
    assert history.state(70).next_review_at == at(76)  # the first goes stale
    assert history.state(76).unconverted_requests == 2
    assert history.state(76).status == "active"
    state = history.state(84)  # the third goes stale
    assert state.status == "at_risk"
    found = signal(state, "requests_not_converting")
    assert found.since == at(84)
    assert found.detail == {"count": 3, "request_ids": [second, first, third]}
    history.order(85)  # an order ends it
    state = history.state(85)
    assert state.status == "active"
    assert state.unconverted_requests == 0


def test_three_unanswered_calls_then_a_reply() -> None:
    history = History()
    history.orders(0, 30, 60)
    for day in (70, 72):
        history.contact(day, "no_answer", manager_id="m-7")
    assert history.state(73).status == "active"
    history.contact(74, "no_answer", manager_id="m-7")
    state = history.state(74)
    assert state.status == "at_risk"
    assert signal(state, "unresponsive").since == at(74)
    assert state.unanswered_contacts == 3
    history.contact(76, "replied", channel="email")
    state = history.state(76)
    assert state.status == "active"
    assert state.unanswered_contacts == 0
    assert state.last_response_at == at(76)
    assert state.last_contact_at == at(76)


def test_a_volume_drop_and_its_recovery() -> None:
    history = History()
    for day in (0, 14, 28, 42):
        history.order(day, "500")
    history.order(56, "200")
    state = history.state(57)
    assert state.status == "at_risk"
    assert signal(state, "volume_drop").detail == {
        "last_order_amount": "200",
        "previous_mean": "500.00",
        "ratio": 0.4,
    }
    history.order(70, "450")
    state = history.state(71)
    assert state.status == "active"
    assert codes(state) == []


def test_an_open_complaint_and_its_resolution() -> None:
    history = History()
    order = history.orders(0, 30, 60)[-1]
    complaint = history.feedback(
        62, "complaint", order_id=order, amount_at_issue="100", reason_code="delivery_failure"
    )
    state = history.state(62)
    assert state.status == "at_risk"
    assert state.open_complaints == 1
    assert state.status_since == at(62)
    assert history.state(100).status == "at_risk"
    history.resolve(complaint, 70)
    state = history.state(70)
    assert state.status == "active"
    assert state.open_complaints == 0
    assert codes(state) == []


def test_lost_then_a_new_order_then_recovered_then_active_after_the_watch() -> None:
    history = weekly_buyer(weeks=4)  # days 0..21, cycle 7, lost on day 42
    assert history.state(42).status == "lost"
    history.order(100, "40")  # a small trial order: the return
    state = history.state(100)
    assert state.status == "recovered"
    assert state.in_watch
    assert state.recovered_at == at(100)
    assert state.watch_ends_at == at(280)
    # it keeps buying weekly through the watch
    for day in range(107, 290, 7):
        history.order(day)
    assert history.state(at(280) - TICK).status == "recovered"
    state = history.state(280)
    assert state.status == "active"
    assert not state.in_watch
    assert state.status_since == at(280)
    assert state.lost_count == 1
    assert state.last_lost_at == at(42)


def test_lost_twice() -> None:
    history = weekly_buyer(weeks=4)  # lost on day 42
    history.order(60)  # back
    assert history.state(60).status == "recovered"
    state = history.state(67)  # in the watch: at risk after one cycle
    assert state.status == "at_risk"
    assert state.in_watch
    state = history.state(81)  # 3 cycles after day 60
    assert state.status == "lost"
    assert state.lost_count == 2
    assert state.last_lost_at == at(81)
    assert state.recovered_at == at(60)
