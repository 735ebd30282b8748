"""Backup and move (issue 11): `winback export` writes every stored event; `winback import` of
that file into an empty database gives every client back exactly as it was."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.cli import main
from app.config import get_settings
from app.demo import stories, synthetic
from app.worker import jobs
from tests.conftest import NOW
from tests.imports.helpers import empty

Headers = dict[str, dict[str, str]]


@pytest.fixture
def on_test_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WINBACK_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def every_client(api: AsyncClient, headers: Headers, ids: list[str]) -> dict[str, Any]:
    """Each client as GET /v1/clients/{id} serves it (evaluated at the tests' pinned now)."""
    out = {}
    for client_id in ids:
        response = await api.get(f"/v1/clients/{client_id}", headers=headers["reader"])
        assert response.status_code == 200, response.text
        out[client_id] = response.json()
        # rfm scores rank a client against the population's recency at the refresh: the import's
        # refresh runs at the real now, the API's above at the tests' pinned now
        out[client_id].pop("rfm", None)
    return out


async def test_export_then_import_into_an_empty_database_gives_every_client_back(
    tmp_path: Path,
    on_test_database: None,
    engine: AsyncEngine,
    committed: async_sessionmaker[AsyncSession],
    committed_api: AsyncClient,
    headers: Headers,
    capsys: pytest.CaptureFixture[str],
) -> None:
    history = [e for story in stories(NOW).values() for e in story] + synthetic(60, NOW, seed=3)
    for start in range(0, len(history), 1000):
        answer = await committed_api.post(
            "/v1/events/batch", json=history[start : start + 1000], headers=headers["writer"]
        )
        assert answer.status_code == 200 and answer.json()["rejected"] == 0
    patched = await committed_api.patch(
        "/v1/clients/northwind", json={"tags": ["key account"]}, headers=headers["writer"]
    )
    assert patched.status_code == 200
    # tiers as the worker makes them (the import ends with the same refresh and sweep)
    assert await jobs.refresh_population(committed, NOW)
    await jobs.sweep(committed, lambda: NOW)
    async with committed() as session:
        ids = sorted((await session.execute(text("SELECT client_id FROM client"))).scalars())
        stored = await session.scalar(text("SELECT count(*) FROM event"))
    before = await every_client(committed_api, headers, ids)

    backup = tmp_path / "backup.jsonl"
    await asyncio.to_thread(main, ["export", str(backup)])
    lines = backup.read_text().splitlines()
    assert len(lines) == stored == len(history) + 1  # every event, the PATCH's included
    assert "winback export: " in capsys.readouterr().err
    assert {json.loads(line)["id"] for line in lines} >= {e["id"] for e in history}

    await empty(engine)
    await asyncio.to_thread(main, ["import", str(backup)])
    after = await every_client(committed_api, headers, ids)
    for client_id in ids:
        differing = {
            k for k in before[client_id] if before[client_id][k] != after[client_id].get(k)
        }
        assert not differing, (
            client_id,
            {k: (before[client_id][k], after[client_id][k]) for k in differing},
        )
    # a second import of the same backup changes nothing
    await asyncio.to_thread(main, ["import", str(backup)])
    assert await every_client(committed_api, headers, ids) == before
