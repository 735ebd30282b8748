"""POST /v1/backtests and POST /v1/policy/tune over HTTP, on a constructed history with a known
answer: only events up to the cutoff count, a cancelled order in the horizon is no order."""

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import NOW

Headers = dict[str, dict[str, str]]
CUTOFF = NOW - timedelta(days=100)
HORIZON = 90


def at(day: float) -> str:
    """Day 400 is the cutoff (as in tests/churn/test_backtest.py)."""
    return (CUTOFF + timedelta(days=day - 400)).isoformat()


def orders(client_id: str, *days: float) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{client_id}-o{k}",
            "type": "order.placed",
            "occurred_at": at(day),
            "client_id": client_id,
            "data": {"order_id": f"{client_id}-{k}", "amount": "100.00"},
        }
        for k, day in enumerate(days)
    ]


def history() -> list[dict[str, Any]]:
    return [
        *orders("a", *range(300, 400, 10), 420),  # active at the cutoff, orders again
        *orders("b", 100, 110, 120, 430),  # lost; its order in the horizon is cancelled below
        {
            "id": "b-cancel",
            "type": "order.cancelled",
            "occurred_at": at(431),
            "client_id": "b",
            "data": {"order_id": "b-3"},
        },
        *orders("c", 100),  # lost, churned
        *orders("d", 360, 370, 380, 450),  # at risk, orders again
        *orders("e", 120, 470),  # lost, comes back within the horizon
        {
            "id": "f-r",
            "type": "request.created",
            "occurred_at": at(390),
            "client_id": "f",
            "data": {"request_id": "f-1", "channel": "quote"},
        },
        *orders("g", 420),  # a client of after the cutoff: not in the backtest
    ]


async def post(api: AsyncClient, headers: Headers) -> None:
    response = await api.post("/v1/events/batch", json=history(), headers=headers["writer"])
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text


async def test_backtest_known_answer(api: AsyncClient, headers: Headers) -> None:
    await post(api, headers)
    body = {"cutoff": CUTOFF.isoformat(), "horizon_days": HORIZON}
    response = await api.post("/v1/backtests", json=body, headers=headers["admin"])
    assert response.status_code == 200, response.text
    found = response.json()
    assert (found["clients"], found["churned"], found["prospects"]) == (5, 2, 1)
    assert found["auc"]["status"] == pytest.approx(5 / 6, abs=1e-4)
    assert found["auc"]["recency"] == pytest.approx(11 / 12, abs=1e-4)
    assert found["at_risk_and_lost"] == {"clients": 4, "precision": 0.5, "recall": 1.0}
    statuses = {row["status"]: (row["clients"], row["churned"]) for row in found["by_status"]}
    assert statuses["active"] == (1, 0) and statuses["lost"] == (3, 2)
    assert found["model"]["n"] == 5 and found["model"]["fallback_reason"]
    assert found["model"]["as_of"].startswith(CUTOFF.date().isoformat())
    assert sum(d["clients"] for d in found["lift_by_decile"]["churn_risk"]) == 5
    assert found["figures"]["repeat_gaps"]["b2b"]["first_to_second"]["clients"] == 3


async def test_backtest_refuses_a_horizon_not_over_and_needs_admin(
    api: AsyncClient, headers: Headers
) -> None:
    late = {"cutoff": (NOW - timedelta(days=10)).isoformat(), "horizon_days": 30}
    response = await api.post("/v1/backtests", json=late, headers=headers["admin"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "horizon_days"
    future = {"cutoff": (NOW + timedelta(days=1)).isoformat(), "horizon_days": 1}
    assert (
        await api.post("/v1/backtests", json=future, headers=headers["admin"])
    ).status_code == 422
    body = {"cutoff": CUTOFF.isoformat(), "horizon_days": HORIZON}
    assert (
        await api.post("/v1/backtests", json=body, headers=headers["reader"])
    ).status_code == 403
    bad = {"cutoff": CUTOFF.isoformat(), "horizon_days": 0}
    assert (await api.post("/v1/backtests", json=bad, headers=headers["admin"])).status_code == 422


async def test_tune_proposes_and_changes_nothing(api: AsyncClient, headers: Headers) -> None:
    await post(api, headers)
    before = (await api.get("/v1/policy", headers=headers["reader"])).json()
    body = {"cutoff": CUTOFF.isoformat(), "horizon_days": HORIZON}
    response = await api.post("/v1/policy/tune", json=body, headers=headers["admin"])
    assert response.status_code == 200, response.text
    tuned = response.json()
    assert tuned["changed"] is False and tuned["candidates_screened"] > 20
    assert tuned["current"]["at_risk_cycles"] == 1.5
    assert tuned["before"]["auc"]["status"] == pytest.approx(5 / 6, abs=1e-4)
    assert tuned["after"]["auc"]["status"] >= tuned["before"]["auc"]["status"]
    assert set(tuned["proposed"]) <= set(tuned["current"])
    after = (await api.get("/v1/policy", headers=headers["reader"])).json()
    assert after == before
    # the proposal is a valid PATCH body
    patch = await api.patch("/v1/policy", json=tuned["proposed"], headers=headers["admin"])
    assert patch.status_code == 200, patch.text
