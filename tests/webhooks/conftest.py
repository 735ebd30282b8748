"""Outgoing webhook tests: a real local receiver, an API and workers that may reach it (http and
127.0.0.1 let through, as a development setup would), and a clock the tests move."""

import random
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.webhooks.crypto import sealing_key
from app.webhooks.delivery import Deliverer, Sender
from app.webhooks.service import guard_of
from app.webhooks.transport import Resolver, system_resolver
from tests.conftest import NOW, Clock, build_app
from tests.conftest import test_settings as settings_with
from tests.webhooks.receiver import Receiver

Headers = dict[str, dict[str, str]]
# what a developer sets to receive webhooks on their own machine
DEVELOPMENT = {"webhook_allow_http": True, "webhook_allowed_networks": "127.0.0.1/32"}
# seals the endpoints' secrets in these tests, in-process and in the processes they start (no
# key file is written in the data directory)
TEST_SECRET_KEY = "test-secret-key-" + "s" * 32
WEBHOOK_TABLES = (
    "webhook_attempt",
    "webhook_delivery",
    "webhook_queue",
    "webhook_event",
    "webhook_endpoint",
)


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every Settings these tests build reads it (the fields they do not set come from the
    environment)."""
    monkeypatch.setenv("WINBACK_SECRET_KEY", TEST_SECRET_KEY)
    return TEST_SECRET_KEY


@pytest.fixture
async def committed(
    committed: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The suite's `committed` (real commits, data tables emptied after), the webhook tables
    emptied too."""
    yield committed
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(WEBHOOK_TABLES)}"))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
async def hooks_api(
    engine: AsyncEngine,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    keys: dict[str, str],
) -> AsyncIterator[AsyncClient]:
    """An API whose requests commit, with the development rules for webhook URLs."""
    app = build_app(engine, committed, clock, **DEVELOPMENT)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


def deliverer(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    resolve: Resolver = system_resolver,
    **settings: Any,
) -> Deliverer:
    """A worker's delivery pipeline on the test clock (the signatures' timestamps stay real),
    with the development rules unless `settings` say otherwise, and a DNS of the test's."""
    configured = settings_with(**{**DEVELOPMENT, **settings})
    sender = Sender(
        guard_of(configured),
        sealing_key(configured),
        configured.webhook_connect_timeout_seconds,
        configured.webhook_timeout_seconds,
        resolve,
    )
    return Deliverer(sessionmaker, configured, lambda: clock.now, sender, random.Random(7))


async def register(
    api: AsyncClient, headers: Headers, url: str, types: list[str] | None = None
) -> tuple[str, str]:
    """A new endpoint: (id, secret)."""
    body = {"url": url, "event_types": types or ["client.status_changed"]}
    response = await api.post("/v1/webhook-endpoints", json=body, headers=headers["admin"])
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["secret"]


def order(client_id: str, number: int, days_ago: float, amount: str = "100.00") -> dict[str, Any]:
    return {
        "id": f"{client_id}-o{number}",
        "type": "order.placed",
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "client_id": client_id,
        "data": {"order_id": f"{client_id}-{number}", "amount": amount},
    }


async def post(api: AsyncClient, headers: Headers, *events: dict[str, Any]) -> None:
    response = await api.post("/v1/events/batch", json=list(events), headers=headers["writer"])
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text
