"""The per-process policy snapshot: served from memory within its TTL, reloaded after it, and
reloaded at once after this process changes the policy."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
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


def no_database() -> Any:
    """Sessions that must not be opened: the cache answers without a query."""
    raise AssertionError("the cache opened a session")


def sessions(session: AsyncSession) -> Any:
    """What the cache opens its session with: here the test's own (rolled back) session."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[AsyncSession]:
        yield session

    return opened


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> MonotonicClock:
    fake = MonotonicClock()
    monkeypatch.setattr(service, "time", fake)
    return fake


async def test_the_snapshot_is_served_from_memory_within_its_ttl_and_reloaded_after(
    session: AsyncSession, monotonic: MonotonicClock
) -> None:
    cache = SnapshotCache(ttl_seconds=2.0)
    first = await cache.get(sessions(session))
    loaded_at = monotonic.now
    await replace_policy(session, Policy(lost_cycles=5), "test", NOW)

    monotonic.now = loaded_at + 1.999
    assert await cache.get(no_database) is first

    monotonic.now = loaded_at + 2.0
    reloaded = await cache.get(sessions(session))
    assert (reloaded.version, reloaded.policy.lost_cycles) == (first.version + 1, 5)

    # the reload starts a new window
    monotonic.now += 1.5
    assert await cache.get(no_database) is reloaded


async def test_invalidate_reloads_at_once(session: AsyncSession, monotonic: MonotonicClock) -> None:
    cache = SnapshotCache(ttl_seconds=60.0)
    first = await cache.get(sessions(session))
    await replace_policy(session, Policy(currency="USD"), "test", NOW)
    cache.invalidate()
    reloaded = await cache.get(sessions(session))  # same instant, well within the TTL
    assert (reloaded.version, reloaded.policy.currency) == (first.version + 1, "USD")


async def test_a_zero_ttl_reads_the_policy_every_time(
    session: AsyncSession, monotonic: MonotonicClock
) -> None:
    cache = SnapshotCache(ttl_seconds=0)
    first = await cache.get(sessions(session))
    await replace_policy(session, Policy(lost_cycles=4), "test", NOW)
    assert (await cache.get(sessions(session))).version == first.version + 1


async def test_requests_that_find_it_stale_at_once_share_one_read(
    session: AsyncSession, monotonic: MonotonicClock
) -> None:
    cache = SnapshotCache(ttl_seconds=2.0)
    opened = 0

    @contextlib.asynccontextmanager
    async def slow_sessions() -> AsyncIterator[AsyncSession]:
        nonlocal opened
        opened += 1
        await asyncio.sleep(0.05)  # the others arrive while this read is under way
        yield session

    first = await cache.get(slow_sessions)
    monotonic.now += 2.0
    await replace_policy(session, Policy(lost_cycles=5), "test", NOW)
    reloaded = await asyncio.gather(*(cache.get(slow_sessions) for _ in range(5)))
    assert opened == 2  # the first load, then one for the five
    assert all(snapshot is reloaded[0] for snapshot in reloaded)
    assert reloaded[0].version == first.version + 1
