"""(w) Outgoing webhooks and ingest (issue 13): `POST /v1/events` under the (c) load, without any
webhook endpoint and with two endpoints subscribed to every event type, alternating, while the
worker's delivery pipeline (`bench/webhook_worker.py`, its own process) delivers to two receivers
on this machine. The target: ingest with the endpoints stays within 10 % of ingest without
(median of the rounds).

Everything shares the 2 cores: the load generator, the winback server, PostgreSQL, the worker and
the receivers (raw asyncio, `bench/receiver.py`). Each row carries the cores each used; the
delivery row says how many messages were delivered during the round and how long after their
commit (the lag, from the outbox row's time to the attempt's).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from app.kit.time import utcnow
from bench import common
from bench.common import LoadResult
from bench.registry import Bench, Row, Target, log, option, scenario
from bench.scenarios import database, load_row, single_events, winback
from bench.workload import Workload

option("--webhook-rounds", type=int, default=3, quick=1, help="(w) rounds without/with endpoints")
EVENT_TYPES = ["client.status_changed", "client.tier_changed", "campaign.created"]
SECRET_KEY = "bench-secret-key-" + "b" * 32  # seals the endpoints' secrets (the bench, the worker)


@contextlib.asynccontextmanager
async def receivers(count: int) -> AsyncIterator[list[tuple[int, int]]]:
    """`count` receiver processes: (port, pid) each."""
    started: list[tuple[int, subprocess.Popen[str]]] = []
    try:
        for _ in range(count):
            with socket.socket() as probe:
                probe.bind((common.LOCALHOST, 0))
                port = int(probe.getsockname()[1])
            process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
                [sys.executable, "-m", "bench.receiver", str(port)],
                cwd=common.ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            started.append((port, process))
        yield [(port, process.pid) for port, process in started]
    finally:
        for _, process in started:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=10)


@contextlib.asynccontextmanager
async def worker(url: str) -> AsyncIterator[int]:
    """The delivery pipeline in a process of its own; yields its pid."""
    env = {
        **os.environ,
        "WINBACK_DATABASE_URL": url,
        "WINBACK_SECRET_KEY": SECRET_KEY,
        "WINBACK_WEBHOOK_ALLOW_HTTP": "true",
        "WINBACK_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - read on failure, closed below
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
        [sys.executable, "-m", "bench.webhook_worker"],
        cwd=common.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        errors.seek(0)
        raise RuntimeError(f"the webhook worker did not start: {errors.read()[-3000:]!r}")
    try:
        yield process.pid
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.poll() is None:
            process.kill()
        if process.returncode not in (0, -15):
            errors.seek(0)
            print(errors.read()[-3000:].decode(errors="replace"), file=sys.stderr)
        errors.close()


async def register(url: str, ports: list[int]) -> list[str]:
    """Two endpoints, registered through the service (the bench's server need not allow http
    to this machine: only the worker sends)."""
    from app.config import Settings
    from app.webhooks import service
    from app.webhooks.crypto import sealing_key
    from app.webhooks.schemas import EndpointCreate
    from app.webhooks.ssrf import Guard

    key = sealing_key(Settings(secret_key=SECRET_KEY))
    guard = Guard(allow_http=True, allowed=(ipaddress.ip_network("127.0.0.1/32"),))
    created = []
    async with database(url) as (_, sessionmaker), sessionmaker() as session, session.begin():
        for port in ports:
            body = EndpointCreate(url=f"http://127.0.0.1:{port}/hook", event_types=EVENT_TYPES)
            endpoint = await service.create(session, body, guard, key, utcnow(), None)
            created.append(endpoint.id)
    return created


async def delete(url: str, endpoint_ids: list[str]) -> None:
    from app.webhooks import service

    async with database(url) as (_, sessionmaker), sessionmaker() as session, session.begin():
        for endpoint_id in endpoint_ids:
            await service.delete(session, endpoint_id)


async def drained(url: str, limit: float = 120.0) -> float:
    """Wait until no message waits to be sent; returns the seconds waited."""
    started = time.monotonic()
    conn = await asyncpg.connect(url)
    try:
        while time.monotonic() - started < limit:
            waiting = await conn.fetchval(
                "SELECT (SELECT count(*) FROM webhook_queue) + "
                "(SELECT count(*) FROM webhook_delivery WHERE status = 'pending')"
            )
            if not waiting:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return time.monotonic() - started


async def delivered_since(url: str, since: float) -> tuple[int, int, float, float]:
    """(delivered, not delivered, lag p50 s, lag p99 s) of the deliveries made since `since`
    (Unix time)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT d.status, extract(epoch FROM a.attempted_at - e.created_at) AS lag "
            "FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id "
            "LEFT JOIN webhook_attempt a ON a.delivery_id = d.id AND a.number = d.attempts "
            "WHERE d.created_at >= to_timestamp($1)",
            since,
        )
    finally:
        await conn.close()
    lags = sorted(float(r["lag"]) for r in rows if r["status"] == "delivered")
    done = len(lags)
    if not lags:
        return 0, len(rows), float("nan"), float("nan")
    p99 = lags[min(len(lags) - 1, max(0, int(0.99 * len(lags)) - 1))]
    return done, len(rows) - done, statistics.median(lags), p99


async def measured(
    bench: Bench, key: str, workload: Workload, pids: list[int]
) -> tuple[LoadResult, dict[str, float]]:
    """The (c) load, and the cores the extra processes (worker, receivers) used meanwhile."""
    app = await winback(bench)
    before = [common._process_seconds(pid) for pid in pids]
    started = time.perf_counter()
    result = await single_events(bench, key, app.server, workload, app.headers)
    wall = time.perf_counter() - started
    used = [common._process_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
    return result, {"worker": used[0] / wall, "receivers": sum(used[1:]) / wall}


@dataclass(frozen=True)
class Round:
    without: LoadResult
    with_endpoints: LoadResult
    cores: dict[str, float]  # the worker's and the receivers', during the load with endpoints
    delivered: tuple[int, int, float, float]  # delivered, not delivered, lag p50, lag p99
    drained_after: float


def middle(rounds: list[Round], rate: float, pick: str) -> Round:
    return min(rounds, key=lambda r: abs(getattr(r, pick).rate - rate))


@scenario("w", "winback POST /v1/events without and with 2 webhook endpoints (worker delivering)")
async def webhooks_ingest(bench: Bench) -> list[Row]:
    args, app = bench.args, await winback(bench)
    rounds: list[Round] = []
    async with receivers(2) as ends, worker(app.url) as worker_pid:
        pids = [worker_pid, *(pid for _, pid in ends)]
        for number in range(args.webhook_rounds):
            tag = f"{bench.tag}w{number}"
            plain = Workload(tag + "a", app.clients, seed=11)
            without, _ = await measured(bench, "w", plain, pids)
            ids = await register(app.url, [port for port, _ in ends])
            since = time.time()
            hooked = Workload(tag + "b", app.clients, seed=13)
            with_endpoints, cores = await measured(bench, "w+", hooked, pids)
            drained_after = await drained(app.url)
            outcome = await delivered_since(app.url, since)
            await delete(app.url, ids)
            rounds.append(Round(without, with_endpoints, cores, outcome, drained_after))
            log(
                f"(w) round {number + 1}: {without.rate:,.0f} -> {with_endpoints.rate:,.0f} "
                f"events/s; {outcome[0]:,} delivered, {outcome[1]} not; all sent "
                f"{drained_after:.1f} s after the load"
            )
    without_rate = statistics.median(r.without.rate for r in rounds)
    with_rate = statistics.median(r.with_endpoints.rate for r in rounds)
    per_round = ", ".join(f"{r.without.rate:,.0f} / {r.with_endpoints.rate:,.0f}" for r in rounds)
    note = f"median of {len(rounds)} rounds (without / with: {per_round})"
    base = load_row(
        "w",
        "POST /v1/events, no webhook endpoint",
        middle(rounds, without_rate, "without").without,
        "events/s",
        note=note,
    )
    base.value = without_rate
    typical = middle(rounds, with_rate, "with_endpoints")
    hooked_row = load_row(
        "w+",
        "POST /v1/events, 2 endpoints subscribed",
        typical.with_endpoints,
        "events/s",
        reference="w",
        target=Target(min_ratio=0.9),
        note=f"worker {typical.cores['worker']:.2f} cores, receivers "
        f"{typical.cores['receivers']:.2f} cores",
    )
    hooked_row.value = with_rate
    delivered, missing, lag50, lag99 = typical.delivered
    delivery = Row(
        "w'",
        "webhook messages delivered (2 endpoints)",
        delivered / (args.duration + args.warmup),
        "messages/s",
        note=f"{delivered:,} delivered, {missing} not; from commit to delivery p50 {lag50:.2f} s, "
        f"p99 {lag99:.2f} s; all sent {typical.drained_after:.1f} s after the load stopped",
    )
    return [base, hooked_row, delivery]
