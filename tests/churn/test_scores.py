"""Model scores and churn_risk (app.churn.scores): the same numbers alone or in a batch, equal to
the predictive functions on the client's summary, and a churn_risk that follows its formula."""

import math
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from app.churn.engine import evaluate
from app.churn.scores import NO_SCORES, score_states
from app.policy.schemas import Policy
from app.predictive import (
    clv,
    expected_purchases,
    next_purchase_median,
    p_alive,
    summarize,
)
from app.predictive.bgnbd import CDNOW_PUBLISHED
from app.predictive.gamma_gamma import CDNOW_PUBLISHED as CDNOW_SPEND
from app.predictive.population import ModelFit, PopulationModel, RfmCuts
from tests.churn.helpers import DEFAULT, T0, History, at

FIT = ModelFit(
    purchase=CDNOW_PUBLISHED.in_unit(1.0),
    spend=CDNOW_SPEND,
    n=100,
    log_likelihood=-1.0,
    converged=True,
    iterations=1,
    seconds=0.0,
    fallback_reason=None,
    spend_n=10,
    spend_log_likelihood=-1.0,
    spend_converged=True,
    spend_fallback_reason=None,
    as_of=T0,
    fitted_at=T0,
    id=7,
)
RFM = RfmCuts((10.0, 30.0, 60.0, 120.0), (1.0, 1.0, 2.0, 4.0), (50.0, 100.0, 200.0, 400.0), 50)
MODEL = PopulationModel(fit=FIT, rfm=RFM)


def histories() -> list[History]:
    out = []
    for k, days in enumerate([(0,), (0, 40), (0, 10, 25, 31, 70), (5, 6, 80, 81.5, 200)]):
        history = History()
        for d in days:
            history.order(d, str(50 + 30 * k))
        out.append(history)
    return out


def test_one_client_alone_equals_the_same_client_in_a_batch() -> None:
    now = at(210)
    states = [evaluate(h.facts(), DEFAULT, now) for h in histories()]
    batch = score_states(states, MODEL, DEFAULT, now)
    alone = [score_states([state], MODEL, DEFAULT, now)[0] for state in states]
    assert batch == alone
    assert all(s.model_fit_id == 7 for s in batch)


def test_scores_are_the_models_on_the_summary() -> None:
    history = histories()[2]
    now = at(100, hours=5)
    state = evaluate(history.facts(), DEFAULT, now)
    scores = score_states([state], MODEL, DEFAULT, now)[0]
    orders = [(o.placed_at, o.amount) for o in history.facts().orders.values()]
    summary = summarize(orders, now)
    assert summary is not None
    params = FIT.purchase
    x, t_x, T = summary.x, summary.t_x, summary.T
    assert (x, t_x, T) == (4, 70.0, 100.0)  # days 10, 25, 31, 70 after day 0; cutoff day 100
    assert scores.p_alive == pytest.approx(float(p_alive(params, x, t_x, T)), rel=1e-12)
    assert scores.expected_orders_90d == pytest.approx(
        float(expected_purchases(params, 90.0, x, t_x, T)), rel=1e-12
    )
    value = clv(
        params,
        FIT.spend,
        x,
        t_x,
        T,
        summary.mean_repeat_spend,
        horizon=DEFAULT.clv_horizon_days,
        margin=DEFAULT.margin_rate,
        annual_discount_rate=DEFAULT.clv_discount_rate,
    )
    assert scores.predicted_clv == Decimal(f"{float(value):.2f}")
    wait = float(next_purchase_median(params, x, T))
    assert scores.predicted_next_order_at == now + timedelta(days=wait)
    # 30.2 days since the last order, above the 30-day cut: R 3; 5 purchase days: F 5;
    # value 550: M 5
    assert scores.rfm == "355"
    gaps = np.array([10, 15, 6, 39], dtype=float)
    assert 0.5 < gaps.std() / gaps.mean() < 1.0
    assert scores.xyz == "Y"


def test_churn_risk_follows_its_formula() -> None:
    history = histories()[1]  # orders on days 0 and 40: a two-time buyer, cycle 90 (default)
    now = at(150)
    state = evaluate(history.facts(), DEFAULT, now)
    scores = score_states([state], MODEL, DEFAULT, now)[0]
    assert scores.p_alive is not None and scores.churn_risk is not None
    lapse = 110.0 / (1.5 * 90.0)
    z = (
        DEFAULT.risk_intercept
        + DEFAULT.risk_alive_weight * math.log((1 - scores.p_alive) / scores.p_alive)
        + DEFAULT.risk_lapse_weight * math.log(lapse)
        + DEFAULT.risk_frequency_weight * math.log(2.0)
    )
    assert scores.churn_risk == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-12)


def test_other_signals_raise_the_risk_and_a_notice_makes_it_one() -> None:
    history = histories()[2]
    now = at(75)
    base = score_states([evaluate(history.facts(), DEFAULT, now)], MODEL, DEFAULT, now)[0]
    history.feedback(74, kind="complaint")
    upset = score_states([evaluate(history.facts(), DEFAULT, now)], MODEL, DEFAULT, now)[0]
    assert upset.churn_risk is not None and base.churn_risk is not None
    assert upset.churn_risk > base.churn_risk
    history.churned(74.5)
    gone = evaluate(history.facts(), DEFAULT, now)
    assert gone.status == "lost"
    assert score_states([gone], MODEL, DEFAULT, now)[0].churn_risk == 1.0


def test_without_a_fit_the_model_scores_are_empty_and_risk_stays() -> None:
    state = evaluate(histories()[1].facts(), DEFAULT, at(100))
    scores = score_states([state], PopulationModel(), DEFAULT, at(100))[0]
    assert scores.p_alive is None and scores.predicted_clv is None and scores.rfm is None
    assert scores.churn_risk is not None and 0 < scores.churn_risk < 1
    assert scores.model_fit_id is None


def test_a_prospect_has_no_scores() -> None:
    history = History()
    history.request(3)
    state = evaluate(history.facts(), DEFAULT, at(10))
    assert score_states([state], MODEL, DEFAULT, at(10)) == [NO_SCORES]


def test_weights_are_policy_numbers() -> None:
    state = evaluate(histories()[1].facts(), DEFAULT, at(150))
    flat = Policy(
        risk_intercept=0.0,
        risk_alive_weight=0.0,
        risk_lapse_weight=0.0,
        risk_frequency_weight=0.0,
        risk_signal_weight=0.0,
    )
    assert score_states([state], MODEL, flat, at(150))[0].churn_risk == 0.5
