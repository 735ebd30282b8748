"""Plumbing shared by the benchmarks: servers as subprocesses, a lean HTTP/1.1 load generator,
latency statistics, CPU accounting and the machine description.

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
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
LOCALHOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- databases ---------------------------------------------------------------------------------


def database_url(server_url: str, name: str) -> str:
    """The server-level URL with its path replaced by database `name`."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def check_local(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in (None, "", "127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to benchmark against {host!r}: only 127.0.0.1 is allowed")


async def recreate_database(server_url: str, name: str) -> str:
    assert name.startswith("winback_bench"), name
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    assert name.startswith("winback_bench"), name
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --- the machine -------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "absent"


def code_state() -> str:
    """The commit measured, and the app files that differ from it (the tree may be dirty)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "migrations"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return commit + (f" + uncommitted changes in {', '.join(changed)}" if changed else " (clean)")


async def machine(server_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(server_url)
    try:
        pg = await conn.fetchval("SHOW server_version")
        settings = dict(
            await conn.fetch(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections')"
            )
        )
    finally:
        await conn.close()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "ram_gib": round(_ram_gib(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "pg_settings": settings,
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


def _stat_cpu_seconds(stat: str) -> float:
    """utime + stime, in seconds, from the text of /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when it is gone)."""
    try:
        return _stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return 0.0


def _postgres_processes() -> Iterator[tuple[int, float]]:
    """(pid, CPU seconds) of every process named `postgres` (the server and its backends)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if text[text.find("(") + 1 : text.rfind(")")] == "postgres":
            yield int(entry.name), _stat_cpu_seconds(text)


def _postgres_cpu_seconds() -> float:
    return sum(cpu for _, cpu in _postgres_processes())


def _machine_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) seconds of all cores since boot, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


class PostgresMeter:
    """CPU of PostgreSQL's processes over a window, robust to backends that come and go (a pool
    that closes overflow connections would otherwise take their CPU time with them): call
    `tick()` at the start, every few hundred ms, and at the end."""

    def __init__(self) -> None:
        self.baseline: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.started = False

    def tick(self) -> None:
        for pid, cpu in _postgres_processes():
            if pid not in self.baseline:
                self.baseline[pid] = cpu if not self.started else 0.0
            self.last[pid] = cpu
        self.started = True

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.baseline[pid] for pid in self.last)


@dataclass
class CpuSample:
    at: float
    generator: float
    server: float
    postgres: float
    busy: float = 0.0
    steal: float = 0.0


def cpu_sample(server_pid: int | None) -> CpuSample:
    times = os.times()
    busy, steal = _machine_cpu_seconds()
    return CpuSample(
        at=time.perf_counter(),
        generator=times.user + times.system,
        server=_proc_cpu_seconds(server_pid) if server_pid else 0.0,
        postgres=_postgres_cpu_seconds(),
        busy=busy,
        steal=steal,
    )


def cpu_split(start: CpuSample, end: CpuSample) -> dict[str, float]:
    """Cores used on average by each party over the interval; `other` is everything else that
    ran on the machine meanwhile (other processes, the kernel), `steal` what the hypervisor took."""
    wall = max(end.at - start.at, 1e-9)
    split = {
        "generator": (end.generator - start.generator) / wall,
        "server": (end.server - start.server) / wall,
        "postgres": max(0.0, (end.postgres - start.postgres) / wall),
    }
    busy = (end.busy - start.busy) / wall
    split["other"] = max(0.0, busy - sum(split.values()))
    split["steal"] = (end.steal - start.steal) / wall
    return split


async def background_cores(seconds: float = 1.0) -> float:
    """Cores busy on the whole machine over `seconds`, plus those the hypervisor stole (call it
    while the bench itself is idle)."""
    busy0, steal0 = _machine_cpu_seconds()
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    busy1, steal1 = _machine_cpu_seconds()
    return (busy1 - busy0 + steal1 - steal0) / (time.perf_counter() - t0)


# --- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


class Server:
    """`python -m uvicorn --factory TARGET` on a free 127.0.0.1 port, one worker, no access log."""

    def __init__(self, target: str, env: dict[str, str], name: str) -> None:
        self.target = target
        self.env = {**os.environ, **env}
        self.name = name
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the server's life
            prefix=f"bench-{name}-", suffix=".log", delete=False
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self, wait_seconds: float = 30.0) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            self.target,
            "--host",
            LOCALHOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
                conn = RawHTTP(LOCALHOST, self.port)
                await conn.connect()
                try:
                    status, _ = await conn.request("GET", "/healthz")
                finally:
                    conn.close()
                if status == 200:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {wait_seconds:.0f} s:\n{self.tail()}")

    async def __aenter__(self) -> Server:
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

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


# --- HTTP clients ------------------------------------------------------------------------------


class RawHTTP:
    """One keep-alive HTTP/1.1 connection over asyncio streams: request bytes out, status and
    body back. Much cheaper per request than httpx, which matters when the generator shares two
    cores with the server and PostgreSQL."""

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

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode()
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
        status = int(raw[9:12])
        length = -1
        chunked = close = False
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            payload = b"".join(parts)
        elif length >= 0:
            payload = await self.reader.readexactly(length)
        else:
            payload = await self.reader.read()
            close = True
        if close:
            self.close()
        return status, payload


# --- the closed-loop load runner ---------------------------------------------------------------

# A request factory returns (method, path, body, units); units is what the request counts for
# (1 for one event, 1,000 for a batch). The check turns (status, payload) into the units that
# actually succeeded (or raises).
RequestFactory = Callable[[], tuple[str, str, bytes | None, int]]
Check = Callable[[int, bytes, int], int]


def expect_status(*codes: int) -> Check:
    def check(status: int, payload: bytes, units: int) -> int:
        if status not in codes:
            raise BadResponse(status, payload[:300])
        return units

    return check


class BadResponse(Exception):
    def __init__(self, status: int, payload: bytes) -> None:
        super().__init__(f"HTTP {status}: {payload.decode(errors='replace')}")
        self.status = status


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
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ups(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in ms (nearest rank)."""
        if not self.latencies:
            return float("nan")
        values = sorted(self.latencies)
        rank = max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))
        return values[rank] * 1000


async def closed_loop(
    connections: list[Any],
    make_request: RequestFactory,
    check: Check,
    duration: float,
    warmup: float,
    server_pid: int | None,
    max_requests: int | None = None,
) -> LoadResult:
    """Each connection sends its next request as soon as the previous answer arrived.

    Requests completing inside [warmup, warmup + duration] count; latencies are those of the
    requests that started inside the window. Stops early after `max_requests` counted ones."""
    result = LoadResult()
    loop_start = time.perf_counter()
    window_start = loop_start + warmup
    window_end = window_start + duration
    samples: dict[str, CpuSample] = {}
    done = asyncio.Event()

    async def worker(conn: Any) -> None:
        while not done.is_set():
            method, path, body, units = make_request()
            started = time.perf_counter()
            if started >= window_end:
                return
            try:
                status, payload = await conn.request(method, path, body)
                ok_units = check(status, payload, units)
            except Exception as exc:  # counted, then the connection starts afresh
                finished = time.perf_counter()
                if window_start <= finished <= window_end:
                    result.errors += 1
                    result.first_error = result.first_error or repr(exc)[:300]
                conn.close()
                await asyncio.sleep(0.01)
                continue
            finished = time.perf_counter()
            if window_start <= finished <= window_end:
                result.requests += 1
                result.units += ok_units
                if started >= window_start:
                    result.latencies.append(finished - started)
                if max_requests is not None and result.requests >= max_requests:
                    done.set()

    meter = PostgresMeter()

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        samples["start"] = cpu_sample(server_pid)
        meter.tick()
        next_tick = time.perf_counter() + 0.25
        while time.perf_counter() < window_end and not done.is_set():
            await asyncio.sleep(min(0.1, max(0.0, window_end - time.perf_counter())))
            if time.perf_counter() >= next_tick:
                meter.tick()
                next_tick = time.perf_counter() + 0.25
        meter.tick()
        samples["end"] = cpu_sample(server_pid)

    for conn in connections:
        await conn.connect()
    tasks = [asyncio.create_task(worker(c)) for c in connections]
    sampler_task = asyncio.create_task(sampler())
    await asyncio.gather(*tasks)
    done.set()
    await sampler_task
    for conn in connections:
        conn.close()
    result.seconds = min(time.perf_counter(), window_end) - window_start
    if "start" in samples and "end" in samples:
        result.seconds = samples["end"].at - samples["start"].at
        result.cpu = cpu_split(samples["start"], samples["end"])
        # per-process accounting of PostgreSQL (backends that exited keep their share)
        postgres = meter.seconds / max(result.seconds, 1e-9)
        result.cpu["other"] = max(0.0, result.cpu["other"] + result.cpu["postgres"] - postgres)
        result.cpu["postgres"] = postgres
    return result


async def sequential_latency(
    conn: Any,
    requests: Iterator[str],
    seconds: float,
    max_requests: int,
    warmup: int = 5,
    expect: tuple[int, ...] = (200,),
) -> tuple[LoadResult, bytes]:
    """GET paths one after another on one connection; returns the result and the last body."""
    result = LoadResult()
    last = b""
    for _ in range(warmup):
        status, last = await conn.request("GET", next(requests))
    start = time.perf_counter()
    while result.requests < max_requests and time.perf_counter() - start < seconds:
        path = next(requests)
        t0 = time.perf_counter()
        status, last = await conn.request("GET", path)
        t1 = time.perf_counter()
        if status not in expect:
            result.errors += 1
            result.first_error = result.first_error or f"HTTP {status} {path}: {last[:200]!r}"
            continue
        result.requests += 1
        result.latencies.append(t1 - t0)
    result.seconds = time.perf_counter() - start
    return result, last


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
