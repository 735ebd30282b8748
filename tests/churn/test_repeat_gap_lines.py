"""One- and two-time buyers get at-risk and lost lines from the population's gaps to the second
(third) purchase (policy repeat_gap_*); everyone else, and a market without enough such clients,
the cycle rule."""

import numpy as np

from app.churn.engine import evaluate, lapse_lines
from app.policy.schemas import Policy
from app.predictive.population import RepeatGaps, gap_quantiles
from tests.churn.helpers import DEFAULT, History, at, codes, signal

# 100 clients' gaps from the first purchase to the second: 1..100 days (0.75 quantile 75.25,
# 0.95 quantile 95.05); from the second to the third: 10, 20, ..., 400 (40 clients)
FIRST = gap_quantiles(np.arange(1, 101, dtype=float))
SECOND = gap_quantiles(np.arange(10, 401, 10, dtype=float))
GAPS = RepeatGaps(FIRST, SECOND)


def test_one_time_buyer_lines_are_the_quantiles() -> None:
    lines = lapse_lines(1, 90.0, DEFAULT, GAPS)
    assert lines.source == "repeat_gap" and lines.gap == "first_to_second"
    assert lines.at_risk_days == FIRST.at(0.75) == 75.25
    assert abs(lines.lost_days - 95.05) < 1e-9
    assert lines.clients == 100


def test_two_time_buyer_uses_the_second_gap_and_three_the_cycle() -> None:
    assert lapse_lines(2, 90.0, DEFAULT, GAPS).gap == "second_to_third"
    three = lapse_lines(3, 30.0, DEFAULT, GAPS)
    assert three.source == "cycle"
    assert (three.at_risk_days, three.lost_days) == (45.0, 90.0)


def test_too_few_clients_fall_back_to_the_cycle_rule() -> None:
    few = Policy(repeat_gap_min_clients=101)
    assert lapse_lines(1, 90.0, few, GAPS).source == "cycle"
    assert lapse_lines(2, 90.0, Policy(repeat_gap_min_clients=41), GAPS).source == "cycle"
    assert lapse_lines(1, 90.0, DEFAULT, None).source == "cycle"


def test_the_lost_line_keeps_max_lapse_days() -> None:
    capped = lapse_lines(2, 90.0, Policy(max_lapse_days=200), GAPS)
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
