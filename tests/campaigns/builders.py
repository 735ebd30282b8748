"""A small population for campaign tests: clients with known statuses, tiers, markets, managers,
signals and contacts at the tests' NOW, posted through the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.history import History, days_ago
from app.population import repository as population_repository
from app.tiers import Thresholds
from tests.conftest import NOW

Headers = dict[str, dict[str, str]]

# Tier cut points as the worker would store them: b2b A from 5,000, B from 1,000; b2c A from 500.
THRESHOLDS = {
    "b2b": Thresholds(a_min=Decimal(5000), b_min=Decimal(1000)),
    "b2c": Thresholds(a_min=Decimal(500), b_min=Decimal(100)),
}


def buyer(
    client_id: str,
    last_order_days_ago: float,
    amount: str,
    *,
    market: str = "b2b",
    manager_id: str | None = "m-1",
    orders: int = 4,
    cycle: float = 30,
    **attributes: Any,
) -> History:
    """`orders` orders `cycle` days apart, the last one `last_order_days_ago` days before NOW."""
    client: dict[str, Any] = {"name": f"Client {client_id}", "market": market, **attributes}
    if manager_id is not None:
        client["manager_id"] = manager_id
    if market == "b2c":
        client.setdefault("email", f"{client_id}@example.test")
    history = History(client_id, days_ago(NOW), client)
    for k in reversed(range(orders)):
        history.order(last_order_days_ago + k * cycle, amount, f"{client_id}-o{k}")
    return history


def population() -> dict[str, History]:
    """Cycle 30 days everywhere: at risk from 45 days without an order, lost from 90."""
    clients = {
        # lost, tier A (4 x 3,000 = 12,000), b2b, manager m-1, lost 110 days ago
        "lost-a1": buyer("lost-a1", 200, "3000.00"),
        # lost, tier A, b2b, manager m-2, lost 20 days ago
        "lost-a2": buyer("lost-a2", 110, "3000.00", manager_id="m-2"),
        # lost, tier B (4 x 500 = 2,000), b2b
        "lost-b": buyer("lost-b", 150, "500.00"),
        # lost, tier C (4 x 100), b2b: let go
        "lost-c": buyer("lost-c", 150, "100.00"),
        # lost, tier A, but do_not_contact
        "lost-dnc": buyer("lost-dnc", 150, "3000.00", do_not_contact=True),
        # lost, tier A in b2c (4 x 200 = 800 >= 500)
        "lost-b2c": buyer("lost-b2c", 150, "200.00", market="b2c", manager_id=None),
        # at risk (lapsed, 60 days: 2 cycles), tier A
        "risk-a": buyer("risk-a", 60, "3000.00"),
        # active, tier A
        "active-a": buyer("active-a", 5, "3000.00"),
    }
    # lost tier A, three unanswered calls after its last order: unresponsive; last contact 70 days
    unresponsive = buyer("lost-unresp", 130, "3000.00")
    for days in (90, 80, 70):
        unresponsive.contact(days, "no_answer")
    clients["lost-unresp"] = unresponsive
    # lost tier A, reached 5 days ago (recently contacted)
    touched = buyer("lost-touched", 140, "3000.00")
    touched.contact(5, "reached")
    clients["lost-touched"] = touched
    return clients


async def post_events(api: AsyncClient, headers: Headers, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 1000):
        response = await api.post(
            "/v1/events/batch", json=events[start : start + 1000], headers=headers["writer"]
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.text


async def load(
    api: AsyncClient, headers: Headers, session: AsyncSession, histories: dict[str, History]
) -> None:
    await population_repository.save(session, THRESHOLDS, len(histories), {}, NOW)
    events = [event for history in histories.values() for event in history.in_time_order()]
    await post_events(api, headers, events)
