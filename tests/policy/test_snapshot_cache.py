"""The per-process policy snapshot: served from memory within its TTL, reloaded after it, and
reloaded at once after this process changes the policy."""

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.policy import service
from app.policy.schemas import Policy
from app.policy.service import SnapshotCache, replace_policy
from tests.conftest import NOW


class MonotonicClock:
    """Stands in for the `time` module in app.policy.service: only the cache sees it."""

    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now


class NoDatabase:
    """A session that must not be used: the cache answers without a query."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the cache touched the database ({name})")


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> MonotonicClock:
    fake = MonotonicClock()
    monkeypatch.setattr(service, "time", fake)
    return fake


async def test_the_snapshot_is_served_from_memory_within_its_ttl_and_reloaded_after(
    session: AsyncSession, monotonic: MonotonicClock
) -> None:
    cache = SnapshotCache(ttl_seconds=2.0)
    first = await cache.get(session)
    loaded_at = monotonic.now
    await replace_policy(session, Policy(lost_cycles=5), "test", NOW)

    monotonic.now = loaded_at + 1.999
    assert await cache.get(NoDatabase()) is first  # type: ignore[arg-type]

    monotonic.now = loaded_at + 2.0
    reloaded = await cache.get(session)
    assert (reloaded.version, reloaded.policy.lost_cycles) == (first.version + 1, 5)

    # the reload starts a new window
    monotonic.now += 1.5
    assert await cache.get(NoDatabase()) is reloaded  # type: ignore[arg-type]


async def test_invalidate_reloads_at_once(session: AsyncSession, monotonic: MonotonicClock) -> None:
    cache = SnapshotCache(ttl_seconds=60.0)
    first = await cache.get(session)
    await replace_policy(session, Policy(currency="USD"), "test", NOW)
    cache.invalidate()
    reloaded = await cache.get(session)  # same instant, well within the TTL
    assert (reloaded.version, reloaded.policy.currency) == (first.version + 1, "USD")


async def test_a_zero_ttl_reads_the_policy_every_time(
    session: AsyncSession, monotonic: MonotonicClock
) -> None:
    cache = SnapshotCache(ttl_seconds=0)
    first = await cache.get(session)
    await replace_policy(session, Policy(lost_cycles=4), "test", NOW)
    assert (await cache.get(session)).version == first.version + 1
