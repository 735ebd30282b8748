"""The embedded PostgreSQL is shared by the processes that use it and stopped by the last one
out: one that exits while another still uses it leaves it running, one killed without notice does
not keep it alive, `db stop` will not pull it from under a user, `db reset` deletes it."""

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import embedded
from tests.conftest import ROOT
from tests.ops.test_serve import embedded_env, postgres_processes, stop_postmaster

# a process that starts (or joins) the server, says so, and uses it until its stdin closes
USER = (
    "import pathlib, sys; from app import embedded; "
    "print(embedded.start(pathlib.Path(sys.argv[1])), flush=True); sys.stdin.read()"
)


class User:
    def __init__(self, data_dir: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-W", "always", "-c", USER, str(data_dir)],
            cwd=ROOT,
            env=embedded_env(data_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline()
        assert self.url.startswith("postgresql://"), self.process.communicate(timeout=30)

    def exit(self) -> str:
        """Exit normally; returns what it wrote to stderr."""
        stderr = self.process.communicate("", timeout=60)[1]
        assert self.process.returncode == 0, stderr
        return stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("embedded") / "data"
    yield path
    stop_postmaster(path / "pgdata")  # only if a test failed with it running


def running(data_dir: Path) -> bool:
    return bool(postgres_processes(data_dir / "pgdata"))


def test_the_last_user_out_stops_it(data_dir: Path) -> None:
    first = User(data_dir)
    second = User(data_dir)
    assert running(data_dir) and first.url == second.url
    second.exit()
    assert running(data_dir), "stopped while the first process still used it"
    stderr = first.exit()
    assert not running(data_dir)
    # the runtime directory it needs is a private one of its own: no warning, nothing leaked
    assert "RuntimeDirWarning" not in stderr and "XDG_RUNTIME_DIR" not in stderr, stderr
    assert (data_dir / "run").stat().st_mode & 0o777 == 0o700


def test_a_killed_user_does_not_keep_it_running(data_dir: Path) -> None:
    killed = User(data_dir)
    killed.process.kill()
    killed.process.wait(timeout=10)
    assert running(data_dir)  # no one said it was done with it
    User(data_dir).exit()  # the next one out finds the killed one gone
    assert not running(data_dir)


def test_db_stop_waits_for_its_users_and_db_reset_deletes_it(data_dir: Path) -> None:
    user = User(data_dir)
    with pytest.raises(embedded.InUseError, match=f"in use by process {user.process.pid}"):
        embedded.stop(data_dir)
    assert running(data_dir)
    assert embedded.stop(data_dir, force=True)
    assert not running(data_dir)
    assert not embedded.stop(data_dir)  # not running: nothing to do
    user.exit()

    env = embedded_env(data_dir)
    user = User(data_dir)  # starts it again
    refused = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "reset", "--yes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "in use by process" in refused.stderr
    user.exit()
    assert not running(data_dir)

    reset = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "reset", "--yes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.startswith(f"winback: deleted the embedded database in {data_dir}/pgdata")
    assert not (data_dir / "pgdata").exists()


def start_worker(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=ROOT,
        env=embedded_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_to_the_worker_stops_it_too(data_dir: Path) -> None:
    worker = start_worker(data_dir)
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().startswith("winback: embedded PostgreSQL, data in")
        assert running(data_dir)
        time.sleep(0.5)  # migrating on a slow machine, or in its loop: SIGTERM stops either
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
        assert worker.returncode == 128 + signal.SIGTERM, output
        assert not running(data_dir), output
    finally:
        if worker.poll() is None:
            worker.kill()


# holds the migration lock of app.migrate until its stdin closes; says when a migrator waits on it
MIGRATION_LOCK_HOLDER = """
import asyncio, sys, asyncpg
async def main():
    connection = await asyncpg.connect(sys.argv[1])
    await connection.execute("SELECT pg_advisory_lock(7302119)")
    print("locked", flush=True)
    while not await connection.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ):
        await asyncio.sleep(0.05)
    print("a migrator waits", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


def test_sigterm_while_the_worker_waits_to_migrate_stops_it_cleanly(data_dir: Path) -> None:
    # several processes starting together migrate one at a time; one told to stop meanwhile
    # (a rolling deploy) exits as it would from its loop, not with a traceback from the driver
    user = User(data_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", MIGRATION_LOCK_HOLDER, user.url.strip()],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = start_worker(data_dir)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        assert holder.stdout.readline() == "a migrator waits\n"
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
        assert worker.returncode == 128 + signal.SIGTERM, output
        assert "Traceback" not in output, output
    finally:
        for process in (worker, holder):
            if process.poll() is None:
                process.kill()
        holder.communicate()
        user.exit()
    assert not running(data_dir)


MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("memory", "shared_buffers"),
    [
        (24 * 1024 * MiB, "6144MB"),  # a quarter
        (256 * MiB, "128MB"),  # never below PostgreSQL's own default
        (128 * 1024 * MiB, "8192MB"),  # capped
    ],
)
def test_the_server_gets_a_quarter_of_the_memory(memory: int, shared_buffers: str) -> None:
    settings = embedded.server_settings(memory, 100 * 1024 * MiB)
    assert settings["shared_buffers"] == shared_buffers
    assert settings["max_wal_size"] == "16GB" and settings["checkpoint_timeout"] == "15min"
    # pglz, the only compression pgserver's build has, cost 2.4x PostgreSQL's CPU a write
    assert settings["wal_compression"] == "off"


@pytest.mark.parametrize(
    ("free_disk_gib", "max_wal_size"),
    [
        (100, "16GB"),  # capped: at 1,000,000 clients 4 GB kept checkpointing on its own images
        (64, "16GB"),
        (63, "8GB"),  # a quarter of what is free, down to a power of two
        (20, "4GB"),
        (8, "2GB"),
        (0.25, "1GB"),  # never below PostgreSQL's own default
    ],
)
def test_the_wal_between_checkpoints_takes_at_most_a_quarter_of_the_free_disk(
    free_disk_gib: float, max_wal_size: str
) -> None:
    free = int(free_disk_gib * 1024 * MiB)
    assert embedded.server_settings(8 * 1024 * MiB, free)["max_wal_size"] == max_wal_size


def test_the_wal_already_on_disk_counts_as_room_for_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a WAL grown to its bound must not lower the bound at the next start
    (tmp_path / "pg_wal" / "archive_status").mkdir(parents=True)
    (tmp_path / "pg_wal" / "000000010000000000000001").write_bytes(b"x" * MiB)
    # the disk's free space held still: other tests write to the same disk meanwhile
    usage = shutil.disk_usage(tmp_path)._replace(free=10 * 1024 * MiB)
    monkeypatch.setattr(embedded.shutil, "disk_usage", lambda path: usage)
    assert embedded.wal_room(tmp_path) == 10 * 1024 * MiB + MiB


SHOW_SETTINGS = """
import asyncio, json, sys, asyncpg
async def main():
    connection = await asyncpg.connect(sys.argv[1])
    print(json.dumps(dict(await connection.fetchrow(
        "SELECT pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers, "
        "pg_size_bytes(current_setting('max_wal_size')) AS max_wal_size, "
        "current_setting('checkpoint_timeout') AS checkpoint_timeout, "
        "current_setting('wal_compression') AS wal_compression"
    ))))
asyncio.run(main())
"""


def settings_of(url: str) -> dict[str, Any]:
    """shared_buffers and max_wal_size in bytes, the others as SHOW gives them."""
    return dict(
        json.loads(
            subprocess.run(
                [sys.executable, "-c", SHOW_SETTINGS, url],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    )


def shared_buffers_of(url: str) -> int:
    return settings_of(url)["shared_buffers"]


def test_a_fresh_server_runs_with_winback_settings(tmp_path: Path) -> None:
    # not PostgreSQL's defaults (128 MB of buffers, a checkpoint per GB of WAL): the first
    # start writes the settings and, as the only user, restarts the server with them
    data_dir = tmp_path / "data"
    user = User(data_dir)
    try:
        shown = settings_of(user.url.strip())
    finally:
        user.exit()
    room = embedded.wal_room(embedded.pgdata(data_dir))
    expected = embedded.server_settings(embedded._memory_bytes(), room)
    assert shown["shared_buffers"] == int(expected["shared_buffers"].removesuffix("MB")) * MiB
    wal_gib = int(expected["max_wal_size"].removesuffix("GB"))
    assert shown["max_wal_size"] == wal_gib * 1024 * MiB, shown
    assert shown["checkpoint_timeout"] == "15min", shown
    assert shown["wal_compression"] == expected["wal_compression"], shown
    assert not running(data_dir)


def test_settings_the_machine_cannot_give_leave_postgresql_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a container without the memory: the server starts on PostgreSQL's defaults, says so, and
    # is not asked again at the next start
    unfit = {"shared_buffers": "999999TB"}
    monkeypatch.setattr(embedded, "server_settings", lambda memory, disk: unfit)
    data_dir = tmp_path / "data"
    try:
        url = embedded.start(data_dir)
        assert shared_buffers_of(url) == 128 * MiB  # PostgreSQL's default
        assert "did not start with the settings" in capsys.readouterr().err
        assert embedded.release(data_dir)
        embedded.start(data_dir)  # declined before: no restart, no message
        assert capsys.readouterr().err == ""
    finally:
        embedded.release(data_dir)


def test_settings_taken_on_reload_that_a_start_cannot_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # another process held the server when they were written, so they were reloaded, not
    # restarted with: the next start falls back the same way instead of failing
    unfit = {"shared_buffers": "999999TB"}
    monkeypatch.setattr(embedded, "server_settings", lambda memory, disk: unfit)
    data_dir = tmp_path / "data"
    other = User(data_dir)  # with the settings of this machine
    try:
        embedded.start(data_dir)  # joins: the settings are reloaded (shared_buffers is not)
        assert not embedded.release(data_dir)
    finally:
        other.exit()
    assert not running(data_dir)
    try:
        url = embedded.start(data_dir)
        assert shared_buffers_of(url) == 128 * MiB  # PostgreSQL's default
        assert "did not start with the settings" in capsys.readouterr().err
    finally:
        embedded.release(data_dir)
