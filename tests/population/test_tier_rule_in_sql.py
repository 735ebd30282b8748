"""The tier rule lives in `app.tiers.assign`; the refresh marks moved clients with the same rule
in SQL (`TIER_CASE`). They must agree on every value, including the edges."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.population.repository import TIER_CASE
from app.tiers import Thresholds, assign

EDGES = ["0", "0.01", "99.99", "100.00", "100.01", "499.99", "500.00", "500.01", "1e6"]


async def sql_tiers(session: AsyncSession, values: list[Decimal], cut: Thresholds) -> list[str]:
    rows = ", ".join(f"({i}, CAST(:v{i} AS numeric))" for i in range(len(values)))
    statement = text(f"SELECT {TIER_CASE} FROM (VALUES {rows}) AS t(i, value) ORDER BY i")
    params = {f"v{i}": value for i, value in enumerate(values)}
    result = await session.execute(statement, {**params, "a_min": cut.a_min, "b_min": cut.b_min})
    return [row[0] for row in result]


async def test_sql_tier_rule_matches_assign_at_the_edges(session: AsyncSession) -> None:
    cut = Thresholds(a_min=Decimal("500.00"), b_min=Decimal("100.00"))
    values = [Decimal(v) for v in EDGES]
    assert await sql_tiers(session, values, cut) == [assign(v, cut) for v in values]


amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)


# the session only reads, so sharing it between examples is safe
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(amounts, min_size=1, max_size=20), a=amounts, b=amounts)
async def test_sql_tier_rule_matches_assign_everywhere(
    session: AsyncSession, values: list[Decimal], a: Decimal, b: Decimal
) -> None:
    cut = Thresholds(a_min=max(a, b), b_min=min(a, b))
    assert await sql_tiers(session, values, cut) == [assign(v, cut) for v in values]
