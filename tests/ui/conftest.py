"""The dashboard over ASGI: a client whose requests share the test's rolled-back transaction (like
`api`), with a fixed secret key, and a helper that signs in through the form as a browser does."""

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import Clock, build_app, share_session

SECRET = "ui-tests-secret-key-0123456789abcdef"
ADMIN_KEY = "env-admin-key-for-ui-tests-0123456789"

SignIn = Callable[[AsyncClient, str], Awaitable[None]]


@pytest.fixture
async def ui_app(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    clock: Clock,
    keys: dict[str, str],
) -> AsyncIterator[object]:
    yield share_session(
        build_app(engine, sessionmaker, clock, secret_key=SECRET, admin_key=ADMIN_KEY), session
    )


@pytest.fixture
async def browser(ui_app: object) -> AsyncIterator[AsyncClient]:
    """A cookie-keeping client (the browser); `api` shares the same data."""
    transport = ASGITransport(app=ui_app)  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def other_browser(ui_app: object) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=ui_app)  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def ui_api(ui_app: object) -> AsyncIterator[AsyncClient]:
    """The API of the same app, for loading data and comparing answers."""
    transport = ASGITransport(app=ui_app)  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def form_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


async def sign_in(client: AsyncClient, key: str, next_path: str = "/ui") -> None:
    page = await client.get("/ui/sign-in", params={"next": next_path})
    assert page.status_code == 200
    response = await client.post(
        "/ui/sign-in",
        data={"key": key, "next": next_path, "form_token": form_value(page.text, "form_token")},
    )
    assert response.status_code == 303, response.text
