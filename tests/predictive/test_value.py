"""CLV over a horizon and one client's scores."""

from datetime import date

import numpy as np
import pytest

from app.predictive import (
    DAYS,
    WEEKS,
    ClientSummary,
    clv,
    expected_purchases,
    expected_spend,
    p_alive,
    score,
    summarize,
)
from app.predictive.bgnbd import CDNOW_PUBLISHED as PURCHASES
from app.predictive.gamma_gamma import CDNOW_PUBLISHED as SPEND

CLIENT = (2, 30.43, 38.86, 22.35)  # x, t_x, T (weeks), mean repeat spend


def test_clv_is_the_discounted_sum_of_each_periods_purchases() -> None:
    x, t_x, T, z = CLIENT
    spend = float(expected_spend(SPEND, x, z))
    terms = {"horizon": 52, "margin": 0.3, "annual_discount_rate": 0.1, "period": 13}
    got = clv(PURCHASES, SPEND, x, t_x, T, z, **terms)
    ends = np.array([13.0, 26.0, 39.0, 52.0])
    cumulative = expected_purchases(PURCHASES, ends, x, t_x, T)
    per_quarter = np.diff(cumulative, prepend=0.0)
    discount = 1.1 ** -(ends * 7 / 365.25)
    assert float(got) == pytest.approx(0.3 * spend * float(np.dot(per_quarter, discount)))


def test_without_discount_clv_is_margin_times_spend_times_expected_purchases() -> None:
    x, t_x, T, z = CLIENT
    got = clv(PURCHASES, SPEND, x, t_x, T, z, horizon=39, margin=1.0, annual_discount_rate=0)
    want = float(expected_spend(SPEND, x, z)) * float(expected_purchases(PURCHASES, 39, x, t_x, T))
    assert float(got) == pytest.approx(want)
    assert float(got) == pytest.approx(1.226 * float(expected_spend(SPEND, x, z)), rel=1e-3)


def test_clv_edges_and_shape() -> None:
    x, t_x, T, z = CLIENT
    common = {"margin": 0.5, "annual_discount_rate": 0.08}
    assert float(clv(PURCHASES, SPEND, x, t_x, T, z, horizon=0, **common)) == 0.0
    short = clv(PURCHASES, SPEND, x, t_x, T, z, horizon=10, **common)
    longer = clv(PURCHASES, SPEND, x, t_x, T, z, horizon=100, **common)
    assert 0 < float(short) < float(longer)
    # a partial last period counts up to the horizon exactly
    months = clv(PURCHASES, SPEND, x, t_x, T, z, horizon=10, period=4, **common)
    assert float(months) == pytest.approx(float(short), rel=0.01)
    xs, t_xs, Ts = np.array([0, 2, 10]), np.array([0.0, 30.43, 38.0]), np.full(3, 38.86)
    many = clv(PURCHASES, SPEND, xs, t_xs, Ts, np.array([0.0, 22.35, 50.0]), horizon=52, **common)
    assert many.shape == (3,) and many[1] == pytest.approx(
        float(clv(PURCHASES, SPEND, x, t_x, T, z, horizon=52, **common))
    )
    higher = clv(PURCHASES, SPEND, x, t_x, T, z, horizon=52, margin=0.5, annual_discount_rate=0.5)
    assert float(higher) < float(many[1])
    with pytest.raises(ValueError):
        clv(PURCHASES, SPEND, x, t_x, T, z, horizon=-1, **common)
    with pytest.raises(ValueError):
        clv(PURCHASES, SPEND, x, t_x, T, z, horizon=1, period=0, **common)
    with pytest.raises(ValueError):
        clv(PURCHASES, SPEND, x, t_x, T, z, horizon=1, margin=0.5, annual_discount_rate=-1)


def test_one_clients_scores_from_its_orders() -> None:
    orders = [(date(1997, 1, 1), 10.0), (date(1997, 1, 18), 20.0), (date(1997, 8, 2), 24.7)]
    summary = summarize(orders, date(1997, 9, 30), unit_days=WEEKS)
    assert summary is not None
    scores = score(PURCHASES, SPEND, summary, horizon=39, margin=0.3, annual_discount_rate=0.1)
    x, t_x, T = summary.x, summary.t_x, summary.T
    assert scores.p_alive == pytest.approx(float(p_alive(PURCHASES, x, t_x, T)))
    assert scores.expected_purchases == pytest.approx(
        float(expected_purchases(PURCHASES, 39, x, t_x, T))
    )
    assert scores.expected_purchases == pytest.approx(1.226, abs=2e-3)
    assert 0 < scores.purchase_probability < scores.p_alive
    assert scores.expected_spend == pytest.approx(float(expected_spend(SPEND, 2, 22.35)))
    assert 0 < scores.clv < 0.3 * scores.expected_spend * scores.expected_purchases
    assert scores.next_purchase_median == pytest.approx((4.414 + T) * (2 ** (1 / 2.243) - 1))


def test_units_must_match() -> None:
    in_days = ClientSummary(2, 213.0, 272.0, 22.35, unit_days=DAYS)
    with pytest.raises(ValueError, match="units"):
        score(PURCHASES, SPEND, in_days, horizon=39, margin=0.3, annual_discount_rate=0.1)
    scores = score(
        PURCHASES.in_unit(DAYS), SPEND, in_days, horizon=273, margin=0.3, annual_discount_rate=0
    )
    weeks = ClientSummary(2, 213 / 7, 272 / 7, 22.35, unit_days=WEEKS)
    same = score(PURCHASES, SPEND, weeks, horizon=39, margin=0.3, annual_discount_rate=0)
    assert scores.expected_purchases == pytest.approx(same.expected_purchases)
    assert scores.next_purchase_median == pytest.approx(same.next_purchase_median * 7)
