"""An HTTP client whose app has webhook secrets configured (Shopify: an old and a new one, as
during a rotation), sharing the test's rolled-back transaction like the `api` fixture."""

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import Clock, build_app, share_session
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

    share_session(app, session)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
