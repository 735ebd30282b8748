"""SPEC §4 Status: prospect, active, at_risk, lost (by lapse, by max_lapse_days, by notice),
recovered with its watch; lost_count, last_lost_at, recovered_at."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import TICK, History, around, at, codes, has, signal


def ten_day_buyer() -> History:
    """Orders on days 0, 10, 20: cycle 10, at risk from day 35, lost from day 50."""
    history = History()
    history.orders(0, 10, 20)
    return history


def returned_at_60() -> History:
    """Lost on day 50, back with an order on day 60 (cycle still 10: gaps 10, 10, 40)."""
    history = ten_day_buyer()
    history.order(60)
    return history


# --- prospect, active, at_risk ---------------------------------------------------------------


def test_a_client_without_orders_is_a_prospect() -> None:
    history = History()
    history.request(3)
    history.contact(4, "reached")
    state = history.state(5)
    assert state.status == "prospect"
    assert state.status_since == at(3)
    assert state.orders_count == 0
    assert state.first_order_at is None
    assert state.lifetime_revenue == 0
    assert state.average_order_value is None
    assert state.lost_count == 0
    assert not state.in_watch


def test_a_prospect_stays_a_prospect_forever() -> None:
    history = History()
    history.request(3)
    state = history.state(3000)
    assert state.status == "prospect"
    assert state.next_review_at is None


def test_a_client_whose_only_order_was_cancelled_is_a_prospect() -> None:
    history = History()
    order = history.order(1)
    history.cancel(order, 2)
    assert history.state(3).status == "prospect"


def test_a_client_with_an_order_and_no_signal_is_active() -> None:
    history = History()
    history.order(1, "120.50")
    state = history.state(1)
    assert state.status == "active"
    assert state.status_since == at(1)
    assert state.signals == ()
    assert state.orders_count == 1
    assert state.first_order_at == state.last_order_at == at(1)


def test_a_signal_makes_an_ordering_client_at_risk() -> None:
    history = ten_day_buyer()
    history.feedback(22, "complaint")
    state = history.state(23)
    assert state.status == "at_risk"
    assert state.status_since == at(22)
    assert codes(state) == ["dissatisfied"]


def test_at_risk_since_the_earliest_signal() -> None:
    history = ten_day_buyer()
    history.feedback(22, "complaint")
    state = history.state(36)
    assert codes(state) == ["lapsed", "dissatisfied"]
    assert state.status_since == at(22)


# --- lost ------------------------------------------------------------------------------------


def test_lost_at_lost_cycles_times_the_cycle() -> None:
    history = ten_day_buyer()
    day_before, instant_before, moment, day_after = around(at(50))
    assert history.state(day_before).status == "at_risk"
    assert history.state(instant_before).status == "at_risk"
    assert history.state(instant_before).lost_count == 0
    for now in (moment, day_after, at(5000)):
        state = history.state(now)
        assert state.status == "lost"
        assert state.status_since == at(50)
        assert state.lost_count == 1
        assert state.last_lost_at == at(50)
        assert state.recovered_at is None
        assert not state.in_watch
        assert has(state, "lapsed")  # signals keep their evidence


def test_lost_by_max_lapse_days_for_a_long_cycle() -> None:
    history = History()
    history.orders(0, 200, 400)  # cycle 200: 3 cycles would be 600 days, max_lapse_days 365
    assert history.state(at(700) - TICK).status == "active"
    assert history.state(700).status == "at_risk"  # 1.5 cycles
    day_before, instant_before, moment, day_after = around(at(765))
    assert history.state(day_before).status == "at_risk"
    assert history.state(instant_before).status == "at_risk"
    assert history.state(moment).status == "lost"
    assert history.state(moment).last_lost_at == at(765)
    assert history.state(day_after).status == "lost"


def test_max_lapse_days_can_come_before_the_at_risk_point() -> None:
    history = History()
    history.orders(0, 300, 600)  # cycle 300: at risk at 1050, but lost at 600 + 365
    state = history.state(965)
    assert state.status == "lost"
    assert codes(state) == []


def test_lost_by_a_churn_notice_after_the_last_order() -> None:
    history = ten_day_buyer()
    history.churned(25, reason_code="budget_cut")
    assert history.state(at(25) - TICK).status == "active"
    state = history.state(25)
    assert state.status == "lost"
    assert state.status_since == at(25)
    assert state.lost_count == 1
    assert state.last_lost_at == at(25)
    assert state.episodes[-1].by_notice
    # the lapse that follows is not a second loss
    later = history.state(60)
    assert later.status == "lost"
    assert later.lost_count == 1
    assert later.last_lost_at == at(25)


def test_a_notice_at_the_moment_of_the_last_order_is_not_after_it() -> None:
    history = ten_day_buyer()
    history.add("client.churned", at(20))
    assert history.state(21).status == "active"
    history.add("client.churned", at(20) + TICK)
    assert history.state(21).status == "lost"


def test_a_churn_notice_before_the_last_order_does_not_make_the_client_lost() -> None:
    history = ten_day_buyer()
    history.churned(15)  # said it was leaving, then ordered on day 20 after all
    state = history.state(21)
    assert state.status != "lost"
    # it was lost from the notice until the order: that order was a return
    assert state.status == "recovered"
    assert state.lost_count == 1
    assert state.last_lost_at == at(15)
    assert state.recovered_at == at(20)


# --- recovered and its watch -----------------------------------------------------------------


def test_a_new_order_by_a_lost_client_is_a_return() -> None:
    history = returned_at_60()
    assert history.state(at(60) - TICK).status == "lost"
    state = history.state(60)
    assert state.status == "recovered"
    assert state.status_since == at(60)
    assert state.recovered_at == at(60)
    assert state.in_watch
    assert state.watch_ends_at == at(240)
    assert state.lost_count == 1
    assert state.last_lost_at == at(50)
    assert state.cycle_days == 10
    assert [(e.lost_at, e.returned_at, e.by_notice) for e in state.episodes] == [
        (at(50), at(60), False)
    ]


def test_a_call_a_visit_or_a_promise_is_not_a_return() -> None:
    history = ten_day_buyer()
    history.contact(55, "reached", direction="inbound")
    history.request(56)
    history.feedback(57, "survey", score=10)
    state = history.state(58)
    assert state.status == "lost"
    assert state.recovered_at is None


def test_the_watch_uses_the_stricter_at_risk_threshold() -> None:
    history = returned_at_60()  # in the watch: lapsed at 60 + 1.0 × 10 = 70, not 75
    day_before, instant_before, moment, day_after = around(at(70))
    assert history.state(day_before).status == "recovered"
    assert history.state(instant_before).status == "recovered"
    state = history.state(moment)
    assert state.status == "at_risk"
    assert state.in_watch
    lapsed = signal(state, "lapsed")
    assert lapsed.since == at(70)
    assert lapsed.detail["threshold_cycles"] == 1.0
    assert history.state(day_after).status == "at_risk"


def test_the_lost_threshold_is_not_stricter_in_the_watch() -> None:
    history = returned_at_60()
    assert history.state(at(90) - TICK).status == "at_risk"
    assert history.state(90).status == "lost"


def test_any_complaint_during_the_watch_is_a_signal() -> None:
    history = returned_at_60()
    for day in range(70, 250, 10):
        history.order(day)
    fb = history.feedback(65, "complaint")
    history.resolve(fb, 66)
    state = history.state(67)
    assert state.status == "at_risk"
    assert state.in_watch
    found = signal(state, "dissatisfied")
    assert found.since == at(65)
    assert found.detail == {"reasons": [f"complaint {fb} during the watch"]}
    assert [(d.feedback_id, d.cause) for d in state.dissatisfaction] == [(fb, "watch_complaint")]
    assert state.open_complaints == 0
    assert history.state(at(240) - TICK).status == "at_risk"
    after = history.state(240)
    assert after.status == "active"
    assert not after.in_watch


def test_a_resolved_complaint_before_the_return_is_not_a_watch_signal() -> None:
    history = returned_at_60()
    fb = history.feedback(55, "complaint")
    history.resolve(fb, 58)
    assert history.state(61).status == "recovered"


def test_an_open_complaint_from_before_the_return_is_still_a_signal() -> None:
    history = returned_at_60()
    fb = history.feedback(55, "complaint")
    state = history.state(61)
    assert state.status == "at_risk"
    assert signal(state, "dissatisfied").detail == {"reasons": [f"complaint {fb} unresolved"]}


def test_the_volume_baseline_restarts_at_the_return() -> None:
    before_loss = ["1000"] * 4
    history = History()
    for k, amount in enumerate(before_loss):
        history.order(10 * k, amount)  # days 0..30, lost on day 60
    # a client that never left would show a drop with this order...
    stayed = History()
    for k, amount in enumerate(before_loss):
        stayed.order(10 * k, amount)
    stayed.order(40, "100")
    assert has(stayed.state(41), "volume_drop")
    # ...but a trial order on return is the start of a new baseline
    history.order(70, "100")
    state = history.state(71)
    assert state.status == "recovered"
    assert not has(state, "volume_drop")
    for day in (80, 90):
        history.order(day, "100")
    history.order(100, "10")  # only three occasions since the return before it
    assert not has(history.state(101), "volume_drop")
    history.order(110, "100")
    history.order(120, "38")  # four since the return: 100, 100, 10, 100 → mean 77.50
    found = signal(history.state(121), "volume_drop")
    assert found.detail["previous_mean"] == "77.50"
    assert found.since == at(120)


def test_recovered_becomes_active_when_the_watch_ends() -> None:
    history = returned_at_60()
    for day in range(70, 250, 10):
        history.order(day)
    day_before, instant_before, moment, day_after = around(at(240))
    for now in (day_before, instant_before):
        state = history.state(now)
        assert state.status == "recovered"
        assert state.in_watch
    for now in (moment, day_after):
        state = history.state(now)
        assert state.status == "active"
        assert not state.in_watch
        assert state.status_since == at(240)
        assert state.recovered_at == at(60)
        assert state.lost_count == 1


def test_after_the_watch_the_normal_at_risk_threshold_applies() -> None:
    history = returned_at_60()
    for day in range(70, 250, 10):
        history.order(day)  # last order day 240
    assert history.state(at(255) - TICK).status == "active"
    state = history.state(255)
    assert state.status == "at_risk"
    assert not state.in_watch
    assert signal(state, "lapsed").detail["threshold_cycles"] == 1.5


def test_recovered_with_a_signal_is_at_risk_in_the_watch() -> None:
    history = returned_at_60()
    for day in (61, 62, 63):
        history.contact(day, "bounced")
    state = history.state(64)
    assert state.status == "at_risk"
    assert state.in_watch
    assert state.recovered_at == at(60)
    history.contact(65, "replied")
    state = history.state(66)
    assert state.status == "recovered"
    assert state.status_since == at(60)


def test_a_return_after_a_churn_notice() -> None:
    history = ten_day_buyer()
    history.churned(25, reason_code="competitor_price")
    history.order(30)
    state = history.state(31)
    assert state.status == "recovered"
    assert state.recovered_at == at(30)
    assert [(e.lost_at, e.returned_at, e.by_notice) for e in state.episodes] == [
        (at(25), at(30), True)
    ]


def test_past_losses_use_the_cycle_known_at_the_time() -> None:
    history = History()
    history.orders(0, 5)  # default cycle 90 then: lost only after day 275
    history.orders(100, 105, 110)  # the cycle now is 5 (clamped to 7)
    state = history.state(111)
    assert state.cycle_days == 7
    assert state.lost_count == 0
    assert state.status == "active"


def test_a_client_lost_twice() -> None:
    history = returned_at_60()
    state = history.state(90)  # lost again: day 60 + 3 × 10
    assert state.status == "lost"
    assert state.lost_count == 2
    assert state.last_lost_at == at(90)
    assert state.recovered_at == at(60)
    history.order(100)
    state = history.state(100)
    assert state.status == "recovered"  # its status keeps changing with its orders
    assert state.lost_count == 2
    assert state.last_lost_at == at(90)
    assert state.recovered_at == at(100)
    assert state.watch_ends_at == at(100) + timedelta(days=180)
    assert [(e.lost_at, e.returned_at) for e in state.episodes] == [
        (at(50), at(60)),
        (at(90), at(100)),
    ]


def test_status_at_the_return_from_a_loss_mid_watch() -> None:
    history = returned_at_60()
    history.churned(65)
    state = history.state(66)
    assert state.status == "lost"
    assert not state.in_watch
    assert state.lost_count == 2


@settings(max_examples=120, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=30))
def test_a_past_loss_is_judged_with_what_the_client_had_then(gaps: list[int]) -> None:
    # a return after a loss is an episode exactly when the client, with only the orders it
    # had before that return, was lost at its moment: the cycle and lines of the time, not today's
    days = list(itertools.accumulate(gaps, initial=0))
    history = History()
    for day in days:
        history.order(day)
    returns = {e.returned_at for e in history.state(days[-1] + 1).episodes}
    for k in range(1, len(days)):
        then = History()
        for day in days[:k]:
            then.order(day)
        assert (then.state(days[k]).status == "lost") == (at(days[k]) in returns), days[: k + 1]
