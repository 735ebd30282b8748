"""The README's first command, for real: `winback serve` on a fresh embedded PostgreSQL starts,
migrates, prints the data directory and a one-time admin key that works, and serves /readyz; on
SIGTERM it stops, and its PostgreSQL with it."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """Live postmasters started on `pgdata` (their command line names it)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if str(pgdata.resolve()) in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def embedded_env(data_dir: Path) -> dict[str, str]:
    """The environment of a newcomer's shell: no WINBACK_* settings, no XDG_RUNTIME_DIR."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WINBACK_") and k != "XDG_RUNTIME_DIR"
    }
    env["WINBACK_DATA_DIR"] = str(data_dir)
    return env


def test_serve_on_the_embedded_default(tmp_path: Path) -> None:
    port = free_port()
    env = embedded_env(tmp_path / "data")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = ""
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        while "serving on" not in output and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output += line
        assert "serving on" in output, output
        assert f"data in {(tmp_path / 'data').resolve()}" in output
        key = re.search(r"(wbk_\S+)", output)
        assert key, output
        base = f"http://127.0.0.1:{port}"
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert ready is not None and ready.json()["status"] == "ok"
        auth = {"Authorization": f"Bearer {key.group(1)}"}
        assert httpx.get(f"{base}/v1/stats", headers=auth, timeout=5).status_code == 200
        assert httpx.get(f"{base}/v1/stats", timeout=5).status_code == 401
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
        assert postgres_processes(tmp_path / "data" / "pgdata")

        process.send_signal(signal.SIGTERM)
        output += process.communicate(timeout=30)[0]
        assert process.returncode == 128 + signal.SIGTERM, output
        assert not postgres_processes(tmp_path / "data" / "pgdata"), "PostgreSQL outlived serve"
        assert "RuntimeDirWarning" not in output and "XDG_RUNTIME_DIR" not in output, output
        assert "Traceback" not in output, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=20)
        stop_postmaster(tmp_path / "data" / "pgdata")  # only if the test failed before that


def stop_postmaster(pgdata: Path) -> None:
    """Fast shutdown (SIGINT) of the postmaster named in postmaster.pid."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 20
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
