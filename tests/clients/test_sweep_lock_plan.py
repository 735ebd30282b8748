"""The sweep's lock statement walks the due index in order and stops at its limit, whatever the
statistics say: after a refresh marks many clients due, they say almost none are."""

from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients import repository
from app.db import driver
from tests.clients.plans import prepared_plan
from tests.conftest import NOW

CLIENTS = 20_000


async def plan_of_lock(session: AsyncSession) -> list[dict[str, Any]]:
    return await prepared_plan(await driver(session), repository._LOCK_DUE, [NOW, 500])


async def test_the_sweep_lock_ignores_stale_statistics(session: AsyncSession) -> None:
    await session.execute(
        text(
            "INSERT INTO client (client_id, market, facts, status, cycle_days, cycle_source, "
            "policy_version, evaluated_at, next_review_at) "
            "SELECT 'c' || n, 'b2b', '{}', 'active', 30, 'default', 1, :now, "
            # review dates in no relation to where the rows lie, as a live table has them
            "CAST(:later AS timestamptz) "
            "+ make_interval(secs => (hashtext('r' || n) & 2147483647) % 5000000) "
            "FROM generate_series(1, :count) AS n"
        ),
        {"now": NOW, "later": NOW + timedelta(days=30), "count": CLIENTS},
    )
    # the statistics: 1 % are due (a sweep keeps up); then a refresh marks everyone due
    await session.execute(
        text("UPDATE client SET next_review_at = :due WHERE client_id LIKE 'c%77'"),
        {"due": NOW - timedelta(hours=1)},
    )
    await session.execute(text("ANALYZE client"))
    await session.execute(text("UPDATE client SET next_review_at = :now"), {"now": NOW})

    stale = await plan_of_lock(session)  # what the statistics alone lead to
    assert any(n["Node Type"] in ("Sort", "Incremental Sort") for n in stale), stale

    locked = await repository.lock_due(session, NOW, 500)
    assert len(locked) == 500
    swept = await plan_of_lock(session)  # in the sweep's transaction, after lock_due
    kinds = [n["Node Type"] for n in swept]
    assert "Sort" not in kinds and "Bitmap Heap Scan" not in kinds, kinds
    assert any(n.get("Index Name") == "ix_client_next_review_at" for n in swept), swept
