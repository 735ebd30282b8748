"""`winback demo` loads a history in which every status, signal and decision is present, and says
how many clients it really loaded."""

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.demo import DEMO_CLIENTS, DEMO_SEED, load_demo, stories, synthetic
from app.domain import DECISIONS, SIGNAL_CODES, STATUSES
from tests.conftest import NOW


async def test_demo_shows_every_status_signal_and_decision(
    database_url: str, committed: async_sessionmaker[AsyncSession]
) -> None:
    summary = await load_demo(database_url, clients=800, seed=7, now=NOW)
    async with committed() as session:

        async def values(sql: str) -> set[Any]:
            return {row[0] for row in await session.execute(text(sql))}

        # the summary counts what is in the database: every generated client plus the 3 stories
        assert summary.clients == await session.scalar(text("SELECT count(*) FROM client")) == 803
        assert summary.events == await session.scalar(text("SELECT count(*) FROM event"))
        assert str(summary).startswith(f"winback demo: 803 clients, {summary.events:,} events")
        assert sum(summary.by_status.values()) == sum(summary.by_decision.values()) == 803

        assert await values("SELECT DISTINCT status FROM client") == set(STATUSES)
        assert await values("SELECT DISTINCT unnest(signals) FROM client") == set(SIGNAL_CODES)
        assert await values("SELECT DISTINCT decision FROM client") == set(DECISIONS)
        assert await values("SELECT DISTINCT tier FROM client WHERE orders_count > 0") == {
            "A",
            "B",
            "C",
        }
        assert await values("SELECT DISTINCT market FROM client") == {"b2b", "b2c"}

    # a second run stores nothing new and still reports the clients that are there
    again = await load_demo(database_url, clients=800, seed=7, now=NOW)
    assert (again.clients, again.events, again.already_there) == (803, 0, summary.events)
    assert "were already there" in str(again)


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_every_generated_client_has_a_history(seed: int) -> None:
    # a client without events is never created: `--clients N` must mean N clients
    assert len({e["client_id"] for e in synthetic(3000, NOW, seed)}) == 3000


def test_the_default_demo_history_is_pinned() -> None:
    # `winback demo` with default arguments loads exactly these events (ids, amounts, times
    # relative to now): the README's plans and tier cut points are computed on them. A deliberate
    # change to the demo's history updates this hash, the golden plans and the README together.
    text = json.dumps(stories(NOW)) + json.dumps(synthetic(DEMO_CLIENTS, NOW, DEMO_SEED))
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest == "c7d38d7574a5afd77e96d4b5955bf3492b51b96ae06ba736ea937fbc5bc555b1"
