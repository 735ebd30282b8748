"""Backtests on a constructed history with a known answer (app.churn.backtest)."""

import pytest

from app.churn.backtest import (
    PastClient,
    backtest,
    fit_risk_weights,
    replace_policy,
    tune_thresholds,
)
from app.policy.schemas import Policy
from tests.churn.helpers import DEFAULT, History, at

CUTOFF = at(400)


def client(client_id: str, churned: bool, *days: float) -> PastClient:
    history = History()
    for day in days:
        history.order(day)
    return PastClient(client_id, "b2b", history.facts(), churned)


def population() -> list[PastClient]:
    prospect = History()
    prospect.request(390)
    return [
        client("a", False, *range(300, 400, 10)),  # every 10 days, last 5 days ago: active
        client("b", True, 100, 110, 120),  # cycle 10, silent 280 days: lost
        client("c", True, 100),  # one order 300 days ago (default cycle 90): lost
        client("d", False, 360, 370, 380),  # cycle 10, silent 20 days: at risk
        client("e", False, 120),  # lost, but it ordered again within the horizon
        PastClient("f", "b2b", prospect.facts(), True),  # never ordered: left out
    ]


def test_known_answer() -> None:
    found, figures, evaluation = backtest(population(), DEFAULT, CUTOFF, CUTOFF)
    assert [c.client_id for c in evaluation.clients] == ["a", "b", "c", "d", "e"]
    assert (found.clients, found.churned, found.prospects) == (5, 2, 1)
    statuses = {row.status: (row.clients, row.churned) for row in found.by_status}
    assert statuses == {"active": (1, 0), "at_risk": (1, 0), "lost": (3, 2), "recovered": (0, 0)}
    # churners b, c rank 4 (lost); the others 1 (a), 3 (d), 4 (e): (1 + 1 + 0.5) * 2 / 6
    assert found.auc["status"] == pytest.approx(5 / 6)
    assert (found.flagged, found.precision, found.recall) == (4, 0.5, 1.0)
    # recency: b 280 and c 300 days against a 5, d 20, e 280 days: (1 + 1 + 0.5 + 3) / 6
    assert found.auc["recency"] == pytest.approx(11 / 12)
    assert found.auc["fixed_90_days"] == pytest.approx(5 / 6)
    assert {"churn_risk", "p_alive", "signals", "expected_orders_90d"} <= set(found.auc)
    assert sum(d.clients for d in found.lift["churn_risk"]) == 5
    # the figures of the cutoff: five clients are too few to estimate a model (the documented
    # default), first-to-second gaps of a, b and d (10 days each), no market cycle (30 needed)
    assert found.fit is not None and found.fit.fallback_reason is not None
    assert found.fit.n == 5 and found.fit.as_of == CUTOFF
    gaps = figures.model.repeat_gaps["b2b"].after_first
    assert gaps is not None and gaps.n == 3 and gaps.at(0.75) == 10.0
    assert figures.market_cycles == {} and figures.market_cycle_clients == {"b2b": 3}
    assert figures.model.rfm is not None and figures.model.rfm.n == 5


def test_events_after_the_cutoff_are_not_in_the_facts_the_caller_folds() -> None:
    # the history of a client is what the caller folded up to the cutoff: a later order would
    # make it active; here it is lost at the cutoff and its order in the horizon is the outcome
    found, _, evaluation = backtest([client("e", False, 120)], DEFAULT, CUTOFF, CUTOFF)
    assert evaluation.states[0].status == "lost" and found.churned == 0


def test_tuning_screens_a_grid_and_proposes_valid_numbers() -> None:
    _, figures, evaluation = backtest(population(), DEFAULT, CUTOFF, CUTOFF)
    current, best, screened = tune_thresholds(evaluation, figures, DEFAULT)
    assert screened > 20
    assert current.status_auc == pytest.approx(5 / 6)  # the screen agrees with the engine
    assert best.status_auc >= current.status_auc
    proposed = replace_policy(DEFAULT, best.changes)
    assert proposed.lost_cycles > proposed.at_risk_cycles
    weights = fit_risk_weights(evaluation, figures, proposed)
    assert set(weights) == {
        "risk_intercept",
        "risk_alive_weight",
        "risk_lapse_weight",
        "risk_frequency_weight",
        "risk_signal_weight",
    }
    assert isinstance(replace_policy(proposed, weights), Policy)
    assert Policy() == DEFAULT  # nothing changed
