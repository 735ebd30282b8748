"""Group commit of single events (app.ingest.groups): events that arrive while a write is under
way are written together, each request answered with its own outcome after the commit; a failed
group is written again one event at a time; a caller that goes away does not undo its write.

Real commits throughout. A gate holds the first group's transaction open so that the requests
sent meanwhile queue up behind it, as they do under load."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.clients.models import Client
from app.db import transaction
from app.events.models import Event
from app.events.schemas import event_adapter
from app.ingest.groups import EventGroups
from app.policy.service import load_snapshot
from tests.conftest import NOW, Clock, build_app


def order(event_id: str, client_id: str, amount: str = "10.00", days_ago: int = 3) -> dict:
    return {
        "id": event_id,
        "type": "order.placed",
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "client_id": client_id,
        "data": {"order_id": f"o-{event_id}", "amount": amount},
    }


def groups_written(how: str) -> tuple[float, float]:
    """(groups, events) written so far in this process, `together` or `one_by_one`."""
    labels = {"written": how}
    count = REGISTRY.get_sample_value("winback_event_group_size_count", labels) or 0.0
    total = REGISTRY.get_sample_value("winback_event_group_size_sum", labels) or 0.0
    return count, total


class Gate:
    """A scope for the group writer that holds its first transaction until `open` is called,
    and can make chosen transactions (by number, from 1) fail before they commit."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], fail: set[int], error: Exception
    ) -> None:
        self.sessions = sessions
        self.fail = fail
        self.error = error
        self.opened = asyncio.Event()
        self.calls = 0

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        self.calls += 1
        number = self.calls
        if number == 1:
            await self.opened.wait()
        async with transaction(self.sessions) as session:
            yield session
            if number in self.fail:  # as an error at the last statement would
                raise self.error


@pytest.fixture
async def gated(
    engine: AsyncEngine, committed: async_sessionmaker[AsyncSession], clock: Clock
) -> AsyncIterator[Callable[..., Any]]:
    """make(fail=..., error=...) -> (client, gate, groups): an app writing single events through
    a Gate, one group at a time."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            fail: set[int] | None = None, error: Exception | None = None
        ) -> tuple[AsyncClient, Gate, EventGroups]:
            app = build_app(engine, committed, clock, event_groups_in_flight=1)
            gate = Gate(committed, fail or set(), error or RuntimeError())
            groups: EventGroups = app.state.event_groups
            groups.scope = gate
            client = AsyncClient(transport=ASGITransport(app=app), base_url="http://test")
            return await stack.enter_async_context(client), gate, groups

        yield make


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def behind_a_write(
    api: AsyncClient, gate: Gate, groups: EventGroups, writer: dict, first: dict, events: list
) -> tuple[Any, list[Any]]:
    """Post `first` and hold its write at the gate; post `events` meanwhile, queued in this
    order; open the gate. The answers to `first` and to `events`."""
    held = asyncio.create_task(api.post("/v1/events", json=first, headers=writer))
    await until(lambda: gate.calls == 1)
    tasks: list[asyncio.Task[Any]] = []
    for event in events:
        tasks.append(asyncio.create_task(api.post("/v1/events", json=event, headers=writer)))
        await until(lambda n=len(tasks): groups.waiting == n)
    gate.opened.set()
    return await held, [await task for task in tasks]


async def test_events_sent_during_a_write_are_written_together_each_with_its_own_answer(
    gated: Callable[..., Any], committed: async_sessionmaker[AsyncSession], headers: dict
) -> None:
    api, gate, groups = await gated()
    before = groups_written("together")
    amounts = [f"{10 * (k + 1)}.00" for k in range(10)]
    events = [order(f"e{k}", f"c{k}", amounts[k], days_ago=3 + k) for k in range(10)]
    first, rest = await behind_a_write(api, gate, groups, headers["writer"], events[0], events[1:])
    responses = [first, *rest]

    assert [r.status_code for r in responses] == [201] * 10
    assert [r.json()["client_id"] for r in responses] == [f"c{k}" for k in range(10)]
    assert [r.json()["id"] for r in responses] == [f"e{k}" for k in range(10)]
    count, total = groups_written("together")
    assert (count - before[0], total - before[1]) == (2, 10)  # e0 alone, then e1..e9 in one
    async with committed() as session:
        stored = {c.client_id: c for c in (await session.scalars(select(Client))).all()}
    for k, response in enumerate(responses):
        client = stored[f"c{k}"]
        assert str(client.lifetime_revenue) == amounts[k]
        # each answer is its own client's state as committed
        assert (response.json()["status"], response.json()["tier"]) == (client.status, client.tier)


async def test_a_group_stores_what_the_same_events_one_at_a_time_store(
    gated: Callable[..., Any], committed: async_sessionmaker[AsyncSession], headers: dict
) -> None:
    """Two clients, several events each, among them one client's events out of time order:
    grouped, the stored clients are those the single-event path leaves."""
    events = [
        order("a1", "alpha", "120.00", days_ago=200),
        order("a2", "alpha", "80.00", days_ago=20),
        order("b1", "beta", "45.00", days_ago=90),
        order("a0", "alpha", "60.00", days_ago=400),  # older than alpha's others
        order("b2", "beta", "55.00", days_ago=5),
    ]
    api, gate, groups = await gated()
    first, grouped = await behind_a_write(
        api, gate, groups, headers["writer"], order("x", "other"), events
    )
    assert first.status_code == 201
    assert [r.status_code for r in grouped] == [201] * len(events)
    async with committed() as session:
        together = {c.client_id: _state(c) for c in (await session.scalars(select(Client))).all()}
    # the same events again, one request after another, into clients of other ids
    for e in events:
        alone = {**e, "id": f"{e['id']}-alone", "client_id": f"{e['client_id']}-alone"}
        response = await api.post("/v1/events", json=alone, headers=headers["writer"])
        assert response.status_code == 201
    async with committed() as session:
        one_by_one = {
            c.client_id.removesuffix("-alone"): _state(c)
            for c in (await session.scalars(select(Client))).all()
            if c.client_id.endswith("-alone")
        }
    for name in ("alpha", "beta"):
        differing = {
            k: (v, one_by_one[name][k])
            for k, v in together[name].items()
            if one_by_one[name][k] != v
        }
        assert not differing, name


def _state(client: Client) -> dict[str, Any]:
    """What a client's evaluation stores, without its id and the moment it was evaluated."""
    # facts and attribute_times name the events (other ids here), created_at is the clock's
    skip = {"client_id", "created_at", "evaluated_at", "attribute_times", "facts"}
    return {
        column.key: getattr(client, column.key)
        for column in Client.__table__.columns
        if column.key not in skip
    }


async def test_repeats_of_one_id_in_a_group_are_a_duplicate_and_a_conflict(
    gated: Callable[..., Any], committed: async_sessionmaker[AsyncSession], headers: dict
) -> None:
    api, gate, groups = await gated()
    sent = [order("same", "acme"), order("same", "acme"), order("same", "acme", amount="99.00")]
    _, responses = await behind_a_write(
        api, gate, groups, headers["writer"], order("x", "other"), sent
    )
    assert [r.status_code for r in responses] == [201, 200, 409]
    assert responses[1].json()["duplicate"] is True
    assert responses[2].json()["type"].endswith("/problems/idempotency-conflict")
    async with committed() as session:
        assert (
            await session.scalar(select(func.count()).select_from(Event).where(Event.id == "same"))
            == 1
        )
        client = await session.get(Client, "acme")
    assert client is not None and client.orders_count == 1


async def test_a_failed_group_is_written_again_one_event_at_a_time(
    gated: Callable[..., Any], committed: async_sessionmaker[AsyncSession], headers: dict
) -> None:
    """Transaction 2 (the group of five) deadlocks at its last statement, and so does
    transaction 3 (the first of them written alone): that event's request gets the error (a
    503: retry), the other four are written, each in a transaction of its own, and answered
    201."""
    deadlock = asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
    api, gate, groups = await gated(fail={2, 3}, error=deadlock)
    before = groups_written("one_by_one")
    events = [order(f"f{k}", f"d{k}") for k in range(5)]
    first, responses = await behind_a_write(
        api, gate, groups, headers["writer"], order("x", "other"), events
    )
    assert first.status_code == 201
    assert [r.status_code for r in responses] == [503, 201, 201, 201, 201]
    assert gate.calls == 1 + 1 + 5  # the first, the failed group, each of its events alone
    count, total = groups_written("one_by_one")
    assert (count - before[0], total - before[1]) == (1, 5)
    async with committed() as session:
        ids = set((await session.scalars(select(Event.id))).all())
        clients = set((await session.scalars(select(Client.client_id))).all())
    assert ids == {"x", "f1", "f2", "f3", "f4"}  # f0's write failed: not stored, not acknowledged
    assert clients == {"other", "d1", "d2", "d3", "d4"}


async def test_once_the_database_is_out_of_reach_the_rest_of_a_group_fails_at_once(
    gated: Callable[..., Any], committed: async_sessionmaker[AsyncSession], headers: dict
) -> None:
    """The group's transaction and the first retry lose their connection: the other four are
    not tried one connect timeout after another; all five get a 503 and nothing is stored."""
    cut = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
    api, gate, groups = await gated(fail={2, 3}, error=cut)
    events = [order(f"f{k}", f"d{k}") for k in range(5)]
    first, responses = await behind_a_write(
        api, gate, groups, headers["writer"], order("x", "other"), events
    )
    assert first.status_code == 201
    assert [r.status_code for r in responses] == [503] * 5
    assert all(r.headers["retry-after"] == "2" for r in responses)
    assert gate.calls == 1 + 1 + 1  # the first, the group, one retry
    async with committed() as session:
        assert set((await session.scalars(select(Event.id))).all()) == {"x"}


async def test_a_caller_that_goes_away_does_not_undo_its_event(
    gated: Callable[..., Any], committed: async_sessionmaker[AsyncSession]
) -> None:
    _, gate, groups = await gated()
    async with committed() as session:
        snapshot = await load_snapshot(session)
    event = event_adapter.validate_python(order("gone", "leaver"))
    waiting = asyncio.create_task(groups.apply(event, snapshot, NOW))
    await until(lambda: gate.calls == 1)
    waiting.cancel()  # the client disconnected while its group was being written
    gate.opened.set()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await until(lambda: groups.waiting == 0 and groups.writing == 0)
    async with committed() as session:
        assert await session.get(Event, "gone") is not None  # committed with its group
        client = await session.get(Client, "leaver")
    assert client is not None and client.orders_count == 1
