"""The worker with real commits: time alone moves clients, two workers share without overlap,
tiers come from set-based cut points, a policy change re-evaluates everyone."""

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients.models import Client, StatusChange
from app.tiers import cut_points
from app.worker import jobs
from tests.conftest import NOW

Headers = dict[str, dict[str, str]]


def orders(client_id: str, days_ago: list[float], amount: str = "100.00") -> list[dict]:
    return [
        {
            "id": f"{client_id}-o{i}",
            "type": "order.placed",
            "occurred_at": (NOW - timedelta(days=d)).isoformat(),
            "client_id": client_id,
            "data": {"order_id": f"{client_id}-{i}", "amount": amount},
        }
        for i, d in enumerate(days_ago)
    ]


async def post(api: AsyncClient, headers: Headers, events: list[dict]) -> None:
    for start in range(0, len(events), 1000):
        response = await api.post(
            "/v1/events/batch", json=events[start : start + 1000], headers=headers["writer"]
        )
        assert response.status_code == 200 and response.json()["rejected"] == 0, response.text


async def stored(sessionmaker: async_sessionmaker[AsyncSession], client_id: str) -> Client:
    async with sessionmaker() as session:
        client = await session.get(Client, client_id)
        assert client is not None
        return client


async def test_time_alone_moves_a_client_to_at_risk_then_lost(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    await post(committed_api, headers, orders("weekly", [28, 21, 14, 7, 1]))
    client = await stored(committed, "weekly")
    assert client.status == "active"
    # due when 1.5 weekly cycles have passed since the last order
    assert client.next_review_at == NOW - timedelta(days=1) + timedelta(days=10.5)

    assert await jobs.sweep(committed, lambda: NOW + timedelta(days=1)) == []
    assert await jobs.sweep(committed, lambda: NOW + timedelta(days=9, hours=13)) == ["weekly"]
    client = await stored(committed, "weekly")
    assert (client.status, client.signals) == ("at_risk", ["lapsed"])
    assert client.next_review_at == NOW - timedelta(days=1) + timedelta(days=21)

    assert await jobs.sweep(committed, lambda: NOW + timedelta(days=25)) == ["weekly"]
    client = await stored(committed, "weekly")
    assert (client.status, client.lost_count, client.next_review_at) == ("lost", 1, None)
    async with committed() as session:
        history = (
            await session.execute(
                select(StatusChange.from_status, StatusChange.to_status).order_by(StatusChange.id)
            )
        ).all()
    assert [tuple(h) for h in history] == [
        (None, "active"),
        ("active", "at_risk"),
        ("at_risk", "lost"),
    ]


async def test_two_workers_never_process_the_same_client(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    events = []
    for i in range(600):
        events += orders(f"c{i:04d}", [60, 30, 20])
    await post(committed_api, headers, events)
    later = NOW + timedelta(days=365)
    first, second = await asyncio.gather(
        jobs.sweep(committed, lambda: later, batch_size=50),
        jobs.sweep(committed, lambda: later, batch_size=50),
    )
    assert set(first).isdisjoint(second)
    assert sorted(first + second) == [f"c{i:04d}" for i in range(600)]
    assert first and second, "both workers took a share"
    async with committed() as session:
        lost_changes = await session.scalar(
            text("SELECT count(*) FROM status_change WHERE to_status = 'lost'")
        )
    assert lost_changes == 600  # one change per client, not two


async def test_concurrent_sweep_batches_take_each_due_client_once_and_keep_the_limit(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    events = []
    for i in range(230):
        events += orders(f"c{i:04d}", [60, 30, 20])
    await post(committed_api, headers, events)
    later = NOW + timedelta(days=365)
    limited = await jobs.sweep(
        committed, lambda: later, batch_size=20, max_batches=3, concurrency=4
    )
    assert len(limited) == 60 and len(set(limited)) == 60  # three batches, not four or more
    rest = await jobs.sweep(committed, lambda: later, batch_size=20, concurrency=4)
    assert sorted(limited + rest) == [f"c{i:04d}" for i in range(230)]
    assert await jobs.sweep(committed, lambda: later, concurrency=4) == []  # nothing due twice


async def test_tier_refresh_matches_the_pareto_reference(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    values = [5000, 3000, 1200, 800, 400, 300, 200, 50, 30, 20]
    events = []
    for i, value in enumerate(values):
        events += orders(f"c{i}", [40, 10], amount=f"{value / 2:.2f}")
    await post(committed_api, headers, events)
    assert (await stored(committed, "c0")).tier is None  # no cut points yet

    assert await jobs.refresh_population(committed, NOW) is True
    await jobs.sweep(committed, lambda: NOW)
    reference = cut_points([Decimal(v) for v in values], (0.75, 0.95))
    assert reference is not None
    async with committed() as session:
        tiers = {
            row[0]: row[1] for row in await session.execute(select(Client.client_id, Client.tier))
        }
        stored_cuts = await session.scalar(text("SELECT tier_thresholds FROM population_stats"))
    # clients without a market are the policy's default market, b2b: one ranking
    assert decimals(stored_cuts) == {"b2b": {"a_min": reference.a_min, "b_min": reference.b_min}}
    # 5000+3000+1200 = 9200 of 11000 (83.6 %) reach 75 %;
    # +800+400 = 94.5 %, +300 = 97.3 % reach 95 %
    assert [tiers[f"c{i}"] for i in range(10)] == ["A", "A", "A", "B", "B", "B", "C", "C", "C", "C"]

    # a new write is tiered O(1) against the stored thresholds, no refresh needed
    await post(committed_api, headers, orders("newcomer", [40, 10], amount="2000.00"))
    assert (await stored(committed, "newcomer")).tier == "A"


async def test_a_refresh_marks_due_only_clients_not_due_yet(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    """A client the sweeper has not reached yet is left as it is (no new row version: each is a
    write of the row and all its indexes); the others whose tier moves are due at once."""
    events = []
    for i, value in enumerate([5000, 3000, 1200, 800, 400, 300, 200, 50, 30, 20]):
        events += orders(f"c{i}", [40, 10], amount=f"{value / 2:.2f}")
    await post(committed_api, headers, events)
    waiting = NOW - timedelta(hours=5)
    async with committed() as session, session.begin():
        await session.execute(
            text("UPDATE client SET next_review_at = :at WHERE client_id = 'c0'"), {"at": waiting}
        )
    versions = "SELECT client_id, xmin::text, next_review_at FROM client ORDER BY client_id"
    async with committed() as session:
        before = {row[0]: row[1:] for row in await session.execute(text(versions))}

    assert await jobs.refresh_population(committed, NOW) is True  # every tier moves (none yet)
    async with committed() as session:
        after = {row[0]: row[1:] for row in await session.execute(text(versions))}
    assert after["c0"] == before["c0"] == (before["c0"][0], waiting)
    for i in range(1, 10):
        assert after[f"c{i}"][0] != before[f"c{i}"][0] and after[f"c{i}"][1] == NOW
    swept = await jobs.sweep(committed, lambda: NOW)
    assert sorted(swept) == sorted(f"c{i}" for i in range(10))  # c0 was due all along


def decimals(cuts: dict[str, dict[str, str]]) -> dict[str, dict[str, Decimal]]:
    return {r: {k: Decimal(v) for k, v in cut.items()} for r, cut in cuts.items()}


def market_orders(client_id: str, market: str, amount: str) -> list[dict]:
    events = orders(client_id, [40, 10], amount=amount)
    events[0]["client"] = {"market": market}
    return events


async def tiers_by_client(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with sessionmaker() as session:
        rows = await session.execute(select(Client.client_id, Client.tier))
        return {client_id: tier for client_id, tier in rows}


async def test_tiers_rank_each_market_apart_unless_the_policy_says_global(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    """A shop's best shoppers are tier A among shoppers, not tier C next to distributors."""
    b2b = [9000, 6000, 3000, 2000, 1000]
    b2c = [300, 200, 100, 60, 40]
    events = []
    for i, value in enumerate(b2b):
        events += market_orders(f"co{i}", "b2b", f"{value / 2:.2f}")
    for i, value in enumerate(b2c):
        events += market_orders(f"sh{i}", "b2c", f"{value / 2:.2f}")
    await post(committed_api, headers, events)

    assert await jobs.refresh_population(committed, NOW)
    await jobs.sweep(committed, lambda: NOW)
    tiers = await tiers_by_client(committed)
    for prefix, values in (("co", b2b), ("sh", b2c)):
        reference = cut_points([Decimal(v) for v in values], (0.75, 0.95))
        assert reference is not None
        expected = [
            "A" if v >= reference.a_min else "B" if v >= reference.b_min else "C" for v in values
        ]
        assert [tiers[f"{prefix}{i}"] for i in range(5)] == expected
    assert tiers["sh0"] == "A"  # the best shopper is gold among shoppers
    # a new shopper is tiered O(1) against the shoppers' cut points
    await post(committed_api, headers, market_orders("sh-new", "b2c", "150.00"))
    assert (await stored(committed, "sh-new")).tier == "A"

    policy = (await committed_api.get("/v1/policy", headers=headers["reader"])).json()["policy"]
    response = await committed_api.put(
        "/v1/policy", json=policy | {"tier_scope": "global"}, headers=headers["admin"]
    )
    assert response.status_code == 200, response.text
    assert await jobs.refresh_population(committed, NOW)
    await jobs.reevaluate_policy(committed, lambda: NOW)
    await jobs.sweep(committed, lambda: NOW)
    tiers = await tiers_by_client(committed)
    everyone = cut_points([Decimal(v) for v in b2b + b2c + [300]], (0.75, 0.95))
    assert everyone is not None
    assert {tiers[f"sh{i}"] for i in range(5)} | {tiers["sh-new"]} == {"C"}
    assert tiers["co0"] == "A"
    async with committed() as session:
        stored_cuts = await session.scalar(text("SELECT tier_thresholds FROM population_stats"))
    assert decimals(stored_cuts) == {"all": {"a_min": everyone.a_min, "b_min": everyone.b_min}}


async def test_policy_change_reevaluates_every_client(
    committed_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    headers: Headers,
) -> None:
    events = []
    for i in range(30):
        events += orders(f"c{i}", [80, 50, 20])  # cycle 30, last order 20 days ago: active
    await post(committed_api, headers, events)
    policy: dict[str, Any] = (
        await committed_api.get("/v1/policy", headers=headers["reader"])
    ).json()
    assert policy["version"] == 0
    body = policy["policy"] | {"at_risk_cycles": 0.5, "recovered_at_risk_cycles": 0.5}
    response = await committed_api.put("/v1/policy", json=body, headers=headers["admin"])
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert response.json()["reevaluation"] == "scheduled"
    progress = (
        await committed_api.get("/v1/policy/reevaluation", headers=headers["reader"])
    ).json()
    assert progress == {"version": 1, "clients_pending": 30}

    assert await jobs.reevaluate_policy(committed, lambda: NOW, batch_size=7) == 30
    progress = (
        await committed_api.get("/v1/policy/reevaluation", headers=headers["reader"])
    ).json()
    assert progress["clients_pending"] == 0
    client = await stored(committed, "c0")
    assert (client.status, client.policy_version) == ("at_risk", 1)
