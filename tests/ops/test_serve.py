"""The README's first command, for real: `winback serve` on a fresh embedded PostgreSQL starts,
migrates, prints the data directory and a one-time admin key that works, and serves /readyz."""

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

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_the_embedded_default(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WINBACK_")}
    env["WINBACK_DATA_DIR"] = str(tmp_path / "data")
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
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        # the embedded server outlives the API by design (shared with the CLI); stop it here
        stop_postmaster(tmp_path / "data" / "pgdata")


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
