"""Plumbing of the benchmarks: databases, the machine, CPU accounting, servers as subprocesses,
a lean HTTP/1.1 client and the two load loops (closed loop, sequential).

Only 127.0.0.1 is ever contacted. Every loop is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
LOCALHOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- databases ---------------------------------------------------------------------------------


def check_local(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in (None, "", "127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to benchmark against {host!r}: only 127.0.0.1 is allowed")


async def drop_database(server_url: str, name: str, create: bool = False) -> str:
    """Drop database `name` (a `winback_bench*` one) and, with `create`, make it afresh; returns
    its URL."""
    assert name.startswith("winback_bench"), name
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url(server_url, name)


async def recreate_database(server_url: str, name: str) -> str:
    return await drop_database(server_url, name, create=True)


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def kept_clients(server_url: str, name: str) -> int:
    """How many clients database `name` holds (0: no such database, or not a winback one)."""
    try:
        conn = await asyncpg.connect(database_url(server_url, name))
    except asyncpg.InvalidCatalogNameError:
        return 0
    try:
        if await conn.fetchval("SELECT to_regclass('client')") is None:
            return 0
        return int(await conn.fetchval("SELECT count(*) FROM client"))
    finally:
        await conn.close()


# --- the machine -------------------------------------------------------------------------------


def _proc_field(path: str, prefix: str) -> str | None:
    """The value after `prefix` on the first matching line of a /proc file."""
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return None


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def code_state() -> str:
    """The commit measured, and the app files that differ from it (the tree may be dirty)."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return run.stdout if run.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD").strip()
    changed = [
        line[3:]
        for line in git("status", "--porcelain", "--", "app", "migrations").split("\n")
        if line.strip()
    ]
    if not commit:
        return "unknown (no git)"
    return commit + (f" + uncommitted changes in {', '.join(changed)}" if changed else " (clean)")


async def machine(server_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(server_url)
    try:
        pg = await conn.fetchval("SHOW server_version")
        settings = await conn.fetch(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
            "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'max_wal_size', "
            "'checkpoint_timeout', 'wal_compression')"
        )
    finally:
        await conn.close()
    ram_kib = (_proc_field("/proc/meminfo", "MemTotal:") or "0 kB").split()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "ram_gib": round(int(ram_kib) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "pg_settings": dict(settings),
        "packages": {
            name: _version(name)
            for name in ("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "asyncpg")
        },
        # uvicorn picks uvloop/httptools when importable, else asyncio/h11
        "uvicorn_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "uvicorn_http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "code": code_state(),
    }


# --- CPU accounting ----------------------------------------------------------------------------


def _cpu_seconds(stat: str) -> float:
    """utime + stime, in seconds, from the text of /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _process_seconds(pid: int) -> float:
    try:
        return _cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return 0.0  # gone


def _postgres_processes() -> Iterator[tuple[int, float]]:
    """(pid, CPU seconds) of every process named `postgres` (the server and its backends)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                text = Path(entry.path, "stat").read_text()
                if text[text.find("(") + 1 : text.rfind(")")] == "postgres":
                    yield int(entry.name), _cpu_seconds(text)


def _machine_seconds() -> tuple[float, float]:
    """(busy, steal) seconds of all cores since boot, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


class CpuMeter:
    """Cores used on average over a window by this process (the load generator), the server
    processes, PostgreSQL, everything else, and what the hypervisor stole. PostgreSQL is counted
    per process, so a backend that a pool closes keeps its share: `tick()` at the start, every
    few hundred ms, and at the end."""

    def __init__(self, server_pids: list[int | None]) -> None:
        self.server_pids = [pid for pid in server_pids if pid]
        self.first: tuple[float, ...] = ()
        self.last: tuple[float, ...] = ()
        self.postgres_first: dict[int, float] = {}
        self.postgres_last: dict[int, float] = {}

    def tick(self) -> None:
        own = os.times()
        servers = sum(_process_seconds(pid) for pid in self.server_pids)
        self.last = (time.perf_counter(), own.user + own.system, servers, *_machine_seconds())
        for pid, seconds in _postgres_processes():
            # a backend born inside the window counts from zero
            self.postgres_first.setdefault(pid, seconds if not self.first else 0.0)
            self.postgres_last[pid] = seconds
        self.first = self.first or self.last

    @property
    def seconds(self) -> float:
        return self.last[0] - self.first[0] if self.first else 0.0

    def split(self) -> dict[str, float]:
        if not self.first:
            return {}
        wall = max(self.seconds, 1e-9)
        deltas = (b - a for a, b in zip(self.first[1:], self.last[1:], strict=True))
        generator, server, busy, steal = deltas
        postgres = sum(
            self.postgres_last[pid] - self.postgres_first[pid] for pid in self.postgres_last
        )
        split = {
            "generator": generator / wall,
            "server": server / wall,
            "postgres": postgres / wall,
        }
        split["other"] = max(0.0, busy / wall - sum(split.values()))
        split["steal"] = steal / wall
        return split


async def background_cores(seconds: float = 1.0) -> float:
    """Cores busy on the whole machine over `seconds`, plus those the hypervisor stole (call it
    while the bench itself is idle)."""
    busy0, steal0 = _machine_seconds()
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    busy1, steal1 = _machine_seconds()
    return (busy1 - busy0 + steal1 - steal0) / (time.perf_counter() - t0)


# --- servers -----------------------------------------------------------------------------------


class Server:
    """`python -m uvicorn --factory TARGET` on a free 127.0.0.1 port, one worker (or `workers`
    processes), no access log;
    an async context manager that starts it (waiting for /healthz) and stops it."""

    def __init__(self, target: str, env: dict[str, str], name: str, workers: int = 1) -> None:
        self.target = target
        self.workers = workers  # uvicorn processes; `pid` is then their manager's
        self.env = {**os.environ, **env}
        self.name = name
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOCALHOST, 0))
            self.port = int(s.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the server's life
            prefix=f"bench-{name}-", suffix=".log", delete=False
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self, wait_seconds: float = 30.0) -> None:
        command = [sys.executable, "-m", "uvicorn", "--factory", self.target]
        command += ["--host", LOCALHOST, "--port", str(self.port), "--workers", str(self.workers)]
        command += ["--no-access-log", "--log-level", "warning"]
        self.process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            conn = RawHTTP(LOCALHOST, self.port)
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                if (await conn.request("GET", "/healthz"))[0] == 200:
                    conn.close()
                    return
            conn.close()
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {wait_seconds:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        try:
            return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)

    async def __aenter__(self) -> Server:
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()


# --- the HTTP client ---------------------------------------------------------------------------


class RawHTTP:
    """One keep-alive HTTP/1.1 connection over asyncio streams: request bytes out, status and
    body back. Far cheaper per request than httpx (which needed a whole core for 300 requests/s
    here), and the generator shares the cores with the server and PostgreSQL."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._fixed = f"Host: {host}:{port}\r\n{extra}".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        message = head + b"\r\n" + (body or b"")
        reused = self.writer is not None
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(message)
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            # a kept-alive connection the server closed while idle: reconnect and send once more
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            self.close()
            await self.connect()
            assert self.reader is not None and self.writer is not None
            self.writer.write(message)
            raw = await self.reader.readuntil(b"\r\n\r\n")
        headers = {
            name.strip().lower(): value.strip().lower()
            for name, _, value in (line.partition(b":") for line in raw.split(b"\r\n")[1:])
        }
        if b"content-length" in headers:  # the app's answers all have one (no chunked bodies)
            payload = await self.reader.readexactly(int(headers[b"content-length"]))
        else:
            payload = await self.reader.read()
            headers[b"connection"] = b"close"
        if headers.get(b"connection") == b"close":
            self.close()
        return int(raw[9:12]), payload


# --- the load loops ----------------------------------------------------------------------------

# A request factory returns (method, path, body, units); units is what the request counts for
# (1 for one event, 1,000 for a batch). The check turns (status, payload) into the units that
# actually succeeded (or raises).
RequestFactory = Callable[[], tuple[str, str, bytes | None, int]]
Check = Callable[[int, bytes, int], int]


class BadResponse(Exception):
    def __init__(self, status: int, payload: bytes) -> None:
        super().__init__(f"HTTP {status}: {payload.decode(errors='replace')}")
        self.status = status


def expect_status(*codes: int) -> Check:
    def check(status: int, payload: bytes, units: int) -> int:
        if status not in codes:
            raise BadResponse(status, payload[:300])
        return units

    return check


@dataclass
class LoadResult:
    requests: int = 0
    units: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    first_error: str | None = None

    @property
    def rate(self) -> float:
        """Units per second."""
        return self.units / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in ms (nearest rank); nan when nothing was measured."""
        if not self.latencies:
            return float("nan")
        values = sorted(self.latencies)
        rank = max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))
        return values[rank] * 1000

    def failed(self, error: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or error[:300]


async def closed_loop(
    connections: list[RawHTTP],
    make_request: RequestFactory,
    check: Check,
    duration: float,
    warmup: float,
    server_pid: int | None,
) -> LoadResult:
    """Each connection sends its next request as soon as the previous answer arrived.

    Requests completing inside [warmup, warmup + duration] count; latencies are those of the
    requests that also started inside it. The CPU split is measured over the same window."""
    result = LoadResult()
    window_start = time.perf_counter() + warmup
    window_end = window_start + duration
    meter = CpuMeter([server_pid])

    async def worker(conn: RawHTTP) -> None:
        while (started := time.perf_counter()) < window_end:
            method, path, body, units = make_request()
            try:
                status, payload = await conn.request(method, path, body)
                ok_units = check(status, payload, units)
            except Exception as exc:  # counted, then the connection starts afresh
                if window_start <= time.perf_counter() <= window_end:
                    result.failed(repr(exc))
                conn.close()
                await asyncio.sleep(0.01)
                continue
            finished = time.perf_counter()
            if window_start <= finished <= window_end:
                result.requests += 1
                result.units += ok_units
                if started >= window_start:
                    result.latencies.append(finished - started)

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        while time.perf_counter() < window_end:
            meter.tick()
            await asyncio.sleep(min(0.25, max(0.0, window_end - time.perf_counter())))
        meter.tick()

    for conn in connections:
        await conn.connect()
    await asyncio.gather(sampler(), *(worker(conn) for conn in connections))
    for conn in connections:
        conn.close()
    result.seconds = meter.seconds
    result.cpu = meter.split()
    return result


async def sequential_latency(
    conn: RawHTTP, paths: Iterator[str], seconds: float, max_requests: int, warmup: int = 5
) -> tuple[LoadResult, bytes]:
    """GET paths one after another on one connection (200 expected); returns the result and the
    last body."""
    result = LoadResult()
    last = b""
    for _ in range(warmup):
        await conn.request("GET", next(paths))
    start = time.perf_counter()
    while result.requests < max_requests and time.perf_counter() - start < seconds:
        path = next(paths)
        t0 = time.perf_counter()
        status, last = await conn.request("GET", path)
        if status != 200:
            result.failed(f"HTTP {status} {path}: {last[:200]!r}")
            continue
        result.latencies.append(time.perf_counter() - t0)
        result.requests += 1
        result.units += 1
    result.seconds = time.perf_counter() - start
    return result, last


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
