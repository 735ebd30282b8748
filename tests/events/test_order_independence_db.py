"""Through the real write path and PostgreSQL: any arrival order of a client's events, with
duplicates, stores exactly the state of the in-order application (SPEC §2)."""

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client
from app.clients.service import STATE_COLUMNS
from app.events.schemas import event_adapter
from app.ingest.service import ingest
from app.policy.service import load_snapshot
from tests.conftest import NOW

COLUMNS = (*STATE_COLUMNS, "facts", "name", "manager_id")


def history() -> list[dict[str, Any]]:
    def at(days_ago: float) -> str:
        return (NOW - timedelta(days=days_ago)).isoformat()

    def ev(n: int, kind: str, days_ago: float, data: dict[str, Any], **extra: Any) -> dict:
        return {
            "id": f"e{n}",
            "type": kind,
            "occurred_at": at(days_ago),
            "client_id": "acme",
            "data": data,
            **extra,
        }

    return [
        ev(
            1,
            "order.placed",
            400,
            {"order_id": "o1", "amount": "900"},
            client={"name": "Acme", "manager_id": "m-1"},
        ),
        ev(2, "order.placed", 370, {"order_id": "o2", "amount": "800"}),
        ev(3, "order.placed", 340, {"order_id": "o3", "amount": "850"}),
        ev(4, "order.placed", 340, {"order_id": "o3b", "amount": "50"}),  # same day
        ev(5, "order.refunded", 330, {"order_id": "o3", "amount": "100"}),
        ev(
            6,
            "order.placed",
            100,
            {"order_id": "o4", "amount": "300"},  # a return after a loss
            client={"manager_id": "m-2"},
        ),
        ev(7, "order.cancelled", 99, {"order_id": "o2"}),
        ev(8, "request.created", 60, {"request_id": "r1", "channel": "quote"}),
        ev(9, "request.lost", 55, {"request_id": "r1", "reason_code": "competitor_price"}),
        ev(
            10,
            "contact.logged",
            50,
            {"channel": "call", "direction": "outbound", "outcome": "no_answer"},
        ),
        ev(
            11,
            "contact.logged",
            45,
            {"channel": "call", "direction": "outbound", "outcome": "reached"},
        ),
        ev(
            12,
            "feedback.received",
            40,
            {"feedback_id": "f1", "kind": "complaint", "reason_code": "delivery_failure"},
        ),
        ev(13, "feedback.resolved", 30, {"feedback_id": "f1"}),
        ev(14, "client.updated", 20, {}, client={"name": "Acme Ltd"}),
    ]


EVENTS = history()


async def apply_in_order(session: AsyncSession, order: list[int]) -> dict[str, Any]:
    async with session.begin_nested() as savepoint:
        snapshot = await load_snapshot(session)
        for i in order:  # one write per event, as webhooks arrive
            envelope = event_adapter.validate_python(EVENTS[i])
            await ingest(session, [(0, envelope)], snapshot, NOW)
        row = (await session.execute(select(Client).where(Client.client_id == "acme"))).scalar_one()
        state = {c: getattr(row, c) for c in COLUMNS}
        await savepoint.rollback()
    return state


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.permutations(range(len(EVENTS))),
    duplicates=st.lists(st.integers(0, len(EVENTS) - 1), max_size=6),
    positions=st.lists(st.integers(0, len(EVENTS)), min_size=6, max_size=6),
)
async def test_any_arrival_order_stores_the_in_order_state(
    session: AsyncSession, order: list[int], duplicates: list[int], positions: list[int]
) -> None:
    expected = await apply_in_order(
        session,
        sorted(range(len(EVENTS)), key=lambda i: (EVENTS[i]["occurred_at"], EVENTS[i]["id"])),
    )
    arrival = list(order)
    for duplicate, position in zip(duplicates, positions, strict=False):
        arrival.insert(position, duplicate)
    assert await apply_in_order(session, arrival) == expected
