"""An error no handler expected is still a problem document, answered (not re-raised to the
server, which would drop the keep-alive connection); a database out of reach is a 503 with
Retry-After, and nothing was stored (issue 11)."""

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import get_session
from tests.conftest import Clock, build_app

Headers = dict[str, dict[str, str]]


async def test_an_unexpected_error_is_a_500_problem_and_the_app_does_not_raise(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    app = build_app(engine, sessionmaker, clock)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    # raise_app_exceptions=True: the test fails if the exception escapes the app
    transport = ASGITransport(app=app, raise_app_exceptions=True)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/problems/internal-error")
    assert "a bug" not in response.text  # never a stack trace or an exception text


async def test_a_database_out_of_reach_is_a_503_with_retry_after(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
) -> None:
    app = build_app(engine, sessionmaker, clock)

    async def unreachable() -> AsyncIterator[AsyncSession]:
        raise ConnectionRefusedError(111, "connect call failed")
        yield  # pragma: no cover

    app.dependency_overrides[get_session] = unreachable
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/v1/stats", headers=headers["reader"])
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["type"].endswith("/problems/service-unavailable")


async def test_a_connection_killed_mid_request_is_a_503(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
) -> None:
    app = build_app(engine, sessionmaker, clock)

    async def killed() -> AsyncIterator[AsyncSession]:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
        yield  # pragma: no cover

    app.dependency_overrides[get_session] = killed
    app.state.event_groups.scope = contextlib.asynccontextmanager(killed)  # the event's write
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post(
            "/v1/events",
            json={
                "id": "e1",
                "type": "client.churned",
                "occurred_at": "2026-01-01T00:00:00Z",
                "client_id": "acme",
            },
            headers=headers["writer"],
        )
    assert response.status_code == 503, response.text
    assert "retry-after" in response.headers
