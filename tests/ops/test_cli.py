"""The operator's commands, in-process on the test database: `keys create/list/revoke`, what a
second `serve` says about existing keys, `db reset`'s confirmation, and both help texts."""

import asyncio
import contextlib
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.auth.service import digest, find
from app.cli import _first_admin_key, main
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker
from app.migrate import upgrade
from tests.conftest import ROOT, _recreate_database

Cli = Callable[..., str]


@pytest.fixture
async def fresh_database_url(server_url: str, worker_name: str) -> str:
    """An empty, migrated database of its own: no API keys yet."""
    url = await _recreate_database(server_url, f"{worker_name}_cli")
    await upgrade(url)
    return url


@contextlib.contextmanager
def cli_on(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    """`winback ...` in-process with WINBACK_DATABASE_URL=url; returns what it printed."""
    with monkeypatch.context() as env:
        env.setenv("WINBACK_DATABASE_URL", url)
        env.delenv("WINBACK_ADMIN_KEY", raising=False)
        get_settings.cache_clear()

        def run(*argv: str) -> str:
            capsys.readouterr()
            main(list(argv))
            return capsys.readouterr().out

        try:
            yield run
        finally:
            get_settings.cache_clear()


@pytest.fixture
def cli(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    with cli_on(database_url, monkeypatch, capsys) as run:
        yield run


def authenticates(url: str, key: str) -> bool:
    async def check() -> bool:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await find(session, key, None) is not None
        finally:
            await engine.dispose()

    return asyncio.run(check())


def row_of(listing: str, key_id: str) -> list[str]:
    rows = [line.split() for line in listing.splitlines() if line.startswith(key_id)]
    assert len(rows) == 1, listing
    return rows[0]


def test_keys_create_list_and_revoke(cli: Cli, database_url: str) -> None:
    created = cli("keys", "create", "--scopes", "events:write", "clients:read", "--name", "shop")
    found = re.fullmatch(
        r"key id (\w+), scopes clients:read,events:write \(shown once\):\n(wbk_\S+)\n", created
    )
    assert found, created
    key_id, key = found.groups()
    assert authenticates(database_url, key)

    listing = cli("keys", "list")
    assert re.split(r"\s{2,}", listing.splitlines()[0]) == [
        "id",
        "name",
        "scopes",
        "created (UTC)",
        "revoked (UTC)",
    ]
    # id, name, scopes, created (date and time), revoked: "-"
    row = row_of(listing, key_id)
    assert (row[1], row[2], row[5]) == ("shop", "clients:read,events:write", "-")
    assert key not in listing and digest(key) not in listing  # never the key nor its hash

    assert cli("keys", "revoke", key_id) == f"revoked {key_id}\n"
    assert not authenticates(database_url, key)
    assert len(row_of(cli("keys", "list"), key_id)) == 7  # now with the revocation's date, time

    with pytest.raises(SystemExit, match=f"no active key {key_id}"):
        cli("keys", "revoke", key_id)
    with pytest.raises(SystemExit, match="no active key nope"):
        cli("keys", "revoke", "nope")


def test_keys_create_rejects_an_unknown_scope(cli: Cli) -> None:
    with pytest.raises(SystemExit, match="scopes must be among"):
        cli("keys", "create", "--scopes", "everything")


def test_a_second_serve_says_an_admin_key_exists_and_how_to_get_another(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=fresh_database_url)
    key, notice = asyncio.run(_first_admin_key(fresh_database_url, settings))
    assert key and notice is None  # the first start makes the key it prints once

    key, notice = asyncio.run(_first_admin_key(fresh_database_url, settings))
    assert key is None
    assert notice == (
        "winback: an admin API key already exists (it was shown once); lost it? "
        "`winback keys create --scopes admin` prints a new one"
    )

    with cli_on(fresh_database_url, monkeypatch, capsys) as cli:
        (admin_id,) = [line.split()[0] for line in cli("keys", "list").splitlines()[1:]]
        cli("keys", "create", "--scopes", "clients:read")
        cli("keys", "revoke", admin_id)
    key, notice = asyncio.run(_first_admin_key(fresh_database_url, settings))
    assert key is None
    assert notice == (
        "winback: no active admin API key; `winback keys create --scopes admin` prints one"
    )

    with_env_key = Settings(database_url=fresh_database_url, admin_key="from-the-environment")
    assert asyncio.run(_first_admin_key(fresh_database_url, with_env_key)) == (None, None)


def test_db_reset_wants_a_yes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WINBACK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        (tmp_path / "pgdata").mkdir()
        with pytest.raises(SystemExit, match="run it again with --yes"):
            main(["db", "reset"])
        assert (tmp_path / "pgdata").exists()
        main(["db", "stop"])
        assert "is not running" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()


def test_winback_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "worker", "migrate", "keys", "db", "demo", "openapi"):
        assert re.search(rf"^    {command} ", out, re.MULTILINE), out
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--clients N" in out and "synthetic clients to generate" in out
    assert "--seed" in out and "random seed" in out


def test_dev_help_lists_the_scripts_commands() -> None:
    done = subprocess.run(
        [str(ROOT / "dev"), "--help"], capture_output=True, text=True, timeout=10, check=True
    )
    for command in ("serve", "test", "lint", "demo", "keys create", "keys list", "db reset"):
        assert re.search(rf"^  {command}\b", done.stdout, re.MULTILINE), done.stdout
