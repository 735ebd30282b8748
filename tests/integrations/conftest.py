"""An HTTP client whose app has webhook secrets configured (Shopify: an old and a new one, as
during a rotation), sharing the test's rolled-back transaction like the `api` fixture."""

import contextlib
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import get_session
from tests.conftest import Clock, build_app
from tests.integrations.payloads import SHOPIFY_OLD_SECRET, SHOPIFY_SECRET, WOO_SECRET


@pytest.fixture
async def hooks(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    clock: Clock,
) -> AsyncIterator[AsyncClient]:
    app = build_app(
        engine,
        sessionmaker,
        clock,
        shopify_webhook_secrets=f"{SHOPIFY_OLD_SECRET},{SHOPIFY_SECRET}",
        woocommerce_webhook_secrets=WOO_SECRET,
    )

    @contextlib.asynccontextmanager
    async def shared_session() -> AsyncIterator[AsyncSession]:
        async with session.begin_nested():
            yield session

    async def request_session() -> AsyncIterator[AsyncSession]:
        async with shared_session() as shared:
            yield shared

    app.dependency_overrides[get_session] = request_session
    app.state.sessionmaker = shared_session
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
