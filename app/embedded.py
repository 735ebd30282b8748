"""The embedded default: a real PostgreSQL started from the `pgserver` package.

Used when WINBACK_DATABASE_URL is not set. Everything lives in WINBACK_DATA_DIR (default
./.winback): `pgdata/` is the database cluster, `run/` (mode 0700) holds a lock file and is the
runtime directory pgserver asks for.

The server is shared, not owned: every process that uses it (`serve`, `worker`, the CLI, each
test worker) writes its pid to pgserver's list of users (`pgdata/.handle_pids.json`), and when a
process exits it takes its pid out again; the last one out stops the server. Processes that died
without saying so (SIGKILL, a crash) are pruned from the list, so they do not keep it running.
`winback db stop` and `winback db reset` stop it by hand.
"""

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

USERS_FILE = ".handle_pids.json"  # pgserver's own list of the processes using a server
SETTINGS_FILE = "winback.conf"  # the server settings below, included by postgresql.conf
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'"
MiB = 1024 * 1024
GiB = 1024 * MiB
STOP_TIMEOUT_SECONDS = 30.0

_in_use: set[Path] = set()  # data dirs whose server this process registered with
_in_use_lock = threading.Lock()


class InUseError(RuntimeError):
    """Another live process uses the embedded server; stopping it would pull it from under them."""

    def __init__(self, data_dir: Path, pids: list[int]):
        self.pids = pids
        listed = ", ".join(str(p) for p in pids)
        super().__init__(
            f"the embedded PostgreSQL in {data_dir} is in use by process {listed}; "
            "stop that first (Ctrl-C in its terminal), or pass --force"
        )


def pgdata(data_dir: Path) -> Path:
    return data_dir.resolve() / "pgdata"


def _run_dir(data_dir: Path) -> Path:
    """A private (0700) directory: platformdirs accepts only such a one as XDG_RUNTIME_DIR."""
    run = data_dir.resolve() / "run"
    run.mkdir(parents=True, exist_ok=True)
    run.chmod(0o700)
    return run


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One process at a time starts, registers with, releases or stops a data dir's server."""
    with (_run_dir(data_dir) / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _import_pgserver(data_dir: Path) -> Any:
    """Import pgserver without a RuntimeDirWarning.

    pgserver asks platformdirs for the runtime directory when it is imported, and platformdirs
    warns when XDG_RUNTIME_DIR is unset (a headless box, a container) or is not a private
    directory. When it is unset, point it at `run/` for the import only: the process's own
    environment, and so its children's, stays as it was.
    """
    if os.environ.get("XDG_RUNTIME_DIR"):
        import pgserver

        return pgserver
    os.environ["XDG_RUNTIME_DIR"] = str(_run_dir(data_dir))
    try:
        import pgserver
    finally:
        os.environ.pop("XDG_RUNTIME_DIR", None)
    return pgserver


def _postmaster(cluster: Path) -> Any:
    """The running postmaster of the `cluster` directory (a psutil.Process), or None.

    A stale postmaster.pid (a crash, a reboot) may name a pid that is now some other program:
    only a postgres process started on this very directory counts.
    """
    import psutil  # pgserver's dependency

    try:
        pid = int((cluster / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
        if str(cluster) in process.cmdline() and process.status() != psutil.STATUS_ZOMBIE:
            return process
    except (OSError, IndexError, ValueError, psutil.Error):
        pass
    return None


def _alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _users(cluster: Path, leaving: int | None = None) -> list[int]:
    """The live processes on the list of users; rewrites the list without `leaving` and the dead.

    Call it holding the lock."""
    path = cluster / USERS_FILE
    try:
        listed = [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        listed = []
    users = [p for p in listed if p != leaving and _alive(p)]
    if users != listed:
        path.write_text(json.dumps(users))
    return users


def _stop_postmaster(cluster: Path) -> bool:
    """Fast shutdown (SIGINT: clients are disconnected, open transactions rolled back)."""
    import psutil

    process = _postmaster(cluster)
    if process is None:
        return False
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)
        try:
            process.wait(STOP_TIMEOUT_SECONDS if sig == signal.SIGINT else 5)
            break
        except psutil.TimeoutExpired:
            continue
    (cluster / USERS_FILE).unlink(missing_ok=True)
    return True


def server_settings(memory_bytes: int, free_disk_bytes: int) -> dict[str, str]:
    """The embedded server's settings, for a machine with this much memory and this much free
    disk where its data lives.

    PostgreSQL's defaults are sized for a small box: 128 MB of shared buffers and a checkpoint
    at every 1 GB of WAL. At 1,000,000 clients (2 GB of client rows and indexes) nearly every
    update then read and evicted pages through the kernel and, after each of the frequent
    checkpoints, wrote whole pages to the WAL again (53 KB of WAL per client updated): a sweep
    ran at 3,209 clients/s, 4,554 with these and pglz-compressed full-page images, 4,768-5,143
    uncompressed (docs/scaling.md). A quarter of the memory for shared buffers is PostgreSQL's
    own advice for a dedicated server; capped at 8 GB."""
    shared_buffers = min(max(memory_bytes // 4, 128 * MiB), 8192 * MiB)
    return {
        "shared_buffers": f"{shared_buffers // MiB}MB",
        "max_wal_size": f"{max_wal_size(free_disk_bytes) // GiB}GB",
        "checkpoint_timeout": "15min",
        # Full-page images uncompressed: pglz (the only method in pgserver's build) made each
        # write of a client cost PostgreSQL 2.4x the CPU (a sweep at 1M: 383-391 against
        # 153-163 us a client) for a third of the WAL; lz4 costs about what off does, and is
        # what a server of your own should use (docs/scaling.md).
        "wal_compression": "off",
    }


def max_wal_size(free_disk_bytes: int) -> int:
    """The WAL allowed between checkpoints: the largest power of two GB within a quarter of the
    free disk, 1 GB (PostgreSQL's default) to 16 GB; a power of two, so that the same disk gives
    the same setting at every start.

    A checkpoint makes the next change to every page write the whole page to the WAL, and at
    1,000,000 clients a burst touches most of the 2 GB of `client` and its indexes: with 4 GB
    (a checkpoint requested every ~2 GB) the images kept triggering the next checkpoint, 13-15 a
    minute under a sweep of every client, 45-47 KiB of WAL a client and 4,267-4,303 clients/s;
    with 16 GB, none in the minute, 16-17 KiB and 4,927-5,000 clients/s (docs/scaling.md). The
    WAL may take this much disk between checkpoints, hence the quarter of what is free."""
    size = GiB
    while size * 2 <= min(free_disk_bytes // 4, 16 * GiB):
        size *= 2
    return size


def wal_room(cluster: Path) -> int:
    """The disk the WAL may use: what is free where the cluster lives, plus what its WAL takes
    already (so that a WAL grown to its bound does not lower the bound at the next start)."""
    wal = cluster / "pg_wal"
    taken = sum(f.stat().st_size for f in wal.iterdir() if f.is_file()) if wal.is_dir() else 0
    return shutil.disk_usage(cluster).free + taken


def _memory_bytes() -> int:
    """This machine's memory, or the container's limit where one is set (cgroup v2 or v1)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            total = min(total, int(Path(limit).read_text().strip()))  # "max": no limit
    return total


def _configure(cluster: Path, server: Any) -> None:
    """Give the running server winback's settings (call it holding the lock). Reloaded at
    once; shared_buffers needs a restart, done now if this process is its only user, else at
    its next start."""
    from pgserver import _commands

    pg_ctl = vars(_commands)["pg_ctl"]  # made at import time, so invisible to type checkers

    settings = server_settings(_memory_bytes(), wal_room(cluster))
    text = "# written by winback (app/embedded.py) at every start; edits are lost\n" + "".join(
        f"{name} = '{value}'\n" for name, value in settings.items()
    )
    path = cluster / SETTINGS_FILE
    if path.is_file() and path.read_text() in (text, _declined(text)):
        return
    path.write_text(text)
    conf = cluster / "postgresql.conf"
    if _INCLUDE not in conf.read_text():
        with conf.open("a") as handle:
            handle.write(f"\n{_INCLUDE}\n")
    alone = _users(cluster) == [os.getpid()]
    try:
        pg_ctl(["-w", "restart"] if alone else ["reload"], pgdata=cluster, user=server.system_user)
    except subprocess.CalledProcessError:
        # a machine that cannot give them (memory a container does not have): the server runs
        # on PostgreSQL's own settings rather than not at all, and is not asked again
        _decline(path, text)
        pg_ctl(["-w", "restart"], pgdata=cluster, user=server.system_user)


def _declined(text: str) -> str:
    return "# declined: PostgreSQL did not start with these\n" + "".join(
        f"# {line}\n" for line in text.splitlines()
    )


def _decline(path: Path, text: str) -> None:
    path.write_text(_declined(text))
    print(
        f"winback: the embedded PostgreSQL did not start with the settings in {path}; "
        "it runs on PostgreSQL's defaults",
        file=sys.stderr,
        flush=True,
    )


def start(data_dir: Path) -> str:
    """Start (or reuse) the embedded server, join its users, and return a postgresql:// URL."""
    data_dir = data_dir.resolve()
    pgserver = _import_pgserver(data_dir)
    cluster = pgdata(data_dir)
    with _locked(data_dir):
        cluster.mkdir(exist_ok=True)
        if _postmaster(cluster) is None:
            # a server that is not running has no users: forget whoever the list still names
            (cluster / USERS_FILE).unlink(missing_ok=True)
        with _in_use_lock:  # first, so that a SIGTERM while it starts still stops it at exit
            _in_use.add(data_dir)
        # pgserver adds this pid to the list of users here
        try:
            server = pgserver.PostgresServer(cluster, cleanup_mode=None)
        except subprocess.CalledProcessError:
            settings = cluster / SETTINGS_FILE
            if not settings.is_file() or settings.read_text().startswith("# declined"):
                raise
            failed = pgserver.PostgresServer._instances.get(cluster)  # its exit handler is ours
            if failed is not None:
                atexit.unregister(failed._cleanup)
            # settings a running server took on reload, that this start cannot give
            _decline(settings, settings.read_text())
            server = pgserver.PostgresServer(cluster, cleanup_mode=None)
        # and would take it out at exit without our lock and without pruning: that is ours to do
        atexit.unregister(server._cleanup)
        _configure(cluster, server)
        return str(server.get_uri())


def release(data_dir: Path) -> bool:
    """This process is done with the server: stop it unless another live process still uses it.

    Returns whether it was stopped. Runs at exit for every server this process started or joined.
    """
    data_dir = data_dir.resolve()
    with _in_use_lock:
        if data_dir not in _in_use:
            return False
        _in_use.discard(data_dir)
    cluster = pgdata(data_dir)
    if not cluster.is_dir():
        return False
    with _locked(data_dir):
        if _users(cluster, leaving=os.getpid()):
            return False
        return _stop_postmaster(cluster)


def _release_all() -> None:
    for data_dir in sorted(_in_use):
        with contextlib.suppress(Exception):  # exiting anyway; one failure must not skip the rest
            release(data_dir)


atexit.register(_release_all)


def stop(data_dir: Path, force: bool = False) -> bool:
    """Stop the server (`winback db stop`). Returns False when it was not running.

    Raises InUseError when another live process uses it, unless `force`."""
    data_dir = data_dir.resolve()
    if not pgdata(data_dir).is_dir():
        return False
    with _locked(data_dir):
        return _stop_unless_used(data_dir, force)


def reset(data_dir: Path, force: bool = False) -> bool:
    """Stop the server and delete its data (`winback db reset`). Returns False if there was none.

    Only `pgdata/` goes (`run/` is the lock's home). Raises InUseError like `stop`."""
    data_dir = data_dir.resolve()
    cluster = pgdata(data_dir)
    if not cluster.exists():
        return False
    with _locked(data_dir):
        _stop_unless_used(data_dir, force)
        shutil.rmtree(cluster)
    return True


def _stop_unless_used(data_dir: Path, force: bool) -> bool:
    cluster = pgdata(data_dir)
    users = _users(cluster, leaving=os.getpid()) if cluster.is_dir() else []
    if users and not force:
        raise InUseError(data_dir, users)
    with _in_use_lock:
        _in_use.discard(data_dir)
    return _stop_postmaster(cluster)


def database_url(configured: str | None, data_dir: Path) -> str:
    return configured if configured else start(data_dir)
