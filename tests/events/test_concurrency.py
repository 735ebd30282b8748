"""Many writers at once to one client lose no update (row lock per client, real commits)."""

import asyncio
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients import service as clients_service
from app.clients.models import Client
from app.events import service as events_service
from app.events.schemas import event_adapter
from app.ingest import repository as ingest_repository
from app.ingest.service import ingest
from app.policy.service import load_snapshot
from tests.conftest import NOW


async def test_concurrent_writers_to_one_client_lose_nothing(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: dict
) -> None:
    writers = 40

    async def write(i: int) -> int:
        event = {
            "id": f"e{i}",
            "type": "order.placed",
            # in and out of time order, so some writes fold incrementally and some re-fold
            "occurred_at": (NOW - timedelta(days=(i * 7) % 40, minutes=i)).isoformat(),
            "client_id": "acme",
            "data": {"order_id": f"o{i}", "amount": "10.00"},
        }
        response = await committed_api.post("/v1/events", json=event, headers=headers["writer"])
        return response.status_code

    statuses = await asyncio.gather(*(write(i) for i in range(writers)))
    assert statuses == [201] * writers
    async with committed() as session:
        client = await session.get(Client, "acme")
    assert client is not None
    assert client.orders_count == writers
    assert client.lifetime_revenue == 10 * writers


async def test_concurrent_batches_over_shared_clients_do_not_deadlock(
    committed_api: AsyncClient, committed: async_sessionmaker[AsyncSession], headers: dict
) -> None:
    async def batch(b: int) -> int:
        # each batch touches the same clients in a different order
        clients = [f"c{(b * 7 + k) % 20}" for k in range(20)]
        events = [
            {
                "id": f"b{b}-{k}",
                "type": "order.placed",
                "occurred_at": (NOW - timedelta(hours=b * 20 + k)).isoformat(),
                "client_id": client_id,
                "data": {"order_id": f"b{b}-{k}", "amount": "1.00"},
            }
            for k, client_id in enumerate(clients)
        ]
        response = await committed_api.post(
            "/v1/events/batch", json=events, headers=headers["writer"]
        )
        return response.json()["accepted"]

    accepted = await asyncio.gather(*(batch(b) for b in range(8)))
    assert accepted == [20] * 8
    async with committed() as session:
        for k in range(20):
            client = await session.get(Client, f"c{k}")
            assert client is not None and client.orders_count == 8


def first_order(event_id: str) -> dict:
    return {
        "id": event_id,
        "type": "order.placed",
        "occurred_at": (NOW - timedelta(days=3)).isoformat(),
        "client_id": "newco",
        "data": {"order_id": f"o-{event_id}", "amount": "10.00"},
    }


async def test_a_client_another_writer_creates_meanwhile_is_locked_after_it(
    committed: async_sessionmaker[AsyncSession],
) -> None:
    """Two first events of one new client at once: the second writer's combined statement
    (insert the event, lock or create the client) waits on the first's new row, finds the client
    neither locked (its snapshot predates it) nor created (the insert conflicted), so the client
    is locked in a second statement, and both orders count."""
    async with committed() as session:
        snapshot = await load_snapshot(session)
    first = [(0, event_adapter.validate_python(first_order("n1")))]
    second = [(0, event_adapter.validate_python(first_order("n2")))]

    async def later_writer() -> tuple[set[str], dict, list]:
        async with committed() as session, session.begin():
            prepared = events_service.prepare(second)
            new = clients_service.new_client_rows(["newco"], snapshot, NOW)
            inserted, rows = await ingest_repository.record_and_lock(session, prepared.rows, new)
            recorded = await events_service.judge(session, prepared, inserted)
            await clients_service.apply_events(session, recorded.accepted, snapshot, NOW, rows)
            return inserted, rows, recorded.outcomes

    async with committed() as session, session.begin():
        await ingest(session, first, snapshot, NOW)  # creates newco, not committed yet
        waiting = asyncio.create_task(later_writer())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # held by the first writer's new row
    inserted, rows, outcomes = await waiting
    assert inserted == {"n2"} and rows == {}  # the race this test is about
    assert [o.kind for o in outcomes] == ["accepted"]
    async with committed() as session:
        client = await session.get(Client, "newco")
    assert client is not None and client.orders_count == 2
