"""`winback serve --workers N` (issue 12): N API processes answer on one port, /metrics adds up
what every process counted, the background worker runs exactly once (and once again if it
dies), SIGTERM leaves no process behind; every gauge says how the processes' values combine."""

import contextlib
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import health
from tests.conftest import ROOT, _asyncpg_dsn, _recreate_database
from tests.ops.test_serve import free_port

ADMIN_KEY = "wbk_serveworkerstest_" + "k" * 32


@pytest.fixture
async def own_database_url(server_url: str, worker_name: str) -> AsyncIterator[str]:
    """An empty database, dropped afterwards: `serve` migrates it as on a first start."""
    name = f"{worker_name}_serve_workers"
    yield await _recreate_database(server_url, name)
    connection = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def record_in_another_process(directory: Path, requests: int, due: int) -> int:
    """A process that times `requests` GET /healthz and sets the due gauge, in multiprocess mode
    on `directory`; returns its pid."""
    code = textwrap.dedent(f"""
        import os
        from app.kit import metrics
        for _ in range({requests}):
            metrics.REQUESTS.labels("GET", "/healthz", "200").observe(0.001)
        metrics.DUE.set({due})
        print(os.getpid())
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return int(done.stdout)


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def healthz_count(text: str) -> float:
    counts = samples(text, "winback_http_request_seconds_count")
    return sum(value for labels, value in counts.items() if ("route", "/healthz") in labels)


def test_the_processes_metrics_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record_in_another_process(tmp_path, requests=3, due=7)
    record_in_another_process(tmp_path, requests=2, due=5)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    text = health.exposition().decode()

    assert healthz_count(text) == 5
    assert samples(text, "winback_clients_due") == {(): 5.0}  # the latest value, not a sum
    # a gauge without a mode of its own would show one series per process, labelled by pid
    assert 'pid="' not in text, text


def test_without_the_directory_metrics_are_the_process_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    from app.kit import metrics

    before = healthz_count(health.exposition().decode())
    metrics.REQUESTS.labels("GET", "/healthz", "200").observe(0.001)
    assert healthz_count(health.exposition().decode()) == before + 1


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.1)


def command_line(process: psutil.Process) -> list[str]:
    """[] for a process gone or a zombie (killed, not reaped yet)."""
    try:
        return [] if process.status() == psutil.STATUS_ZOMBIE else process.cmdline()
    except psutil.Error:
        return []


def api_processes(serve: psutil.Process) -> list[psutil.Process]:
    """uvicorn's API processes (multiprocessing's spawned children)."""
    return [p for p in serve.children() if "spawn_main" in " ".join(command_line(p))]


def background_workers(serve: psutil.Process) -> list[psutil.Process]:
    return [p for p in serve.children(recursive=True) if "worker" in command_line(p)]


def request_pids(directory: Path) -> set[int]:
    """The processes that timed a request: their histogram file is named by their pid."""
    return {int(re.findall(r"\d+", f.name)[0]) for f in directory.glob("histogram_*.db")}


def test_serve_with_two_api_processes_and_one_worker(own_database_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "notes.txt").write_text("not Prometheus's: left alone")
    earlier = record_in_another_process(directory, requests=1000, due=99)  # an earlier run's
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(port)],
        cwd=ROOT,
        env={
            "WINBACK_DATABASE_URL": own_database_url,
            "WINBACK_ADMIN_KEY": ADMIN_KEY,
            "PROMETHEUS_MULTIPROC_DIR": str(directory),
            "PATH": "/usr/bin:/bin",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    serve = psutil.Process(process.pid)
    seen: list[psutil.Process] = []
    try:

        def ready() -> bool:
            assert process.poll() is None, process.communicate()[0]
            with contextlib.suppress(httpx.TransportError):
                # /readyz, not /healthz: the requests to /healthz are counted below
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            return False

        wait_for(ready, 60, "serve to answer")
        wait_for(lambda: len(api_processes(serve)) == 2, 10, "two API processes")
        api = {p.pid for p in api_processes(serve)}
        (worker,) = background_workers(serve)
        seen = serve.children(recursive=True)
        assert not list(directory.glob(f"*_{earlier}.db")), "an earlier run's files were kept"
        assert (directory / "notes.txt").exists()

        # requests on new connections, some at once, until both API processes answered some
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while request_pids(directory) != api and sent < 800:
                codes = pool.map(lambda _: httpx.get(f"{base}/healthz").status_code, range(40))
                assert set(codes) == {200}
                sent += 40
        assert request_pids(directory) == api

        # every one counted, whichever process answered (each records after it has answered)
        wait_for(lambda: healthz_count(httpx.get(f"{base}/metrics").text) == sent, 10, "the counts")
        # the worker child's gauge too: its first sweep found nobody due
        wait_for(
            lambda: samples(httpx.get(f"{base}/metrics").text, "winback_clients_due") == {(): 0},
            20,
            "the worker's sweep in /metrics",
        )

        worker.kill()  # another one starts, never two
        wait_for(
            lambda: [p.pid for p in background_workers(serve)] not in ([], [worker.pid]),
            20,
            "a new background worker",
        )
        assert len(background_workers(serve)) == 1
        seen += serve.children(recursive=True)

        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
        assert process.returncode == 0, output
        assert "Traceback" not in output, output
        _, alive = psutil.wait_procs(seen, timeout=10)
        assert not alive, f"left running after serve: {alive}"
    finally:  # only if the test failed before that
        with contextlib.suppress(psutil.NoSuchProcess):
            seen += serve.children(recursive=True)
        for child in seen:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=20)
