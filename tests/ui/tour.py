"""A walk through the dashboard in a real browser (Playwright driving the system's chromium):
sign in, overview, a filtered client list, a client page with its plan, campaigns, policy.
The browser test runs it against the test database; `python -m tests.ui.screenshots` against a
running server with the demo's data, for docs/screenshots/."""

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find_chromium() -> str | None:
    """Debian's chromium (`apt-get install chromium`), or WINBACK_CHROMIUM."""
    configured = os.environ.get("WINBACK_CHROMIUM")
    if configured and Path(configured).exists():
        return configured
    for path in CHROMIUM_PATHS:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


def prepare(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return out


async def shot(page: Any, out: Path, name: str) -> None:
    await page.screenshot(path=str(out / f"{name}.png"), full_page=True)


async def tour(
    page: Any,
    base: str,
    key: str,
    out: Path,
    client_id: str,
    campaign_id: str | None,
    status: str = "lost",
) -> dict[str, str]:
    """Walks the pages and checks what a manager relies on; returns what it read on the way."""
    seen: dict[str, str] = {}
    await page.goto(f"{base}/ui")
    assert "/ui/sign-in" in page.url  # not signed in: sent to the form
    await shot(page, out, "sign-in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/ui")
    await page.get_by_role("heading", name="Overview").wait_for()
    seen["value_at_risk"] = await page.locator(".tile.risk .tile-value").inner_text()
    await shot(page, out, "overview")

    await page.get_by_role("link", name="Clients", exact=True).click()
    await page.get_by_role("heading", name="Clients").wait_for()
    await page.get_by_label(status.replace("_", " "), exact=True).check()
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(f"**/ui/clients?*status={status}*")
    badges = await page.locator("table.clients tbody .badge[class*='status-']").all_inner_texts()
    assert badges and set(badges) == {status.replace("_", " ")}, badges
    seen["listed"] = str(len(badges))
    await shot(page, out, "clients")

    await page.goto(f"{base}/ui/clients/{client_id}")
    await page.get_by_role("heading", name="Steps").wait_for()
    steps = await page.locator("ol.steps li").count()
    assert steps > 0
    seen["steps"] = str(steps)
    assert await page.locator("svg.chart circle.order").count() > 0
    # dates were rewritten in the browser's time zone by ui.js, UTC kept on hover (title)
    localized = page.locator("time.localized")
    assert await localized.count() > 0
    assert (await localized.first.get_attribute("title") or "").endswith("UTC")
    await shot(page, out, "client")

    await page.get_by_role("link", name="Campaigns", exact=True).click()
    await page.get_by_role("heading", name="Campaigns").wait_for()
    await shot(page, out, "campaigns")
    if campaign_id:
        await page.goto(f"{base}/ui/campaigns/{campaign_id}")
        await page.get_by_role("heading", name="Results").wait_for()
        await shot(page, out, "campaign")

    await page.get_by_role("link", name="Policy", exact=True).click()
    await page.get_by_role("heading", name="Policy").wait_for()
    await shot(page, out, "policy")

    # a phone-sized screen: the client list still reads, nothing needs a wider screen to use
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{base}/ui/clients?status={status}")
    await shot(page, out, "clients-phone")
    return seen
