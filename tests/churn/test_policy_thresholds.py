"""SPEC §10: every policy number the engine uses moves its threshold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from app.churn.engine import ClientState
from app.policy.schemas import Policy

from .helpers import TICK, History, at, has


def flips_at(
    history: History, policy: Policy, moment: datetime, check: Callable[[ClientState], bool]
) -> None:
    """`check` is false the day and the instant before `moment`, true at it and the day after."""
    assert not check(history.state(moment - timedelta(days=1), policy))
    assert not check(history.state(moment - TICK, policy))
    assert check(history.state(moment, policy))
    assert check(history.state(moment + timedelta(days=1), policy))


def ten_day_buyer() -> History:
    history = History()
    history.orders(0, 10, 20)
    return history


def is_lapsed(state: ClientState) -> bool:
    return has(state, "lapsed")


def is_lost(state: ClientState) -> bool:
    return state.status == "lost"


@pytest.mark.parametrize("cycles", [1.0, 1.2, 1.5, 2.0, 2.9])
def test_at_risk_cycles(cycles: float) -> None:
    flips_at(ten_day_buyer(), Policy(at_risk_cycles=cycles), at(20 + 10 * cycles), is_lapsed)


@pytest.mark.parametrize("cycles", [2.0, 3.0, 4.5])
def test_lost_cycles(cycles: float) -> None:
    flips_at(ten_day_buyer(), Policy(lost_cycles=cycles), at(20 + 10 * cycles), is_lost)


@pytest.mark.parametrize("max_lapse", [20, 25, 29])
def test_max_lapse_days_below_lost_cycles(max_lapse: float) -> None:
    flips_at(ten_day_buyer(), Policy(max_lapse_days=max_lapse), at(20 + max_lapse), is_lost)


def test_max_lapse_days_above_lost_cycles_changes_nothing() -> None:
    flips_at(ten_day_buyer(), Policy(max_lapse_days=31), at(50), is_lost)


@pytest.mark.parametrize("default", [30, 60, 120])
def test_default_cycle_days(default: float) -> None:
    history = History()
    history.order(0)
    policy = Policy(default_cycle_days=default)
    assert history.state(1, policy).cycle_days == default
    flips_at(history, policy, at(1.5 * default), is_lapsed)
    flips_at(history, policy, at(3 * default), is_lost)


@pytest.mark.parametrize(("low", "high", "expected"), [(3, 365, 4), (5, 365, 5), (1, 3, 3)])
def test_min_and_max_cycle_days(low: float, high: float, expected: float) -> None:
    history = History()
    history.orders(0, 4, 8)
    policy = Policy(min_cycle_days=low, max_cycle_days=high, default_cycle_days=min(90, high))
    assert history.state(9, policy).cycle_days == expected
    flips_at(history, policy, at(8 + 1.5 * expected), is_lapsed)


@pytest.mark.parametrize("needed", [1, 2, 4])
def test_unconverted_requests(needed: int) -> None:
    history = ten_day_buyer()
    for k in range(needed):
        history.lose(history.request(21), 22 + k)
    policy = Policy(unconverted_requests=needed)
    flips_at(history, policy, at(21 + needed), lambda s: has(s, "requests_not_converting"))
    assert not has(
        history.state(30, Policy(unconverted_requests=needed + 1)), "requests_not_converting"
    )


@pytest.mark.parametrize("wait", [1, 3.5, 7])
def test_request_conversion_days(wait: float) -> None:
    history = ten_day_buyer()
    for _ in range(3):
        history.request(21)
    policy = Policy(request_conversion_days=wait)
    flips_at(history, policy, at(21 + wait), lambda s: has(s, "requests_not_converting"))


@pytest.mark.parametrize("needed", [1, 2, 5])
def test_unanswered_contacts(needed: int) -> None:
    history = ten_day_buyer()
    for k in range(needed):
        history.contact(21 + k, "no_answer")
    policy = Policy(unanswered_contacts=needed)
    flips_at(history, policy, at(20 + needed), lambda s: has(s, "unresponsive"))
    assert not has(history.state(30, Policy(unanswered_contacts=needed + 1)), "unresponsive")


@pytest.mark.parametrize(
    ("ratio", "last", "dropped"),
    [
        (0.3, "29", True),
        (0.3, "30", False),
        (0.8, "79", True),
        (0.8, "80", False),
        (1.0, "99", True),
    ],
)
def test_volume_drop_ratio(ratio: float, last: str, dropped: bool) -> None:
    history = History()
    for k in range(4):
        history.order(10 * k, "100")
    history.order(40, last)
    assert has(history.state(41, Policy(volume_drop_ratio=ratio)), "volume_drop") is dropped


@pytest.mark.parametrize("window", [1, 2, 6])
def test_volume_window(window: int) -> None:
    history = History()
    for k in range(window):
        history.order(10 * k, "100")
    history.order(10 * window, "10")
    assert has(history.state(10 * window + 1, Policy(volume_window=window)), "volume_drop")
    assert not has(history.state(10 * window + 1, Policy(volume_window=window + 1)), "volume_drop")


def test_volume_window_takes_the_mean_of_exactly_that_many() -> None:
    history = History()
    for k, amount in enumerate(("1000", "100", "100")):
        history.order(10 * k, amount)
    history.order(30, "60")
    # window 3: mean 400, threshold 200; window 2: mean 100, threshold 50 (or 70 at 0.7)
    assert has(history.state(31, Policy(volume_window=3)), "volume_drop")
    assert not has(history.state(31, Policy(volume_window=2)), "volume_drop")
    assert has(history.state(31, Policy(volume_window=2, volume_drop_ratio=0.7)), "volume_drop")


@pytest.mark.parametrize(
    ("low", "score", "dissatisfied"), [(3, 3, True), (3, 4, False), (8, 8, True)]
)
def test_low_score(low: float, score: float, dissatisfied: bool) -> None:
    history = ten_day_buyer()
    history.feedback(21, "survey", score=score)
    assert has(history.state(22, Policy(low_score=low)), "dissatisfied") is dissatisfied


@pytest.mark.parametrize("window", [5, 10, 200])
def test_feedback_window_days(window: float) -> None:
    history = History()
    history.orders(0, 200, 400)  # cycle 200: no lapse for 300 days
    history.feedback(401, "review", score=1)
    policy = Policy(feedback_window_days=window)
    flips_at(history, policy, at(401 + window), lambda s: not has(s, "dissatisfied"))


def returned_at_60() -> History:
    history = ten_day_buyer()
    history.order(60)
    return history


@pytest.mark.parametrize("watch", [15, 30, 90])
def test_recovery_watch_days(watch: float) -> None:
    history = returned_at_60()
    for day in range(65, 200, 5):
        history.order(day)
    policy = Policy(recovery_watch_days=watch)
    flips_at(history, policy, at(60 + watch), lambda s: s.status == "active")
    assert history.state(60, policy).watch_ends_at == at(60 + watch)


def test_no_watch_at_all() -> None:
    state = returned_at_60().state(60, Policy(recovery_watch_days=0))
    assert state.status == "active"
    assert not state.in_watch
    assert state.recovered_at == at(60)
    assert state.lost_count == 1


@pytest.mark.parametrize("cycles", [0.5, 0.8, 1.5])
def test_recovered_at_risk_cycles(cycles: float) -> None:
    policy = Policy(recovered_at_risk_cycles=cycles)
    flips_at(returned_at_60(), policy, at(60 + 10 * cycles), is_lapsed)


def test_max_losses_does_not_stop_the_status_from_changing() -> None:
    history = returned_at_60()  # lost on day 50 and day 90
    history.order(100)
    for policy in (Policy(max_losses=1), Policy(max_losses=2), Policy(max_losses=5)):
        state = history.state(100, policy)
        assert state.status == "recovered"
        assert state.lost_count == 2
