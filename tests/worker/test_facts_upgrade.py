"""The worker's upgrade_facts, with real commits: clients whose rows hold facts of an older version
(the positional form from before versioning, and wrong aggregates on top) are re-folded from their
events and re-evaluated, ending exactly as a client given the same events afresh. And the
migration's downgrade turns the named facts back into the positional form."""

import asyncio
import json
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.churn.facts import FACTS_VERSION, ClientFacts, from_json, to_json
from app.clients import repository as clients_repository
from app.clients.service import facts_from_events
from app.db import create_engine
from app.events import repository as events_repository
from app.kit import metrics
from app.migrate import downgrade, upgrade
from app.worker import jobs
from tests.churn.helpers import History
from tests.churn.test_facts import fifty_orders, legacy_to_json, rich_history, small_history
from tests.conftest import NOW, _recreate_database
from tests.worker.test_jobs import Headers, orders, post, stored

# What an evaluation stores; an upgraded client must match its fresh twin on all of them.
STATE = (
    "status",
    "status_since",
    "signals",
    "tier",
    "decision",
    "value",
    "lifetime_revenue",
    "orders_count",
    "first_order_at",
    "last_order_at",
    "cycle_days",
    "cycle_source",
    "expected_next_order_at",
    "lost_count",
    "last_lost_at",
    "recovered_at",
    "in_watch",
    "next_review_at",
)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def history_of(client_id: str) -> list[dict[str, Any]]:
    """Orders with a refund and a cancel, a lost request, contacts, a complaint, a manager."""
    prefix = client_id

    def event(n: int, type_: str, days_ago: float, **data: Any) -> dict[str, Any]:
        return {
            "id": f"{prefix}-e{n}",
            "type": type_,
            "occurred_at": at(days_ago),
            "client_id": client_id,
            "data": data,
        }

    events = orders(client_id, [200, 170, 140, 110, 80], amount="250.00")
    events[0]["client"] = {"name": "Acme", "manager_id": "m-1"}
    events[1]["data"]["margin"] = "60.00"
    return [
        *events,
        event(1, "order.refunded", 139, order_id=f"{client_id}-2", amount="40.00"),
        event(2, "order.placed", 100, order_id=f"{client_id}-x", amount="900.00"),
        event(3, "order.cancelled", 99, order_id=f"{client_id}-x"),
        event(4, "request.created", 60, request_id=f"{client_id}-r", channel="quote"),
        event(5, "request.lost", 50, request_id=f"{client_id}-r", reason_code="competitor_price"),
        event(6, "contact.logged", 40, channel="call", direction="outbound", outcome="no_answer"),
        event(7, "contact.logged", 39, channel="email", direction="outbound", outcome="bounced"),
        event(
            8,
            "feedback.received",
            30,
            feedback_id=f"{client_id}-f",
            kind="complaint",
            score=2,
            order_id=f"{client_id}-4",
            amount_at_issue="100.00",
        ),
    ]


def twin_events(events: list[dict[str, Any]], client_id: str) -> list[dict[str, Any]]:
    """The same events for another client (ids made unique), to be evaluated afresh."""
    return [{**e, "id": f"twin-{e['id']}", "client_id": client_id} for e in events]


async def fold_of(sessionmaker: async_sessionmaker[AsyncSession], client_id: str) -> ClientFacts:
    async with sessionmaker() as session:
        history = await events_repository.bodies_for_clients(session, [client_id])
    return facts_from_events(history[client_id])


async def make_old(
    sessionmaker: async_sessionmaker[AsyncSession], client_id: str, facts: ClientFacts
) -> None:
    """Store `facts` in the positional form of version 1, with aggregates that are wrong."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE client SET facts = CAST(:facts AS jsonb), facts_version = 1, "
                "status = 'lost', value = 123456, orders_count = 99, lost_count = 7, "
                "next_review_at = NULL WHERE client_id = :client_id"
            ),
            {"facts": json.dumps(legacy_to_json(facts)), "client_id": client_id},
        )


async def old_facts_left(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return await clients_repository.clients_with_old_facts(session, FACTS_VERSION)


def gauge(metric: Any) -> float:
    return float(metric._value.get())


async def test_upgrade_refolds_old_rows_from_their_events(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    clients = ["alpha", "beta", "gamma"]
    events = []
    for client_id in clients:
        events += history_of(client_id) + twin_events(history_of(client_id), f"{client_id}-twin")
    events += orders("lapsed", [300, 270, 240]) + orders("lapsed-twin", [300, 270, 240])
    await post(committed_api, headers, events)
    clients.append("lapsed")
    # what the write path made of the same events for fresh clients: the reference
    expected: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for client_id in clients:
        twin = await stored(committed, f"{client_id}-twin")
        read = await committed_api.get(f"/v1/clients/{client_id}-twin", headers=headers["reader"])
        expected[client_id] = ({c: getattr(twin, c) for c in STATE}, read.json())
    # the write path stores new clients' facts with the current version: nothing to upgrade
    async with committed() as session:
        rows = (await session.execute(text("SELECT facts, facts_version FROM client"))).all()
    assert all(version == facts["version"] == FACTS_VERSION for facts, version in rows)
    assert await old_facts_left(committed) == 0

    for client_id in clients:
        # positional facts with the last order left out: only a re-fold from events repairs that
        facts = await fold_of(committed, client_id)
        last_order = list(facts.orders)[-1]
        del facts.orders[last_order]
        await make_old(committed, client_id, facts)
    assert await old_facts_left(committed) == len(clients)

    # an old row reads (evaluated at request time from the positional facts it holds)
    response = await committed_api.get("/v1/clients/alpha", headers=headers["reader"])
    assert response.status_code == 200, response.text
    assert response.json()["orders_count"] == expected["alpha"][1]["orders_count"] - 1

    upgraded_before = metrics.FACTS_UPGRADED._value.get()
    assert await jobs.upgrade_facts(committed, lambda: NOW, batch_size=3) == len(clients)
    assert metrics.FACTS_UPGRADED._value.get() - upgraded_before == len(clients)
    assert gauge(metrics.OLD_FACTS) == 0
    assert await old_facts_left(committed) == 0

    for client_id in clients:
        client = await stored(committed, client_id)
        fold = await fold_of(committed, client_id)
        assert client.facts_version == FACTS_VERSION
        assert client.facts == json.loads(json.dumps(to_json(fold)))
        assert from_json(client.facts) == fold
        state, twin_read = expected[client_id]
        assert {c: getattr(client, c) for c in STATE} == state
        response = await committed_api.get(f"/v1/clients/{client_id}", headers=headers["reader"])
        assert response.json() | {"client_id": "twin"} == twin_read | {"client_id": "twin"}

    # the wrong status stored by hand was corrected, and the move is in the status history
    async with committed() as session:
        moved = set(
            await session.scalars(
                text("SELECT client_id FROM status_change WHERE from_status = 'lost'")
            )
        )
    assert moved == {c for c in clients if (await stored(committed, c)).status != "lost"}
    assert moved  # the test covers a move

    assert await jobs.upgrade_facts(committed, lambda: NOW) == 0  # nothing left: a no-op


async def test_an_event_on_an_old_row_is_applied_and_the_row_stays_old(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    """A write folds a new event into a version 1 row without re-folding it: the facts it stores
    are in the named form but still say version 1, so the worker still upgrades the row."""
    await post(committed_api, headers, orders("old", [90, 60, 30]))
    await make_old(committed, "old", await fold_of(committed, "old"))
    later = orders("old", [0])[0] | {"id": "old-late", "data": {"order_id": "n", "amount": "5"}}
    await post(committed_api, headers, [later])
    client = await stored(committed, "old")
    assert client.facts["version"] == 1 and "orders" in client.facts
    assert client.facts_version == 1
    assert from_json(client.facts) == await fold_of(committed, "old")
    assert client.orders_count == 4  # the write evaluated the facts it folded

    assert await jobs.upgrade_facts(committed, lambda: NOW) == 1
    client = await stored(committed, "old")
    assert (client.facts["version"], client.facts_version) == (FACTS_VERSION, FACTS_VERSION)


async def test_two_workers_upgrade_each_client_once(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: Headers
) -> None:
    events = []
    for i in range(60):
        events += orders(f"c{i:03d}", [60, 30, 20])
    await post(committed_api, headers, events)
    for i in range(60):
        client_id = f"c{i:03d}"
        await make_old(committed, client_id, await fold_of(committed, client_id))
    first, second = await asyncio.gather(
        jobs.upgrade_facts(committed, lambda: NOW, batch_size=5),
        jobs.upgrade_facts(committed, lambda: NOW, batch_size=5),
    )
    assert first + second == 60
    assert await old_facts_left(committed) == 0


# --- the migration's downgrade -----------------------------------------------------------------


def cleared_manager() -> History:
    history = History()
    history.updated(0, manager_id="m-1")
    history.updated(1, manager_id="")  # cleared: (at, None)
    order = history.order(2, "10.00")
    history.refund(order, 3, "0.00")
    history.cancel("never-placed", 4)
    history.contact(5, "replied", direction="inbound")
    return history


async def test_downgrade_writes_the_positional_form_back(server_url: str, worker_name: str) -> None:
    cases = {
        "rich": rich_history().facts(),
        "small": small_history().facts(),
        "fifty": fifty_orders().facts(),
        "cleared": cleared_manager().facts(),
        "empty": ClientFacts(),
    }
    url = await _recreate_database(server_url, f"{worker_name}_facts_down")
    engine = create_engine(url)
    try:
        await upgrade(url)
        async with engine.begin() as connection:
            for client_id, facts in cases.items():
                await connection.execute(
                    text(
                        "INSERT INTO client (client_id, market, facts, facts_version, status, "
                        "cycle_days, cycle_source, evaluated_at) VALUES (:client_id, 'b2b', "
                        "CAST(:facts AS jsonb), :version, 'prospect', 30, 'default', now())"
                    ),
                    {
                        "client_id": client_id,
                        "facts": json.dumps(to_json(facts)),
                        "version": facts.version,
                    },
                )
        await downgrade(url, "2026_11_29_0810")
        async with engine.connect() as connection:
            result = await connection.execute(text("SELECT client_id, facts FROM client"))
            rows: dict[str, Any] = {client_id: raw for client_id, raw in result}
        for client_id, facts in cases.items():
            assert rows[client_id] == json.loads(json.dumps(legacy_to_json(facts))), client_id
        await upgrade(url)
        async with engine.connect() as connection:
            versions = set(
                (await connection.scalars(text("SELECT facts_version FROM client"))).all()
            )
        assert versions == {1}
    finally:
        await engine.dispose()
