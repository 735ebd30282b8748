"""`winback demo` loads a history in which every status, signal and decision is present."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.churn.engine import SIGNAL_CODES, STATUSES
from app.demo import load_demo
from app.plans import DECISIONS
from tests.conftest import NOW


async def test_demo_shows_every_status_signal_and_decision(
    database_url: str, committed: async_sessionmaker[AsyncSession]
) -> None:
    summary = await load_demo(database_url, clients=800, seed=7, now=NOW)
    assert "winback demo:" in summary
    async with committed() as session:

        async def values(sql: str) -> set[Any]:
            return {row[0] for row in await session.execute(text(sql))}

        assert await values("SELECT DISTINCT status FROM client") == set(STATUSES)
        assert await values("SELECT DISTINCT unnest(signals) FROM client") == set(SIGNAL_CODES)
        assert await values("SELECT DISTINCT decision FROM client") == set(DECISIONS)
        assert await values("SELECT DISTINCT tier FROM client WHERE orders_count > 0") == {
            "A",
            "B",
            "C",
        }
        assert await values("SELECT DISTINCT market FROM client") == {"b2b", "b2c"}
