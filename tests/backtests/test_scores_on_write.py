"""The population model wired in, with real commits: the worker's set-based figures equal the
backtest's Python figures; the scores stored on write equal the batch computation; as_of reads
give the scores as they stood; refits re-score gradually; lists sort and filter by the scores;
GET /v1/models/current and POST /v1/models/refit."""

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.backtests.service import history
from app.churn.backtest import CutoffFigures, evaluate_at, figures_at
from app.clients.models import Client
from app.policy.service import load_snapshot
from app.worker import jobs
from tests.conftest import NOW, Clock

Headers = dict[str, dict[str, str]]
RESCORE = timedelta(hours=7)  # past policy.model_rescore_seconds (6 h)


def order(client_id: str, n: int, at: datetime, amount: float) -> dict[str, Any]:
    return {
        "id": f"{client_id}-o{n}-{at.timestamp():.0f}",
        "type": "order.placed",
        "occurred_at": at.isoformat(),
        "client_id": client_id,
        "data": {"order_id": f"{client_id}-{n}-{at.timestamp():.0f}", "amount": f"{amount:.2f}"},
    }


def population(seed: int = 7, clients: int = 240) -> list[dict[str, Any]]:
    """Clients with one to eight orders over the last two years, some on the same day, each
    client spending around a level of its own (the spread Gamma-Gamma fits: with one level for
    all, its likelihood has no maximum and whether a fit stops counts as converged varies with
    the machine's floating point)."""
    rng, spend = random.Random(seed), random.Random(seed + 1)
    events = []
    for i in range(clients):
        client_id = f"c{i:03d}"
        level = spend.lognormvariate(4.5, 0.6)
        moment = NOW - timedelta(days=rng.uniform(60, 720))
        for n in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 8])):
            if moment >= NOW:
                break
            events.append(order(client_id, n, moment, level * spend.uniform(0.6, 1.4)))
            moment += timedelta(days=rng.choice([0, rng.expovariate(1 / 45)]))
    events.append(
        {
            "id": "p-1",
            "type": "request.created",
            "occurred_at": (NOW - timedelta(days=3)).isoformat(),
            "client_id": "prospect",
            "data": {"request_id": "r-1", "channel": "quote"},
        }
    )
    return events


async def post(api: AsyncClient, headers: Headers, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 1000):
        response = await api.post(
            "/v1/events/batch", json=events[start : start + 1000], headers=headers["writer"]
        )
        assert response.status_code == 200 and response.json()["rejected"] == 0, response.text


async def stored(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Client]:
    async with sessionmaker() as session:
        return {c.client_id: c for c in (await session.execute(select(Client))).scalars()}


async def prepare(
    api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> datetime:
    """Post the population, refresh the figures, refit, and let the sweep re-score everyone."""
    await post(api, headers, population())
    assert await jobs.refresh_population(committed, NOW)
    done = await jobs.refit_models(committed, NOW)
    assert done is not None and done.fit.fallback_reason is None, done
    assert await jobs.refit_models(committed, NOW + timedelta(hours=1)) is None  # not due yet
    swept = await jobs.sweep(committed, lambda: NOW + RESCORE)
    assert len(swept) >= done.marked > 0
    return NOW + RESCORE


async def test_sql_figures_equal_the_backtest_figures(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    await prepare(committed_api, committed, headers)
    assert await jobs.refresh_population(committed, NOW)  # RFM at NOW, everyone scored now
    async with committed() as session:
        snapshot = await load_snapshot(session)
        clients = await history(session, NOW, 1)
    python = figures_at(clients, snapshot.policy, NOW, NOW)
    live = snapshot.model
    assert live.rfm is not None and python.model.rfm is not None
    assert live.rfm.n == python.model.rfm.n
    for name in ("recency_days", "frequency", "monetary"):
        assert getattr(live.rfm, name) == pytest.approx(getattr(python.model.rfm, name))
    for market, gaps in python.model.repeat_gaps.items():
        for name in ("after_first", "after_second", "later"):
            ours, theirs = getattr(live.repeat_gaps[market], name), getattr(gaps, name)
            assert (ours is None) == (theirs is None), name
            if ours is not None:  # SQL's percentile_cont and numpy interpolate alike
                assert ours.n == theirs.n and ours.values == pytest.approx(theirs.values), name
    assert any(gaps.later is not None for gaps in live.repeat_gaps.values())
    assert snapshot.tier_rankings == python.tier_rankings
    assert live.fit is not None and python.model.fit is not None
    assert live.fit.n == python.model.fit.n
    for name in ("r", "alpha", "a", "b"):
        ours, theirs = getattr(live.fit.purchase, name), getattr(python.model.fit.purchase, name)
        assert ours == pytest.approx(theirs, rel=1e-6)
    # the spends are summed in another order: the flat Gamma-Gamma likelihood moves a little
    assert live.fit.spend.p == pytest.approx(python.model.fit.spend.p, rel=1e-4)


async def test_scores_on_write_equal_the_batch_computation(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    moment = await prepare(committed_api, committed, headers)
    rows = await stored(committed)
    async with committed() as session:
        snapshot = await load_snapshot(session)
        clients = await history(session, moment, 1)
    figures = CutoffFigures(snapshot.tier_rankings, snapshot.market_cycles, {}, snapshot.model)
    batch = evaluate_at(clients, snapshot.policy, moment, figures)
    assert batch.prospects == 1 and len(batch.clients) == len(rows) - 1
    fit_id = snapshot.model.fit.id if snapshot.model.fit else None
    checked = 0
    for k, client in enumerate(batch.clients):
        row = rows[client.client_id]
        assert row.evaluated_at == moment and row.model_fit_id == fit_id
        assert row.status == batch.states[k].status
        assert row.p_alive == batch.scores.p_alive[k]
        assert row.expected_orders_90d == batch.scores.expected_orders_90d[k]
        assert row.churn_risk == batch.scores.churn_risk[k]
        assert float(row.predicted_clv) == pytest.approx(batch.scores.predicted_clv[k], abs=0.005)
        scores = batch.scores
        assert row.rfm == f"{scores.rfm_r[k]}{scores.rfm_f[k]}{scores.rfm_m[k]}"
        assert (row.xyz or "") == scores.xyz[k]
        checked += 1
    assert checked == len(rows) - 1
    assert len({row.xyz for row in rows.values() if row.xyz}) >= 2
    assert rows["prospect"].p_alive is None and rows["prospect"].churn_risk is None


async def test_as_of_reads_give_the_scores_as_they_stood(
    committed_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    headers: Headers,
    clock: Clock,
) -> None:
    moment = await prepare(committed_api, committed, headers)
    before = await stored(committed)
    # a day later: new orders, then a refit: new parameters in force from then on
    clock.now = NOW + timedelta(days=1)
    later = [
        order(f"c{i:03d}", 99, NOW + timedelta(hours=20, minutes=i), 500.0) for i in range(0, 80, 2)
    ]
    await post(committed_api, headers, later)
    refit = await jobs.refit_models(committed, clock.now, force=True)
    assert refit is not None
    async with committed() as session:
        figures_then = await load_snapshot(session)
    assert await jobs.refresh_population(committed, clock.now)  # new cut points from today on
    async with committed() as session:
        figures_now = await load_snapshot(session)
    assert figures_now.model.rfm != figures_then.model.rfm
    assert figures_now.tier_rankings != figures_then.tier_rankings
    client_id = next(c for c in sorted(before) if c.endswith("1") and before[c].p_alive)
    response = await committed_api.get(
        f"/v1/clients/{client_id}", params={"as_of": moment.isoformat()}, headers=headers["reader"]
    )
    assert response.status_code == 200, response.text
    read = response.json()
    row = before[client_id]
    assert read["p_alive"] == row.p_alive
    assert read["expected_orders_90d"] == row.expected_orders_90d
    assert read["churn_risk"] == row.churn_risk
    assert read["predicted_clv"] == f"{row.predicted_clv:.2f}"
    assert read["rfm"] == row.rfm  # the RFM cut points in force then, not today's
    assert read["tier"] == row.tier
    for client_id, then_row in before.items():  # every client: tier and RFM as they stood
        past = await committed_api.get(
            f"/v1/clients/{client_id}",
            params={"as_of": moment.isoformat()},
            headers=headers["reader"],
        )
        assert (past.json()["tier"], past.json()["rfm"]) == (then_row.tier, then_row.rfm)
    now = await committed_api.get(f"/v1/clients/{client_id}", headers=headers["reader"])
    assert now.json()["p_alive"] != row.p_alive  # today: the new fit, a day older
    # before the first fit there were no scores
    early = await committed_api.get(
        f"/v1/clients/{client_id}",
        params={"as_of": (NOW - timedelta(minutes=1)).isoformat()},
        headers=headers["reader"],
    )
    assert early.json()["p_alive"] is None and early.json()["churn_risk"] is not None
    # nor tier cut points: the first refresh came later
    assert early.json()["tier"] is None and early.json()["rfm"] is None


async def test_a_refit_marks_everyone_due_within_the_rescore_window(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    await post(committed_api, headers, population())
    done = await jobs.refit_models(committed, NOW)
    assert done is not None
    rows = await stored(committed)
    due = [r.next_review_at for r in rows.values() if r.orders_count > 0]
    assert len(due) == done.marked
    assert all(r is not None and r <= NOW + timedelta(hours=6) for r in due)
    assert len({r for r in due if r is not None and r > NOW}) > len(due) // 2  # spread out


async def test_models_endpoints(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    response = await committed_api.get("/v1/models/current", headers=headers["reader"])
    assert response.status_code == 404
    await post(committed_api, headers, population())
    forbidden = await committed_api.post("/v1/models/refit", json={}, headers=headers["reader"])
    assert forbidden.status_code == 403
    future = (NOW + timedelta(days=1)).isoformat()
    response = await committed_api.post(
        "/v1/models/refit", json={"as_of": future}, headers=headers["admin"]
    )
    assert response.status_code == 422
    response = await committed_api.post(
        "/v1/models/refit",
        json={"as_of": (NOW - timedelta(days=30)).isoformat()},
        headers=headers["admin"],
    )
    assert response.status_code == 200, response.text
    fitted = response.json()
    assert fitted["variant"] == "mbg_nbd" and fitted["converged"]
    assert fitted["as_of"].startswith((NOW - timedelta(days=30)).date().isoformat())
    current = (await committed_api.get("/v1/models/current", headers=headers["reader"])).json()
    assert current["id"] == fitted["id"] and current["purchase"] == fitted["purchase"]
    assert current["n"] == fitted["n"] > 0 and current["log_likelihood"] < 0
    assert current["clients_pending"] == current["n"] or current["clients_pending"] > 0


async def test_lists_sort_and_filter_by_the_scores(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    await prepare(committed_api, committed, headers)
    rows = await stored(committed)
    reader = headers["reader"]
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "risk_desc", "limit": 25}
        if cursor:
            params["cursor"] = cursor
        page = (await committed_api.get("/v1/clients", params=params, headers=reader)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(rows)
    risks = [item["churn_risk"] for item in seen]
    scored = [r for r in risks if r is not None]
    assert scored == sorted(scored, reverse=True) and risks[-1] is None  # the prospect last
    params = {"min_risk": 0.5, "limit": 1000}
    top = (await committed_api.get("/v1/clients", params=params, headers=reader)).json()["items"]
    assert top and all(item["churn_risk"] >= 0.5 for item in top)
    assert len(top) == sum(1 for r in scored if r >= 0.5)
    clv = (
        await committed_api.get("/v1/clients", params={"sort": "clv_desc"}, headers=reader)
    ).json()["items"]
    values = [float(item["predicted_clv"]) for item in clv if item["predicted_clv"]]
    assert values == sorted(values, reverse=True)
    code = next(r.rfm for r in rows.values() if r.rfm)
    assert code is not None
    pattern = f"{code[0]}_{code[2]}"
    by_rfm = (
        await committed_api.get("/v1/clients", params={"rfm": pattern}, headers=reader)
    ).json()["items"]
    assert by_rfm and all(i["rfm"][0] == code[0] and i["rfm"][2] == code[2] for i in by_rfm)
    bad = await committed_api.get("/v1/clients", params={"rfm": "6__"}, headers=reader)
    assert bad.status_code == 422
    xyz = (await committed_api.get("/v1/clients", params={"xyz": "X,Y"}, headers=reader)).json()
    assert all(item["xyz"] in ("X", "Y") for item in xyz["items"])
    csv = await committed_api.get(
        "/v1/clients", headers={**reader, "Accept": "text/csv"}, params={"sort": "risk_desc"}
    )
    ids = [line.split(",")[0] for line in csv.text.splitlines()[1:]]
    assert ids == [item["client_id"] for item in seen]


async def test_a_refit_is_due_when_the_population_doubled(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    first = [e for e in population() if e["client_id"] < "c020"]
    await post(committed_api, headers, first)
    assert await jobs.refresh_population(committed, NOW)
    done = await jobs.refit_models(committed, NOW)
    assert done is not None
    assert await jobs.refit_models(committed, NOW + timedelta(hours=1)) is None
    await post(committed_api, headers, [e for e in population() if e["client_id"] >= "c020"])
    assert await jobs.refit_models(committed, NOW + timedelta(hours=1)) is None  # not refreshed
    assert await jobs.refresh_population(committed, NOW + timedelta(hours=1))
    again = await jobs.refit_models(committed, NOW + timedelta(hours=2))
    assert again is not None and again.fit.n > 2 * done.fit.n + 10
