"""Many writers at once to one client lose no update (row lock per client, real commits)."""

import asyncio
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients.models import Client
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
