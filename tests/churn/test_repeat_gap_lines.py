"""One- and two-time buyers get at-risk and lost lines from the population's gaps to the second
(third) purchase (policy repeat_gap_*); everyone else, and a market without enough such clients,
the cycle rule, which for an irregular buyer is floored by the market's later gaps."""

import itertools
from datetime import UTC, date, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.churn.engine import cycle_for, evaluate, lapse_lines, lost_after
from app.policy.schemas import Policy
from app.predictive.population import RepeatGaps, gap_quantiles
from tests.churn.helpers import DEFAULT, History, at, codes, signal

# 100 clients' gaps from the first purchase to the second: 1..100 days (0.75 quantile 75.25,
# 0.95 quantile 95.05); from the second to the third: 10, 20, ..., 400 (40 clients)
FIRST = gap_quantiles(np.arange(1, 101, dtype=float))
SECOND = gap_quantiles(np.arange(10, 401, 10, dtype=float))
GAPS = RepeatGaps(FIRST, SECOND)
# 200 gaps between later purchases: 1..200 days (0.75 quantile 150.25, 0.95 quantile 190.05)
LATER = gap_quantiles(np.arange(1, 201, dtype=float))
WITH_LATER = RepeatGaps(FIRST, SECOND, LATER)
DAY0 = date(2026, 1, 1)


def days(*offsets: int) -> list[date]:
    """Purchase days at these offsets from DAY0."""
    return [DAY0 + timedelta(days=d) for d in offsets]


def test_one_time_buyer_lines_are_the_quantiles() -> None:
    lines = lapse_lines(days(0), 90.0, DEFAULT, GAPS)
    assert lines.source == "repeat_gap" and lines.gap == "first_to_second"
    assert lines.at_risk_days == FIRST.at(0.75) == 75.25
    assert abs(lines.lost_days - 95.05) < 1e-9
    assert lines.clients == 100


def test_two_time_buyer_uses_the_second_gap_and_three_the_cycle() -> None:
    assert lapse_lines(days(0, 30), 90.0, DEFAULT, GAPS).gap == "second_to_third"
    three = lapse_lines(days(0, 30, 60), 30.0, DEFAULT, GAPS)
    assert three.source == "cycle"
    assert (three.at_risk_days, three.lost_days) == (45.0, 90.0)


def test_too_few_clients_fall_back_to_the_cycle_rule() -> None:
    few = Policy(repeat_gap_min_clients=101)
    assert lapse_lines(days(0), 90.0, few, GAPS).source == "cycle"
    assert lapse_lines(days(0, 30), 90.0, Policy(repeat_gap_min_clients=41), GAPS).source == "cycle"
    assert lapse_lines(days(0), 90.0, DEFAULT, None).source == "cycle"


def test_the_lost_line_keeps_max_lapse_days() -> None:
    capped = lapse_lines(days(0, 30), 90.0, Policy(max_lapse_days=200), GAPS)
    assert capped.lost_days == 200  # the 0.95 quantile, 380.5 days, is past max_lapse_days


def test_a_one_time_buyer_lapses_and_is_lost_on_the_population_lines() -> None:
    history = History()
    history.order(0)
    facts = history.facts()
    assert evaluate(facts, DEFAULT, at(75), repeat_gaps=GAPS).status == "active"
    state = evaluate(facts, DEFAULT, at(76), repeat_gaps=GAPS)
    assert state.status == "at_risk" and codes(state) == ["lapsed"]
    lapsed = signal(state, "lapsed")
    assert lapsed.since == at(75.25)
    assert lapsed.detail == {
        "days_since_last_order": 76.0,
        "cycle_days": 90.0,
        "overdue_ratio": 0.84,
        "threshold_days": 75.2,
        "rule": "repeat_gap",
        "gap": "first_to_second",
        "quantile": 0.75,
        "clients": 100,
        "lost_after_days": 95.0,
    }
    assert state.next_review_at == at(95.05)
    lost = evaluate(facts, DEFAULT, at(96), repeat_gaps=GAPS)
    assert lost.status == "lost" and lost.status_since == at(95.05)
    # without the population: three times the default cycle of 90 days
    assert evaluate(facts, DEFAULT, at(96)).status == "active"


def test_the_quantiles_are_policy_numbers() -> None:
    history = History()
    history.order(0)
    facts = history.facts()
    policy = Policy(repeat_gap_at_risk_quantile=0.5, repeat_gap_lost_quantile=0.99)
    state = evaluate(facts, policy, at(60), repeat_gaps=GAPS)
    assert state.status == "at_risk" and state.lines is not None
    assert state.lines.at_risk_days == FIRST.at(0.5)
    assert evaluate(facts, policy, at(98), repeat_gaps=GAPS).status == "at_risk"


def test_a_past_loss_of_a_one_time_buyer_uses_the_lines_of_then() -> None:
    history = History()
    history.order(0)
    history.order(120)  # back after 120 days: lost at 95.05 on the population's line
    state = evaluate(history.facts(), DEFAULT, at(121), repeat_gaps=GAPS)
    assert state.lost_count == 1
    assert state.last_lost_at == at(95.05)
    assert state.status == "recovered" and state.in_watch


def test_an_irregular_buyer_is_not_lost_before_the_markets_later_gaps() -> None:
    bursty = days(0, 3, 6, 200)  # gaps 3, 3, 194: cycle 3 -> the 7-day minimum, CV 1.4
    lines = lapse_lines(bursty, 7.0, DEFAULT, WITH_LATER)
    assert lines.source == "population_floor" and lines.gap == "later"
    assert lines.at_risk_days == LATER.at(0.75) == 150.25  # not 1.5 x 7 days
    assert abs(lines.lost_days - 190.05) < 1e-9  # not 3 x 7 days
    assert lines.watch_at_risk_days == 7.0  # a recovery watch keeps the stricter cycle line
    assert lines.clients == 200 and lines.gaps_cv is not None and lines.gaps_cv > 0.5


def test_a_regular_buyer_keeps_its_own_cycle() -> None:
    weekly = days(0, 7, 14, 21, 28)  # CV 0: an X buyer
    lines = lapse_lines(weekly, 7.0, DEFAULT, WITH_LATER)
    assert lines.source == "cycle" and (lines.at_risk_days, lines.lost_days) == (10.5, 21.0)


def test_the_floor_is_a_policy_switch_and_needs_enough_gaps() -> None:
    bursty = days(0, 3, 6, 200)
    off = Policy(repeat_gap_floor_irregular=False)
    assert lapse_lines(bursty, 7.0, off, WITH_LATER).source == "cycle"
    assert lapse_lines(bursty, 7.0, Policy(repeat_gap_min_clients=201), WITH_LATER).source == (
        "cycle"
    )
    assert lapse_lines(bursty, 7.0, DEFAULT, GAPS).source == "cycle"  # no later gaps known
    # the floor only raises: a cycle whose lines are already later keeps them
    slow = days(0, 200, 600, 800)  # CV 0.35 < 0.5 ... and a cycle of 200 days
    assert lapse_lines(slow, 200.0, DEFAULT, WITH_LATER).source == "cycle"
    slow_irregular = days(0, 200, 700, 900)  # CV 0.52, lines 300 and 365 days: later already
    assert lapse_lines(slow_irregular, 200.0, DEFAULT, WITH_LATER).source == "cycle"


def test_an_irregular_buyer_lapses_on_the_floor_and_says_so() -> None:
    history = History()
    for day in (0, 2, 30, 31):  # gaps 2, 28, 1: a cycle of 2 -> 7 days, CV 1.2
        history.order(day)
    facts = history.facts()
    assert evaluate(facts, DEFAULT, at(31 + 150), repeat_gaps=WITH_LATER).status == "active"
    state = evaluate(facts, DEFAULT, at(31 + 151), repeat_gaps=WITH_LATER)
    assert state.status == "at_risk"
    lapsed = signal(state, "lapsed")
    assert lapsed.since == at(31 + 150.25)
    assert lapsed.detail["rule"] == "population_floor"
    assert lapsed.detail["threshold_days"] == 150.2
    assert lapsed.detail["cycle_threshold_days"] == 10.5
    assert lapsed.detail["clients"] == 200 and lapsed.detail["lost_after_days"] == 190.0
    lost = evaluate(facts, DEFAULT, at(31 + 191), repeat_gaps=WITH_LATER)
    assert lost.status == "lost" and lost.status_since == at(31 + 190.05)
    # without the floor: lost three cycles (21 days) after the last order
    off = Policy(repeat_gap_floor_irregular=False)
    assert evaluate(facts, off, at(31 + 22), repeat_gaps=WITH_LATER).status == "lost"


def past_losses_by_definition(
    purchase_days: list[date], policy: Policy, repeat_gaps: RepeatGaps | None
) -> list[datetime]:
    """When the client was lost in each gap between its purchase days (orders at midnight): the
    lost line drawn with the history and cycle known at the time, at every gap."""
    lost = []
    for k in range(1, len(purchase_days)):
        before = purchase_days[:k]
        cycle, _ = cycle_for(before, policy, None)
        lines = lapse_lines(before, cycle, policy, repeat_gaps)
        last = datetime.combine(before[-1], datetime.min.time(), UTC)
        if lost_after(last, lines) <= datetime.combine(purchase_days[k], datetime.min.time(), UTC):
            lost.append(lost_after(last, lines))
    return lost


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12),
    floor=st.booleans(),
    cycles=st.sampled_from([(1.5, 3.0), (1.2, 1.5), (2.0, 6.0)]),
)
def test_past_losses_are_the_lines_drawn_at_every_gap(
    gaps: list[int], floor: bool, cycles: tuple[float, float]
) -> None:
    """The engine skips drawing a gap's lines where the cycle's own lost line is not crossed (a
    floor only raises it): the past losses are those of the lines drawn at every gap, with and
    without the population floor, for bursty and regular histories alike."""
    policy = Policy(
        at_risk_cycles=cycles[0], lost_cycles=cycles[1], repeat_gap_floor_irregular=floor
    )
    offsets = list(itertools.accumulate(gaps, initial=0))
    history = History()
    for offset in offsets:
        history.order(offset)
    state = evaluate(history.facts(), policy, at(offsets[-1] + 1), repeat_gaps=WITH_LATER)
    purchase_days = [at(offset).date() for offset in offsets]
    past = [e.lost_at for e in state.episodes if e.returned_at is not None]
    assert past == past_losses_by_definition(purchase_days, policy, WITH_LATER)
