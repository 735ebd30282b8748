"""The overview's figures: kept `fresh_seconds`, then served while one refresh runs in a session
of its own, recomputed before answering once older than `stale_seconds`."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from app.ui.service import FiguresCache


class Figures:
    """Stands for the reports: counts how often they were computed, and in which session."""

    def __init__(self) -> None:
        self.computed: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def compute(self, session: Any) -> str:
        await self.gate.wait()
        self.computed.append(session)
        return f"figures #{len(self.computed)} ({session})"


@contextlib.asynccontextmanager
async def own_session() -> AsyncIterator[str]:
    yield "its own session"


async def test_fresh_figures_are_served_as_they_are() -> None:
    cache: FiguresCache[str] = FiguresCache(fresh_seconds=60)
    figures = Figures()
    first = await cache.get("request", own_session, figures.compute)  # type: ignore[arg-type]
    again = await cache.get("request", own_session, figures.compute)  # type: ignore[arg-type]
    assert first == again == "figures #1 (request)"
    assert figures.computed == ["request"]


async def test_stale_figures_are_served_while_one_refresh_runs() -> None:
    cache: FiguresCache[str] = FiguresCache(fresh_seconds=0, stale_seconds=900)
    figures = Figures()
    await cache.get("request", own_session, figures.compute)  # type: ignore[arg-type]
    figures.gate.clear()  # the refresh takes a while
    served = [
        await cache.get("request", own_session, figures.compute)  # type: ignore[arg-type]
        for _ in range(3)
    ]
    assert served == ["figures #1 (request)"] * 3  # nobody waits for the refresh
    figures.gate.set()
    await cache.settled()
    assert figures.computed == ["request", "its own session"]  # one refresh, not three
    after = await cache.get("request", own_session, figures.compute)  # type: ignore[arg-type]
    assert after == "figures #2 (its own session)"


async def test_figures_too_old_are_recomputed_before_answering() -> None:
    cache: FiguresCache[str] = FiguresCache(fresh_seconds=0, stale_seconds=0)
    figures = Figures()
    await cache.get("request", own_session, figures.compute)  # type: ignore[arg-type]
    second = await cache.get("request", own_session, figures.compute)  # type: ignore[arg-type]
    assert second == "figures #2 (request)"


async def test_a_failed_refresh_keeps_the_figures() -> None:
    cache: FiguresCache[str] = FiguresCache(fresh_seconds=0, stale_seconds=900)
    figures = Figures()
    await cache.get("request", own_session, figures.compute)  # type: ignore[arg-type]

    async def broken(session: Any) -> str:
        raise RuntimeError("the database went away")

    assert await cache.get("request", own_session, broken) == "figures #1 (request)"  # type: ignore[arg-type]
    await cache.settled()
    assert await cache.get("request", own_session, figures.compute) == "figures #1 (request)"  # type: ignore[arg-type]
