"""Screenshots of every dashboard page for docs/screenshots/, taken from a running server with
the demo's data (the same walk as the browser test):

    ./dev demo && ./dev serve                       # in one terminal
    .venv/bin/python -m tests.ui.screenshots --url http://127.0.0.1:8000 --key "$KEY"

`--key` (or WINBACK_UI_KEY) is any key with `clients:read`; the pages are the demo's northwind
client and the demo campaign."""

import argparse
import asyncio
import os
from pathlib import Path

from app.demo import DEMO_CAMPAIGN_ID
from tests.ui.tour import find_chromium, prepare, tour

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def main(url: str, key: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no chromium: apt-get install chromium (or set WINBACK_CHROMIUM)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 860}, timezone_id="UTC"
            )
            page = await context.new_page()
            seen = await tour(
                page, url.rstrip("/"), key, prepare(out), "northwind", DEMO_CAMPAIGN_ID
            )
        finally:
            await browser.close()
    print(f"screenshots in {out}: {seen}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", default=os.environ.get("WINBACK_UI_KEY"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.key:
        parser.error("--key or WINBACK_UI_KEY: an API key with clients:read")
    asyncio.run(main(args.url, args.key, args.out))
