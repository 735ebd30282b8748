"""The dashboard in a real headless browser (Debian's chromium driven by Playwright): the real
app served by uvicorn on a free port against the test database, signed in with a real key.
Screenshots go to .ui-artifacts/browser/. Skipped only when no chromium is installed and the run
is not CI (`.ci/run` installs chromium and sets CI=true, so there it always runs)."""

import os
import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.main import create_app
from tests import conftest
from tests.campaigns.builders import THRESHOLDS, population, post_events
from tests.conftest import NOW, ROOT
from tests.ui.conftest import SECRET
from tests.ui.tour import find_chromium, prepare, tour

ARTIFACTS = ROOT / ".ui-artifacts" / "browser"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(database_url: str) -> Iterator[str]:
    """The real app (its own engine and pool, the worker off) on a free port, in a thread."""
    port = _free_port()
    app = create_app(conftest.test_settings(secret_key=SECRET), database_url)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


async def test_a_manager_signs_in_filters_and_reads_a_plan(
    committed_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    headers: dict[str, dict[str, str]],
    keys: dict[str, str],
    served: str,
) -> None:
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: install Debian's chromium")
        pytest.skip("no chromium found (apt-get install chromium); CI always runs this test")
    from playwright.async_api import async_playwright

    from app.population import repository as population_repository

    async with committed() as session, session.begin():
        await population_repository.save(session, THRESHOLDS, 10, {}, NOW)
    events = [e for history in population().values() for e in history.in_time_order()]
    await post_events(committed_api, headers, events)
    campaign = await committed_api.post(
        "/v1/campaigns",
        json={"id": "cmp_browser", "name": "Lost, browser test", "segment": {"status": ["lost"]}},
        headers=headers["campaigns"],
    )
    assert campaign.status_code == 201, campaign.text

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin"
            )
            page = await context.new_page()
            seen = await tour(
                page, served, keys["reader"], prepare(ARTIFACTS), "lost-a1", "cmp_browser"
            )
        finally:
            await browser.close()
    assert seen["value_at_risk"].startswith("€")
    assert int(seen["listed"]) >= 5
    assert int(seen["steps"]) >= 2
    for name in ("sign-in", "overview", "clients", "client", "campaign", "policy"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5_000
