"""GET /v1/clients/{id}/recovery-plan over HTTP, the decision filter on lists, and the golden
plans of the README walkthrough (the docs cannot drift from the code)."""

import functools
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.churn.backtest import PastClient, figures_at
from app.demo import DEMO_CLIENTS, DEMO_SEED, evaluate_histories, stories, synthetic
from app.policy.schemas import Policy
from app.population import repository as population_repository
from app.predictive.population import ModelFit
from app.tiers import Thresholds, cut_points_by_ranking
from tests.conftest import NOW, ROOT

GOLDEN = Path(__file__).parent / "golden"
Headers = dict[str, dict[str, str]]


@functools.cache
def demo_figures() -> tuple[dict[str, Thresholds], ModelFit | None]:
    """The tier cut points of `winback demo`'s whole population (stories + the default synthetic
    clients) at NOW, per market as the worker computes them, and the purchase and spend models
    fitted on it as the demo fits them. The pure references are used instead of loading ~30,000
    events per test; tests/worker and tests/backtests pin the SQL to the same references."""
    policy = Policy()
    events = [e for story in stories(NOW).values() for e in story]
    events += synthetic(DEMO_CLIENTS, NOW, seed=DEMO_SEED)
    histories = evaluate_histories(events, policy, NOW).items()
    values = [
        (client.attributes["market"], client.state.value)
        for _, client in histories
        if client.state.orders_count
    ]
    past = [
        PastClient(client_id, client.attributes["market"], client.facts, churned=False)
        for client_id, client in histories
    ]
    fit = figures_at(past, policy, NOW, NOW).model.fit
    return cut_points_by_ranking(values, policy.tier_cutoffs, policy.tier_scope), fit


def demo_population() -> dict[str, Thresholds]:
    return demo_figures()[0]


async def load_stories(api: AsyncClient, headers: Headers, session: AsyncSession) -> None:
    # Tier cut points and the model fit as the worker stores them after `winback demo`.
    cut_points, fit = demo_figures()
    await population_repository.save(session, cut_points, 3, {}, NOW)
    assert fit is not None and fit.fallback_reason is None
    await population_repository.save_fit(session, fit)
    events = [e for story in stories(NOW).values() for e in story]
    response = await api.post("/v1/events/batch", json=events, headers=headers["writer"])
    assert response.json()["rejected"] == 0, response.text


async def get_plan(api: AsyncClient, headers: Headers, client_id: str, **params: Any) -> Any:
    response = await api.get(
        f"/v1/clients/{client_id}/recovery-plan", params=params, headers=headers["reader"]
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("client_id", ["northwind", "ana.k", "orbis"])
async def test_readme_plans_match_their_golden_files(
    api: AsyncClient, headers: Headers, session: AsyncSession, client_id: str
) -> None:
    await load_stories(api, headers, session)
    plan = await get_plan(api, headers, client_id)
    golden = GOLDEN / f"{client_id}.json"
    text = json.dumps(plan, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("WINBACK_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert plan == json.loads(golden.read_text())
    readme = (ROOT / "README.md").read_text()
    assert text.strip() in readme, f"README.md does not show the current plan of {client_id}"
    for market, cut in demo_population().items():  # the cut points the README quotes
        stated = f"{market.upper()} A from {cut.a_min:,.2f} and B from {cut.b_min:,.2f}"
        assert stated in " ".join(readme.split()), stated


async def test_the_three_stories_take_three_decisions(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await load_stories(api, headers, session)
    northwind = await get_plan(api, headers, "northwind")
    assert (northwind["decision"], northwind["tier"]) == ("return_first", "A")
    assert northwind["diagnosis"]["group"] == "company"
    assert "delivery_failure" in northwind["diagnosis"]["reason_codes"]
    assert "m-7" in northwind["owner"]["exclude_manager_ids"]
    compensation = [c for c in northwind["offer"]["components"] if c["kind"] == "compensation"]
    assert compensation[0]["amount"] == "500.00"  # 20 % of the 2,500.00 at issue
    ana = await get_plan(api, headers, "ana.k")
    assert ana["decision"] == "should_return"
    assert {s["channel"] for s in ana["steps"]} >= {"email"}
    orbis = await get_plan(api, headers, "orbis")
    assert orbis["decision"] == "let_go"
    assert any(
        "lost 2 times" in r["text"] or "lost twice" in r["text"] for r in orbis["decision_reasons"]
    ), orbis
    assert orbis["decision_reasons"][0]["code"] == "max_losses"


async def test_plan_as_of_a_past_moment(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await load_stories(api, headers, session)
    # 200 days ago northwind was still ordering every month: nothing to do
    then = await get_plan(api, headers, "northwind", as_of=(NOW - timedelta(days=200)).isoformat())
    assert (then["status"], then["decision"]) == ("active", "no_action")
    assert then["as_of"].startswith((NOW - timedelta(days=200)).date().isoformat())


async def test_plan_errors(api: AsyncClient, headers: Headers) -> None:
    missing = await api.get("/v1/clients/nobody/recovery-plan", headers=headers["reader"])
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    unauthenticated = await api.get("/v1/clients/nobody/recovery-plan")
    assert unauthenticated.status_code == 401
    wrong_scope = await api.get("/v1/clients/nobody/recovery-plan", headers=headers["writer"])
    assert wrong_scope.status_code == 403
    bad = await api.get(
        "/v1/clients/nobody/recovery-plan", params={"as_of": "yesterday"}, headers=headers["reader"]
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "as_of"


async def test_lists_filter_by_decision(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await load_stories(api, headers, session)
    page = (
        await api.get("/v1/clients", params={"decision": "return_first"}, headers=headers["reader"])
    ).json()
    assert [c["client_id"] for c in page["items"]] == ["northwind"]
    several = (
        await api.get(
            "/v1/clients", params={"decision": "let_go,should_return"}, headers=headers["reader"]
        )
    ).json()
    assert {c["client_id"] for c in several["items"]} == {"orbis", "ana.k"}
    bad = await api.get("/v1/clients", params={"decision": "maybe"}, headers=headers["reader"])
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "decision"
