"""The SPEC §13 scenarios, each one registered function (run with `python -m bench`).

Each server is its own uvicorn subprocess (one worker, no access log) on a free 127.0.0.1 port;
the load generator is the bench process, an asyncio closed loop over raw HTTP/1.1 keep-alive
connections. Generator, server and PostgreSQL share the machine's cores; every load row carries
the CPU each used. (c) to (f) share one winback server whose database is populated first
(`--clients` whole histories through /v1/events/batch, then the tier refresh and a sweep).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from app.kit.time import utcnow
from bench import common
from bench.common import BadResponse, LoadResult, RawHTTP, Server, closed_loop, dumps
from bench.registry import Bench, Row, Target, log, option, scenario
from bench.workload import Workload, client_id

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

BENCH_DB = "winback_bench"
REF_DB = "winback_bench_ref"

option("--connections", type=int, default=32, help="connections for single events (a, b, c)")
option("--batch-connections", type=int, default=4, help="connections for batches (setup, d)")
option(
    "--batch-prebuild-rate",
    type=float,
    default=25_000,
    quick=2_000,
    help="batches pre-built for (d), in events/s",
)
option("--populate-timeout", type=float, default=300.0, help="seconds for the population load")
option("--populate-servers", type=int, default=2, help="winback processes loading the population")
option("--list-seconds", type=float, default=4.0, quick=1.0, help="per list query (e, g)")
option("--list-requests", type=int, default=400, quick=100, help="per list query at most (e, g)")
option(
    "--reuse-database",
    action="store_true",
    help="run on the winback database a --keep-databases run left, if it has clients",
)
option("--sweep-repeats", type=int, default=3, quick=1, help="sweeps with 1 %% due (f)")
option("--sweep-all-budget", type=float, default=60.0, quick=20.0, help="seconds, then estimate")

LIST_QUERIES = [
    ("status=at_risk&sort=value_desc", "at-risk by value (the headline list)"),
    ("status=lost&sort=value_desc", "lost by value (win-back list)"),
    ("status=at_risk&sort=overdue_desc", "at-risk, most overdue first"),
    ("status=active&sort=last_order_desc", "active, latest order first"),
    ("tier=A&sort=value_desc", "tier A by value"),
    ("status=at_risk&tier=A&sort=value_desc", "at-risk tier A"),
    ("status=at_risk&manager_id=m-07&sort=value_desc", "one manager's at-risk"),
    ("signal=unresponsive&sort=value_desc", "signal=unresponsive"),
    ("status=lost&market=b2c&sort=overdue_desc", "lost b2c, overdue first"),
    ("status=at_risk,lost&min_value=1000&sort=value_desc", "at-risk+lost, value>=1000"),
    ("sort=last_order_desc", "everyone, latest order first"),
    ("sort=overdue_desc", "everyone, most overdue first"),
]


def load_row(
    key: str,
    what: str,
    result: LoadResult,
    unit: str,
    *,
    reference: str | None = None,
    target: Target | None = None,
    note: str = "",
) -> Row:
    """A row for a load measurement: rate, latency percentiles, CPU split, errors."""
    if result.errors:
        note += ("; " if note else "") + f"{result.errors} errors, first: {result.first_error}"
    return Row(
        key,
        what,
        result.rate,
        unit,
        reference=reference,
        target=target,
        p50=result.pct(50),
        p99=result.pct(99),
        cpu=result.cpu,
        note=note,
    )


async def single_events(
    bench: Bench,
    key: str,
    server: Server,
    workload: Workload,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Wait for a quiet machine, then `--connections` closed loops of single events."""
    args = bench.args
    await bench.settle(f"({key})")
    connections = [RawHTTP(common.LOCALHOST, server.port, headers) for _ in range(args.connections)]

    def make() -> tuple[str, str, bytes | None, int]:
        return "POST", "/v1/events", dumps(workload.live_event()), 1

    with bench.profiled(server.pid, f"{key}-single", args.warmup + args.duration):
        return await closed_loop(
            connections, make, common.expect_status(201), args.duration, args.warmup, server.pid
        )


# --- the references ----------------------------------------------------------------------------


@scenario("a", "reference: FastAPI + winback's EventIn validation only, 201 (web-layer bound)")
async def validate_only(bench: Bench) -> list[Row]:
    async with Server("bench.reference_apps:create_validate_app", {}, "validate") as server:
        workload = Workload(bench.tag + "a", bench.args.clients)
        result = await single_events(bench, "a", server, workload)
    return [load_row("a", "validate only (web bound)", result, "events/s")]


@scenario("b", "reference: FastAPI + asyncpg, insert event + upsert aggregate (database bound)")
async def minimal_ingest(bench: Bench) -> list[Row]:
    from bench.reference_apps import REF_SCHEMA

    async with scratch_database(bench, REF_DB) as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(REF_SCHEMA)
            # the same existing clients as winback's population: updates and inserts both occur
            await conn.execute(
                "INSERT INTO ref_client (client_id, orders_count, revenue, last_order_at) "
                "SELECT 'c' || lpad(g::text, 7, '0'), 4, 1000, now() - interval '30 days' "
                "FROM generate_series(0, $1 - 1) g",
                bench.args.clients,
            )
            await conn.execute("VACUUM ANALYZE ref_client")
        finally:
            await conn.close()
        env = {"BENCH_REF_DATABASE_URL": url}
        async with Server("bench.reference_apps:create_ingest_app", env, "ref-ingest") as server:
            workload = Workload(bench.tag + "b", bench.args.clients)
            result = await single_events(bench, "b", server, workload)
    return [load_row("b", "minimal txn ingest (db bound)", result, "events/s")]


@contextlib.asynccontextmanager
async def scratch_database(bench: Bench, name: str) -> AsyncIterator[str]:
    """A fresh database on the server of --database-url, dropped afterwards (--keep-databases
    keeps it for EXPLAIN)."""
    url = await common.recreate_database(bench.args.database_url, name)
    try:
        yield url
    finally:
        if not bench.args.keep_databases:
            await common.drop_database(bench.args.database_url, name)


# --- winback, populated --------------------------------------------------------------------------


@dataclass
class Winback:
    server: Server
    url: str
    headers: dict[str, str]
    clients: int


async def winback(bench: Bench) -> Winback:
    return await bench.shared("winback", populated_winback)


# The bench's one key would otherwise meet the per-key limits (SPEC §14; 200 reads/s by
# default): at 1,000,000 clients a list page takes ~3 ms, and the list scenario's requests were
# answered 429 from the limit's rate on, not by the query measured.
NO_RATE_LIMITS = {
    "WINBACK_RATE_LIMIT_READS_PER_SECOND": "0",
    "WINBACK_RATE_LIMIT_WRITES_PER_SECOND": "0",
}


@contextlib.asynccontextmanager
async def populated_winback(bench: Bench) -> AsyncIterator[Winback]:
    """A migrated database, the population loaded through /v1/events/batch, tiers refreshed and
    swept; one winback server on it (--populate-servers of them while loading)."""
    from app.migrate import upgrade

    admin_key = "bench-" + secrets.token_urlsafe(24)
    headers = {"Authorization": f"Bearer {admin_key}"}
    env = {"WINBACK_ADMIN_KEY": admin_key, "WINBACK_RUN_WORKER": "false", **NO_RATE_LIMITS}
    reuse = bench.args.reuse_database
    kept = await common.kept_clients(bench.args.database_url, BENCH_DB) if reuse else 0
    if kept:
        # a population kept by --keep-databases: the read scenarios again, without an hour of
        # loading (writes on it change it; its figures are not a clean run's)
        url = common.database_url(bench.args.database_url, BENCH_DB)
        log(f"winback: reusing database {BENCH_DB} ({kept:,} clients), migrating")
        bench.note(f"database {BENCH_DB} reused ({kept:,} clients): not loaded in this run")
        await upgrade(url)
        async with Server(
            "app.main:create_app", {**env, "WINBACK_DATABASE_URL": url}, "winback"
        ) as server:
            yield Winback(server, url, headers, kept)
        return
    async with scratch_database(bench, BENCH_DB) as url:
        log(f"winback: database {BENCH_DB}, migrating")
        await upgrade(url)
        env["WINBACK_DATABASE_URL"] = url
        async with Server("app.main:create_app", env, "winback") as server:
            try:
                async with contextlib.AsyncExitStack() as helpers:
                    extra = [
                        await helpers.enter_async_context(
                            Server("app.main:create_app", env, f"winback-load-{i}")
                        )
                        for i in range(1, bench.args.populate_servers)
                    ]
                    clients = await populate(bench, [server, *extra], headers)
                await refresh(bench, url)
                yield Winback(server, url, headers, clients)
            except Exception:
                print(f"winback server log tail:\n{server.tail()}", file=sys.stderr)
                raise
            if server.process and server.process.poll() is not None:
                bench.note(f"winback server died:\n{server.tail()}")


async def populate(bench: Bench, servers: list[Server], headers: dict[str, str]) -> int:
    """Whole client histories through /v1/events/batch, `--batch-connections` at a time."""
    args = bench.args
    log(f"populating {args.clients:,} clients ({len(servers)} server process(es))")
    workload = Workload(bench.tag + "p", args.clients, seed=3)
    batches = workload.population_batches(args.clients, utcnow())
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + args.populate_timeout
    progress = [time.monotonic()]

    async def worker(port: int) -> None:
        conn = RawHTTP(common.LOCALHOST, port, headers)
        try:
            for events, clients in batches:  # one generator shared by the workers
                status, payload = await conn.request("POST", "/v1/events/batch", dumps(events))
                if status != 200:
                    raise BadResponse(status, payload[:500])
                answer = json.loads(payload)
                counts.update({k: answer[k] for k in ("accepted", "duplicates", "rejected")})
                counts.update(batches=1, clients=clients)
                if answer["errors"] and not counts["errors_shown"]:
                    counts["errors_shown"] = 1
                    print(f"  batch error sample: {answer['errors'][0]}", flush=True)
                if time.monotonic() - progress[0] > 15:
                    progress[0] = time.monotonic()
                    log(f"    ... {counts['clients']:,} clients, {counts['accepted']:,} events")
                if time.monotonic() > deadline:
                    return
        finally:
            conn.close()

    meter = common.CpuMeter([s.pid for s in servers])
    meter.tick()
    await asyncio.gather(
        *(worker(servers[i % len(servers)].port) for i in range(args.batch_connections))
    )
    meter.tick()
    seconds, cpu = meter.seconds, meter.split()
    note = (
        f"{counts['clients']:,} clients, {counts['accepted']:,} events, {counts['batches']:,} "
        f"batches in {seconds:.1f} s; {len(servers)} winback process(es), "
        f"{args.batch_connections} connections; batches built on the fly"
    )
    what = "population load, batch (setup)"
    bench.add(Row("d'", what, counts["accepted"] / seconds, "events/s", cpu=cpu, note=note))
    if counts["rejected"] or counts["duplicates"]:
        bench.note(f"population: {counts['rejected']} rejected, {counts['duplicates']} duplicates")
    if counts["clients"] < args.clients:
        bench.note(f"population stopped at {counts['clients']:,} clients (--populate-timeout)")
    return counts["clients"]


async def refresh(bench: Bench, url: str) -> None:
    """VACUUM ANALYZE (what autovacuum would do), refresh_population and the sweep it causes."""
    from app.worker.jobs import refresh_population, sweep

    async with database(url) as (conn, sessionmaker):
        await conn.execute("VACUUM ANALYZE client")
        await conn.execute("VACUUM ANALYZE event")
        log("refresh_population + sweep (tiers, market cycles)")
        started = time.perf_counter()
        await refresh_population(sessionmaker, utcnow())
        refreshed = time.perf_counter() - started
        started = time.perf_counter()
        swept = len(await sweep(sessionmaker, utcnow, batch_size=500))
        seconds = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE client")
        statuses = await conn.fetch(
            "SELECT status, count(*) FROM client GROUP BY 1 ORDER BY 2 DESC"
        )
        tiers = await conn.fetch(
            "SELECT coalesce(tier, '-'), count(*) FROM client GROUP BY 1 ORDER BY 1"
        )
    note = (
        f"refresh_population {refreshed:.2f} s; the sweep it triggered: {swept:,} clients in "
        f"{seconds:.2f} s = {swept / seconds if seconds else 0:,.0f} clients/s"
    )
    what = f"first sweep after refresh_population ({swept:,} due)"
    bench.add(Row("f0", what, seconds, "s", note=note))
    bench.note(
        "population after the first sweep: statuses "
        + ", ".join(f"{status} {n:,}" for status, n in statuses)
        + "; tiers "
        + ", ".join(f"{tier} {n:,}" for tier, n in tiers)
    )


@contextlib.asynccontextmanager
async def database(
    url: str,
) -> AsyncIterator[tuple[asyncpg.Connection, async_sessionmaker[AsyncSession]]]:
    """A raw connection (for the bench's own SQL) and the app's sessionmaker (for its jobs)."""
    from app.db import create_engine, create_sessionmaker

    engine = create_engine(url, pool_size=2, max_overflow=0)
    conn = await asyncpg.connect(url)
    try:
        yield conn, create_sessionmaker(engine)
    finally:
        await conn.close()
        await engine.dispose()


# --- winback scenarios -------------------------------------------------------------------------


async def event_groups(server: Server, headers: dict[str, str]) -> tuple[float, float]:
    """(transactions, events) the server's single events were written in so far, read from its
    /metrics (app.ingest.groups; one process's registry)."""
    conn = RawHTTP(common.LOCALHOST, server.port, headers)
    try:
        status, body = await conn.request("GET", "/metrics")
    finally:
        conn.close()
    if status != 200:
        return 0.0, 0.0
    found = {"count": 0.0, "sum": 0.0}
    for line in body.decode().splitlines():
        if line.startswith("winback_event_group_size_") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            for part in found:
                if name.startswith(f"winback_event_group_size_{part}{{"):
                    found[part] += float(value)
    return found["count"], found["sum"]


@scenario("c", "winback POST /v1/events (single events)")
async def single_event(bench: Bench) -> list[Row]:
    app = await winback(bench)
    workload = Workload(bench.tag + "c", app.clients, seed=5)
    groups_before = await event_groups(app.server, app.headers)
    result = await single_events(bench, "c", app.server, workload, app.headers)
    groups_after = await event_groups(app.server, app.headers)
    target = Target(min_ratio=0.7, max_p99_ms=50)
    transactions = groups_after[0] - groups_before[0]
    note = f"{bench.args.connections} connections"
    if transactions:
        events = groups_after[1] - groups_before[1]
        note += f"; {events / transactions:.1f} events a transaction (group commit)"
    what = "winback POST /v1/events"
    return [load_row("c", what, result, "events/s", reference="b", target=target, note=note)]


def two_processes(app: Winback) -> dict[str, str]:
    """The environment of a second winback server (2 API processes) on the population's
    database, with the population's key and without the worker."""
    return {
        "WINBACK_DATABASE_URL": app.url,
        "WINBACK_RUN_WORKER": "false",
        "WINBACK_ADMIN_KEY": app.headers["Authorization"].removeprefix("Bearer "),
        **NO_RATE_LIMITS,
    }


@scenario("p", "winback POST /v1/events (single events), 2 API processes (serve --workers 2)")
async def single_event_two_processes(bench: Bench) -> list[Row]:
    """(c) against `--workers 2` on the same database: the best configuration for 2 cores?"""
    app = await winback(bench)
    async with Server("app.main:create_app", two_processes(app), "winback-2", workers=2) as server:
        workload = Workload(bench.tag + "2", app.clients, seed=6)  # "p": the population's
        result = await single_events(bench, "p", server, workload, app.headers)
    target = Target(min_ratio=0.7, max_p99_ms=50)
    note = f"{bench.args.connections} connections, 2 uvicorn processes (CPU split: manager only)"
    what = "winback POST /v1/events, 2 processes"
    return [load_row("p", what, result, "events/s", reference="b", target=target, note=note)]


async def batches(
    bench: Bench, code: str, server: Server, headers: dict[str, str], workload: Workload
) -> LoadResult:
    """1,000-event batches of the live mix from --batch-connections connections, closed loop."""
    args = bench.args
    await bench.settle(f"({code})")
    # pre-built, so that the generator's CPU goes to the server during the window
    needed = int((args.duration + args.warmup) * args.batch_prebuild_rate / 1000)
    count = needed + args.batch_connections
    prebuilt = iter([dumps(workload.live_batch(1000)) for _ in range(count)])

    def make() -> tuple[str, str, bytes | None, int]:
        body = next(prebuilt, None) or dumps(workload.live_batch(1000))  # on the fly: gen CPU
        return "POST", "/v1/events/batch", body, 1000

    def check(status: int, payload: bytes, units: int) -> int:
        answer = json.loads(payload) if status == 200 else {}
        if status != 200 or answer["rejected"]:
            raise BadResponse(status, payload[:300])
        return int(answer["accepted"])

    port, pid = server.port, server.pid
    connections = [RawHTTP(common.LOCALHOST, port, headers) for _ in range(args.batch_connections)]
    with bench.profiled(pid, f"{code}-batch", args.warmup + args.duration):
        return await closed_loop(connections, make, check, args.duration, args.warmup, pid)


@scenario("d", "winback POST /v1/events/batch, 1,000-event batches (live mix)")
async def batch(bench: Bench) -> list[Row]:
    app = await winback(bench)
    workload = Workload(bench.tag + "d", app.clients, seed=9)
    result = await batches(bench, "d", app.server, app.headers, workload)
    note = (
        f"{result.requests} batches, {bench.args.batch_connections} connections, latency per batch"
    )
    target = Target(min_value=20_000)
    what = "winback POST /v1/events/batch"
    return [load_row("d", what, result, "events/s", target=target, note=note)]


@scenario("q", "winback POST /v1/events/batch, 2 API processes (serve --workers 2)")
async def batch_two_processes(bench: Bench) -> list[Row]:
    """(d) against `--workers 2` on the same database: a batch is Python-bound in one process
    (the fold and evaluation of ~1,000 clients), so the second core is the server's to use."""
    app = await winback(bench)
    async with Server("app.main:create_app", two_processes(app), "winback-2b", workers=2) as server:
        workload = Workload(bench.tag + "q", app.clients, seed=10)
        result = await batches(bench, "q", server, app.headers, workload)
    note = (
        f"{result.requests} batches, {bench.args.batch_connections} connections, "
        "2 uvicorn processes (CPU split: manager only)"
    )
    target = Target(min_value=20_000)
    what = "winback POST /v1/events/batch, 2 processes"
    return [load_row("q", what, result, "events/s", target=target, note=note)]


@scenario("e", "winback GET /v1/clients first page (100), filters x sorts, one connection")
async def lists(bench: Bench) -> list[Row]:
    args, app = bench.args, await winback(bench)
    await bench.settle("(e)")
    rows = []
    conn = RawHTTP(common.LOCALHOST, app.server.port, app.headers)
    seconds = max(2.0, args.list_seconds)
    try:
        with bench.profiled(app.server.pid, "e-lists", len(LIST_QUERIES) * seconds):
            for query, label in LIST_QUERIES:
                paths = itertools.repeat(f"/v1/clients?{query}&limit=100")  # the same first page
                result, last = await common.sequential_latency(
                    conn, paths, seconds, args.list_requests
                )
                items = len(json.loads(last).get("items", [])) if result.requests else 0
                note = f"{label}; {result.requests} requests, {items} items on the page"
                target = Target(max_p99_ms=20)
                rows.append(
                    load_row("e", f"list {query}", result, "req/s", target=target, note=note)
                )
    finally:
        conn.close()
    return rows


@scenario("g", "winback GET /v1/clients/{id}/recovery-plan, random clients, one connection")
async def recovery_plan(bench: Bench) -> list[Row]:
    args, app = bench.args, await winback(bench)
    await bench.settle("(g)")
    rng = random.Random(11)

    def paths() -> Iterator[str]:
        while True:
            yield f"/v1/clients/{client_id(rng.randrange(app.clients))}/recovery-plan"

    conn = RawHTTP(common.LOCALHOST, app.server.port, app.headers)
    try:
        seconds = max(2.0, args.list_seconds * 3)
        result, _ = await common.sequential_latency(conn, paths(), seconds, args.list_requests * 2)
    finally:
        conn.close()
    note = f"{result.requests} requests, latency of the 200s"
    target = Target(max_p99_ms=20)
    return [load_row("g", "recovery plan", result, "req/s", target=target, note=note)]


async def mark_due(
    conn: asyncpg.Connection, sessionmaker: async_sessionmaker[AsyncSession], count: int | None
) -> int:
    """Sweep what is due by itself, then make `count` random clients due (None: all of them), as
    (f) and (t) measure; returns how many are due."""
    from app.worker.jobs import sweep

    await sweep(sessionmaker, utcnow, batch_size=500)
    mark = "UPDATE client SET next_review_at = now() - interval '1 minute'"
    if count is None:
        await conn.execute(mark)
    else:
        sample = "SELECT client_id FROM client ORDER BY random() LIMIT $1"
        await conn.execute(f"{mark} WHERE client_id IN ({sample})", count)
    return int(await conn.fetchval("SELECT count(*) FROM client WHERE next_review_at <= now()"))


def median_index(times: list[float]) -> int:
    """Which run is the median (the upper one of an even count)."""
    return sorted(range(len(times)), key=times.__getitem__)[len(times) // 2]


@scenario("f", "winback sweep, in-process: 1 % of clients due, then all due")
async def sweep_due(bench: Bench) -> list[Row]:
    from app.worker.jobs import sweep

    args, app = bench.args, await winback(bench)
    await bench.settle("(f)")
    async with database(app.url) as (conn, sessionmaker):
        total = await conn.fetchval("SELECT count(*) FROM client")
        one_pct = max(1, total // 100)
        times, processed, splits = [], [], []
        for _ in range(args.sweep_repeats):
            await mark_due(conn, sessionmaker, one_pct)
            meter = common.CpuMeter([])  # the sweep runs in this process: the "generator"
            meter.tick()
            started = time.perf_counter()
            processed.append(len(await sweep(sessionmaker, utcnow, batch_size=500)))
            times.append(time.perf_counter() - started)
            meter.tick()
            splits.append(meter.split())

        due = await mark_due(conn, sessionmaker, None)
        meter = common.CpuMeter([])
        meter.tick()
        started = time.perf_counter()
        swept = 0
        while time.perf_counter() - started < args.sweep_all_budget:
            chunk = await sweep(sessionmaker, utcnow, batch_size=500, max_batches=4)
            swept += len(chunk)
            if len(chunk) < 2000:
                break
        seconds = time.perf_counter() - started
        meter.tick()
    return sweep_rows(
        "f", "", "generator", total, times, processed, splits, (due, swept, seconds, meter.split())
    )


def sweep_rows(
    letter: str,
    how: str,
    sweeping: str,
    total: int,
    times: list[float],
    processed: list[int],
    splits: list[dict[str, float]],
    sweep_all: tuple[int, int, float, dict[str, float]],
    runs_note: str = "",
) -> list[Row]:
    """(f)'s and (t)'s rows: the median sweep of 1 % due (its cores those of the median run),
    the sweep of all due (`sweep_all`: due, swept, seconds, cores; estimated from the rate if
    the budget ran out first), each also scaled to 1,000,000 clients. `how` follows "sweep";
    `sweeping` is the CpuMeter's name for the sweeping process(es)."""
    middle = median_index(times)
    median = times[middle]
    scale = 1_000_000 / total
    one_pct = max(1, total // 100)
    due, swept, seconds, split = sweep_all
    rate = swept / seconds if seconds else 0.0
    all_due = seconds if swept >= due else due / rate
    per_client = median / max(1, processed[middle]) * 1000
    runs = f"runs {', '.join(f'{t:.3f}' for t in times)} s, processed {processed}"
    runs += f"; {per_client:.2f} ms/client{runs_note}; {_sweep_cores(splits[middle], sweeping)}"
    estimated = "" if swept >= due else ", estimated from the rate"
    all_note = f"{rate:,.0f} clients/s; {_sweep_cores(split, sweeping)}"
    one_pct_due = f"sweep 1 % due{how} ({one_pct:,} of {total:,}), median"
    return [
        Row(letter, one_pct_due, median, "s", note=runs),
        Row(
            letter,
            f"sweep 1 % of 1M{how} (EXTRAPOLATED)",
            median * scale,
            "s",
            target=Target(max_value=1),
        ),
        Row(letter, f"sweep all due{how} ({due:,}){estimated}", all_due, "s", note=all_note),
        Row(
            letter,
            f"sweep all of 1M{how} (EXTRAPOLATED)",
            all_due * scale,
            "s",
            target=Target(max_value=30),
        ),
    ]


@contextlib.asynccontextmanager
async def sweepers(
    url: str, processes: int, batch_size: int, in_flight: int
) -> AsyncIterator[Sweepers]:
    """`processes` sweeping processes (bench.sweeper) on `url`, each with `in_flight` batches at
    once, connected and ready."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sweeper",
            url,
            str(batch_size),
            str(in_flight),
            cwd=common.ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            if (await child.stdout.readline()).strip() != b"ready":
                raise RuntimeError("a sweeping process did not start (see its output above)")
        yield Sweepers(children)
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
        for child in children:
            try:
                await asyncio.wait_for(child.wait(), timeout=30)
            except TimeoutError:
                child.kill()
                await child.wait()


@dataclass
class Sweepers:
    children: list[asyncio.subprocess.Process]

    async def sweep(self, budget: float) -> tuple[float, int, dict[str, float]]:
        """All of them sweep at once what is due (for at most `budget` seconds each): the wall
        time until the last is done, the clients swept, and the cores each side used."""
        meter = common.CpuMeter([child.pid for child in self.children])
        meter.tick()
        started = time.perf_counter()
        for child in self.children:
            assert child.stdin is not None
            child.stdin.write(f"go {budget}\n".encode())
            await child.stdin.drain()
        swept = 0
        for child in self.children:
            assert child.stdout is not None
            swept += json.loads(await child.stdout.readline())["swept"]
        seconds = time.perf_counter() - started
        meter.tick()
        return seconds, swept, meter.split()


def _sweep_cores(split: dict[str, float], sweeping: str) -> str:
    """The cores the sweeping process(es) and PostgreSQL used: `sweeping` is the CpuMeter's
    name for them ("generator": this process, (f); "server": the child processes, (t))."""
    return f"cores sweep/pg {split.get(sweeping, 0):.2f}/{split.get('postgres', 0):.2f}"


@scenario("t", "winback sweep, 2 worker processes at once: 1 % of clients due, then all due")
async def sweep_two_processes(bench: Bench) -> list[Row]:
    """(f) with two processes sweeping the same due clients at once, one batch in flight each,
    as two `winback worker` processes with WINBACK_SWEEP_CONCURRENCY=1 do (SKIP LOCKED keeps
    them apart): the sweep's best configuration for two cores. Two batches in flight each (the
    setting's default) cost PostgreSQL more than they overlap: four sweepers skip each other's
    locked rows (docs/scaling.md)."""
    args, app = bench.args, await winback(bench)
    await bench.settle("(t)")
    async with database(app.url) as (conn, sessionmaker), sweepers(app.url, 2, 500, 1) as two:
        total = await conn.fetchval("SELECT count(*) FROM client")
        one_pct = max(1, total // 100)
        times, processed, splits = [], [], []
        for _ in range(args.sweep_repeats):
            await mark_due(conn, sessionmaker, one_pct)
            seconds, swept, split = await two.sweep(budget=float("inf"))
            times.append(seconds)
            processed.append(swept)
            splits.append(split)
        due = await mark_due(conn, sessionmaker, None)
        seconds, swept, split = await two.sweep(budget=args.sweep_all_budget)
    return sweep_rows(
        "t",
        ", 2 processes",
        "server",
        total,
        times,
        processed,
        splits,
        (due, swept, seconds, split),
        runs_note="; one batch in flight each",
    )


# --- predictive: population model fits (pure, no database) -------------------------------------

option("--fit-repeats", type=int, default=5, quick=2, help="fits per method in (m); the median")


def predictive_fit_rows(repeats: int = 5) -> list[Row]:
    """(m) without the runner: BG/NBD (and MBG/NBD) + Gamma-Gamma fitted on CDNOW's 23,570
    clients (39-week calibration to 1997-09-30, weeks), winback's fit (log-parameters, analytic
    gradients, L-BFGS-B, identical rows grouped) side by side with scipy's Nelder-Mead on the
    same per-client log-likelihood (no gradient, no grouping) from the same start in the same
    process: once with tolerances tight enough to reach the same optimum (the reference) and
    once with scipy's defaults (which stop short of it on this likelihood). Touches no
    database: callable on its own,
    `python -c "from bench.scenarios import predictive_fit_rows as f; print(f())"`."""
    import os
    import statistics
    from pathlib import Path

    import numpy as np
    from scipy.optimize import minimize

    from app.predictive import WEEKS, Variant, fit_bgnbd, fit_gamma_gamma, summarize_arrays
    from app.predictive.bgnbd import BgNbdParams
    from app.predictive.bgnbd import log_likelihood as purchase_ll
    from app.predictive.gamma_gamma import GammaGammaParams
    from app.predictive.gamma_gamma import log_likelihood as spend_ll

    data = Path(__file__).resolve().parent.parent / "tests/predictive/data/CDNOW_master.txt"
    table = np.loadtxt(data, skiprows=1)  # id, YYYYMMDD, CDs, US$
    yyyymmdd = table[:, 1].astype(np.int64)
    years = (yyyymmdd // 10_000 - 1970).astype("datetime64[Y]")
    months = years.astype("datetime64[M]") + (yyyymmdd // 100 % 100 - 1)
    days = months.astype("datetime64[D]") + (yyyymmdd % 100 - 1)
    day = (days - np.datetime64("1997-01-01")).astype(np.int64)
    cutoff = int((np.datetime64("1997-09-30") - np.datetime64("1997-01-01")).astype(np.int64))
    s = summarize_arrays(table[:, 0].astype(np.int64), day, table[:, 3], cutoff, unit_days=WEEKS)
    n = s.x.size
    repeat = (s.x > 0) & (s.mean_repeat_spend > 0)

    def ours(variant: Variant) -> tuple[float, str]:
        started = time.perf_counter()
        purchases = fit_bgnbd(s.x, s.t_x, s.T, unit_days=WEEKS, variant=variant)
        spend = fit_gamma_gamma(s.x, s.mean_repeat_spend)
        seconds = time.perf_counter() - started
        assert purchases.converged and spend.converged
        p = purchases.params
        note = (
            f"r {p.r:.4f} alpha {p.alpha:.4f} a {p.a:.4f} b {p.b:.4f}, LL "
            f"{purchases.log_likelihood:.3f} ({purchases.iterations} it, {purchases.rows:,} rows)"
            f"; p {spend.params.p:.4f} q {spend.params.q:.4f} gamma {spend.params.gamma:.4f}, "
            f"LL {spend.log_likelihood:.3f} ({spend.iterations} it)"
        )
        return seconds, note

    def nelder_mead(tolerance: float | None) -> tuple[float, str]:
        rate = float(s.x.sum() / s.T.sum())
        mean = float(s.mean_repeat_spend[repeat].mean())

        def purchases_nll(theta: np.ndarray) -> float:
            params = BgNbdParams(*np.exp(theta), unit_days=WEEKS)
            return -float(purchase_ll(params, s.x, s.t_x, s.T).sum())

        def spend_nll(theta: np.ndarray) -> float:
            params = GammaGammaParams(*np.exp(theta))
            return -float(spend_ll(params, s.x[repeat], s.mean_repeat_spend[repeat]).sum())

        limits: dict[str, float] = {"maxfev": 20_000, "maxiter": 20_000}
        if tolerance is not None:  # scipy's default is 1e-4 on both
            limits |= {"xatol": tolerance, "fatol": tolerance}
        started = time.perf_counter()
        start = np.log([1.0, 1.0 / rate, 1.0, 3.0])
        purchases = minimize(purchases_nll, start, method="Nelder-Mead", options=limits)
        start = np.log([1.0, 2.0, mean])
        spend = minimize(spend_nll, start, method="Nelder-Mead", options=limits)
        seconds = time.perf_counter() - started
        r, alpha, a, b = np.exp(purchases.x)
        p, q, gamma = np.exp(spend.x)
        note = (
            f"r {r:.4f} alpha {alpha:.4f} a {a:.4f} b {b:.4f}, LL {-purchases.fun:.3f} "
            f"({purchases.nfev} evaluations); p {p:.4f} q {q:.4f} gamma {gamma:.4f}, "
            f"LL {-spend.fun:.3f} ({spend.nfev} evaluations)"
        )
        return seconds, note

    cold, _ = ours(Variant.BG_NBD)  # the first fit of the process pays for warm-up
    timed: dict[str, list[tuple[float, str]]] = {"nm": [], "nm-default": [], "bg": [], "mbg": []}
    for _ in range(max(1, repeats)):
        timed["nm"].append(nelder_mead(1e-8))
        timed["nm-default"].append(nelder_mead(None))
        timed["bg"].append(ours(Variant.BG_NBD))
        timed["mbg"].append(ours(Variant.MBG_NBD))
    median = {k: statistics.median(t for t, _ in v) for k, v in timed.items()}
    runs = {k: ", ".join(f"{t:.3f}" for t, _ in v) for k, v in timed.items()}
    target = Target(max_value=0.5)
    what = f"{n:,} clients"
    # recorded because OpenBLAS's threads made scipy's L-BFGS-B erratic on a busy machine
    blas = f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    return [
        Row(
            "m",
            f"Nelder-Mead BG/NBD + Gamma-Gamma fit to the optimum, {what}, median",
            median["nm"],
            "s",
            note=f"xatol = fatol = 1e-8; runs {runs['nm']} s; {timed['nm'][-1][1]}",
        ),
        Row(
            "m",
            f"Nelder-Mead, scipy's default tolerances, {what}, median",
            median["nm-default"],
            "s",
            reference="m",
            note=f"runs {runs['nm-default']} s; {timed['nm-default'][-1][1]}",
        ),
        Row(
            "m",
            f"winback BG/NBD + Gamma-Gamma fit, {what}, median",
            median["bg"],
            "s",
            reference="m",
            target=target,
            note=f"{median['nm'] / median['bg']:.0f} x faster than Nelder-Mead to the optimum; "
            f"{blas}; first fit {cold:.3f} s; runs {runs['bg']} s; {timed['bg'][-1][1]}",
        ),
        Row(
            "m",
            f"winback MBG/NBD + Gamma-Gamma fit, {what}, median",
            median["mbg"],
            "s",
            reference="m",
            target=target,
            note=f"{median['nm'] / median['mbg']:.0f} x faster than Nelder-Mead to the optimum; "
            f"runs {runs['mbg']} s; {timed['mbg'][-1][1]}",
        ),
    ]


@scenario("m", "predictive: BG/NBD + Gamma-Gamma fit on CDNOW's 23,570 clients vs Nelder-Mead")
async def predictive_fit(bench: Bench) -> list[Row]:
    await bench.settle("(m)")
    return await asyncio.to_thread(predictive_fit_rows, bench.args.fit_repeats)


# --- reports and campaigns (issue 10) ------------------------------------------------------------

from collections.abc import Awaitable, Callable  # noqa: E402  (this section is appended)
from datetime import datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

option("--report-seconds", type=float, default=4.0, quick=1.0, help="per report query (r)")
option("--report-requests", type=int, default=200, quick=30, help="per report query at most (r)")

# A status walk: from each status, the next one and its weight (a client's year, roughly).
WALK = {
    "active": (("at_risk", 0.8), ("lost", 0.2)),  # lost at once: a churn notice
    "at_risk": (("active", 0.5), ("lost", 0.5)),
    "lost": (("recovered", 0.3), ("lost", 0.7)),  # "lost" again: no change this step
    "recovered": (("active", 0.6), ("at_risk", 0.4)),
}
LOSS_SIGNALS = (
    (["lapsed"], 0.55),
    (["lapsed", "unresponsive"], 0.15),
    (["lapsed", "dissatisfied"], 0.15),
    (["lapsed", "requests_not_converting"], 0.1),
    (["dissatisfied", "lapsed", "unresponsive"], 0.05),
)


def status_walk(
    rng: random.Random, client: str, status: str, since: datetime | None, now: datetime
) -> list[tuple[str, str | None, str, datetime, list[str]]]:
    """A year (and a bit) of status changes for one client that ends in its real status at its
    real status_since: (client_id, from, to, at, signals), in time order."""
    end = since or now - timedelta(days=1)
    if status == "prospect":
        return [(client, None, "prospect", end, [])]
    at = now - timedelta(days=rng.uniform(370, 430))
    rows: list[tuple[str, str | None, str, datetime, list[str]]] = []
    current = "active"
    rows.append((client, None, current, at, []))
    while True:
        at += timedelta(days=rng.uniform(25, 120))
        if at >= end:
            break
        choices, weights = zip(*WALK[current], strict=True)
        following = rng.choices(choices, weights)[0]
        if following == current:
            continue
        signals: list[str] = []
        if following in ("at_risk", "lost"):
            options, chances = zip(*LOSS_SIGNALS, strict=True)
            signals = list(rng.choices(options, chances)[0])
        rows.append((client, current, following, at, signals))
        current = following
    if current != status:
        signals = ["lapsed"] if status in ("at_risk", "lost") else []
        rows.append(
            (client, current, status, max(end, rows[-1][3] + timedelta(minutes=1)), signals)
        )
    return rows


async def replace_history(
    url: str, make: Callable[[list[asyncpg.Record], datetime], Awaitable[list[Any]]]
) -> str:
    """Replace the population's status history with the rows `make` builds from the clients."""
    now = utcnow()
    conn = await asyncpg.connect(url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM status_change")
        clients = await conn.fetch(
            "SELECT client_id, market, status, status_since FROM client ORDER BY client_id"
        )
        started = time.perf_counter()
        rows = await make(clients, now)
        built = time.perf_counter() - started
        await conn.execute("TRUNCATE status_change")
        await conn.copy_records_to_table(
            "status_change",
            records=rows,
            columns=["client_id", "from_status", "to_status", "at", "signals"],
        )
        await conn.execute("VACUUM ANALYZE status_change")
        figures = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE at >= now() - interval '1 year') AS in_year, "
            "count(DISTINCT client_id) FILTER (WHERE to_status = 'lost' "
            "AND at >= now() - interval '1 year') AS lost, "
            "count(*) FILTER (WHERE to_status = 'recovered' "
            "AND at >= now() - interval '1 year') AS recovered "
            "FROM status_change"
        )
    finally:
        await conn.close()
    # the history was written behind the write path's back: make the churn report's tally now,
    # as the worker would within `report_refresh_seconds`
    from app.policy.service import load_snapshot
    from app.reports.repository import refresh_tallies

    async with database(url) as (raw, sessionmaker):
        started = time.perf_counter()
        async with sessionmaker() as session, session.begin():
            codes = list((await load_snapshot(session)).policy.reason_codes)
            await refresh_tallies(session, utcnow(), codes)
        tallied = time.perf_counter() - started
        await raw.execute("VACUUM ANALYZE churn_tally, loss_tally")
        tally_rows = await raw.fetchval("SELECT count(*) FROM churn_tally")
    return (
        f"{len(rows):,} status changes replacing {before:,} ({figures['in_year']:,} in the last "
        f"year: {figures['lost']:,} clients lost, {figures['recovered']:,} returns), "
        f"built in {built:.1f} s; churn tally of {tally_rows:,} rows made in {tallied:.2f} s"
    )


async def walks(clients: list[asyncpg.Record], now: datetime) -> list[Any]:
    """The stress case: random status walks, a change every 25-120 days."""
    rng = random.Random(21)
    return [
        row
        for client in clients
        for row in status_walk(
            rng, client["client_id"], client["status"], client["status_since"], now
        )
    ]


REPLAY_STEP_DAYS = 15


def replayed(url: str) -> Callable[[list[asyncpg.Record], datetime], Awaitable[list[Any]]]:
    """The realistic case: each client's own events replayed through the churn engine, evaluated
    every REPLAY_STEP_DAYS days over the last 400 (as a sweep that often would have), each change
    dated when it happened (the state's status_since). Ends in each client's stored status."""

    async def make(clients: list[asyncpg.Record], now: datetime) -> list[Any]:
        from app.churn.engine import evaluate
        from app.churn.facts import ClientFacts, EventRecord, apply
        from app.clients.service import manager_change
        from app.policy.service import load_snapshot

        async with database(url) as (conn, sessionmaker):
            async with sessionmaker() as session:
                snapshot = await load_snapshot(session)
            events = await conn.fetch(
                "SELECT client_id, id, type, occurred_at, body::text AS body FROM event "
                "ORDER BY client_id, occurred_at, id"
            )
        by_client: dict[str, list[asyncpg.Record]] = {}
        for event in events:
            by_client.setdefault(event["client_id"], []).append(event)
        checkpoints = [now - timedelta(days=400 - d) for d in range(0, 400, REPLAY_STEP_DAYS)]
        checkpoints.append(now)
        rows: list[Any] = []
        for client in clients:
            client_id, status_now = client["client_id"], client["status"]
            history = by_client.get(client_id, [])
            facts, applied, previous = ClientFacts(), 0, None
            last_at = now - timedelta(days=10_000)
            cycle = snapshot.market_cycle(client["market"])
            for moment in checkpoints:
                while applied < len(history) and history[applied]["occurred_at"] <= moment:
                    event = history[applied]
                    body = json.loads(event["body"])
                    record = EventRecord(
                        event["id"], event["type"], event["occurred_at"], body["data"]
                    )
                    apply(facts, record, manager_change(body))
                    applied += 1
                if not applied:
                    continue
                state = evaluate(facts, snapshot.policy, moment, cycle)
                if state.status != previous:
                    at = min(max(state.status_since or moment, last_at), moment)
                    rows.append((client_id, previous, state.status, at, state.signal_codes))
                    previous, last_at = state.status, at
            if previous != status_now:
                at = max(client["status_since"] or now, last_at)
                rows.append((client_id, previous, status_now, at, []))
        return rows

    return make


REPORT_QUERIES = [
    ("churn?interval=month", "churn, 12 months"),
    ("churn?interval=month&group_by=tier", "churn, 12 months by tier"),
    ("churn?interval=month&group_by=manager", "churn, 12 months by manager"),
    ("churn?interval=month&group_by=market", "churn, 12 months by market"),
    ("churn?interval=week&group_by=tier", "churn, 13 weeks by tier"),
    ("churn?interval=quarter&group_by=market", "churn, 4 quarters by market"),
    ("reasons", "reasons, last 365 days"),
    ("reasons?from={quarter_ago}", "reasons, last 90 days"),
]
STRESS_QUERIES = [REPORT_QUERIES[1], REPORT_QUERIES[3], REPORT_QUERIES[6]]


async def report_rows(
    bench: Bench, app: Winback, queries: list[tuple[str, str]], history: str
) -> list[Row]:
    args = bench.args
    await bench.settle(f"(r) {history}")
    quarter_ago = (utcnow() - timedelta(days=90)).date().isoformat()
    rows = []
    conn = RawHTTP(common.LOCALHOST, app.server.port, app.headers)
    seconds = max(2.0, args.report_seconds)
    try:
        with bench.profiled(app.server.pid, f"r-reports-{history}", len(queries) * seconds):
            for query, label in queries:
                path = "/v1/reports/" + query.format(quarter_ago=quarter_ago)
                result, last = await common.sequential_latency(
                    conn, itertools.repeat(path), seconds, args.report_requests, warmup=2
                )
                body = json.loads(last) if result.requests else {}
                size = len(body.get("rows", body.get("reasons", [])))
                note = f"{label}; {result.requests} requests, {size} rows"
                target = Target(max_p99_ms=200)
                what = f"{query.split('?')[0]} {label.split(', ', 1)[1]} ({history})"
                rows.append(load_row("r", what, result, "req/s", target=target, note=note))
    finally:
        conn.close()
    return rows


@scenario(
    "r", "winback GET /v1/reports/churn and /reasons, a year of status history, one connection"
)
async def reports(bench: Bench) -> list[Row]:
    app = await winback(bench)
    bench.note("(r) replayed history: " + await replace_history(app.url, replayed(app.url)))
    rows = await report_rows(bench, app, REPORT_QUERIES, "replayed")
    bench.note("(r) stress walks: " + await replace_history(app.url, walks))
    return rows + await report_rows(bench, app, STRESS_QUERIES, "stress")


async def timed(conn: RawHTTP, method: str, path: str, body: Any = None) -> tuple[float, Any]:
    started = time.perf_counter()
    status, payload = await conn.request(method, path, None if body is None else dumps(body))
    seconds = time.perf_counter() - started
    if status not in (200, 201):
        raise BadResponse(status, payload[:300])
    if payload[:1] in (b"{", b"["):
        return seconds, json.loads(payload)
    return seconds, payload


@scenario("k", "winback campaigns: preview, create, members CSV, results (100,000 clients)")
async def campaigns(bench: Bench) -> list[Row]:
    app = await winback(bench)
    await bench.settle("(k)")
    conn = RawHTTP(common.LOCALHOST, app.server.port, app.headers)
    rows = []
    try:
        for label, segment in (
            ("lost tier A", {"status": ["lost"], "tier": ["A"]}),
            ("every lost client", {"status": ["lost"]}),
        ):
            body = {"name": label, "segment": segment, "holdout_pct": 10}
            seconds, shown = await timed(conn, "POST", "/v1/campaigns?preview=true", body)
            members = shown["snapshot"]["members"]
            note = f"{members:,} members, {members / seconds:,.0f} clients planned/s"
            rows.append(Row("k", f"preview, {label}", seconds * 1000, "ms", note=note))
            seconds, created = await timed(conn, "POST", "/v1/campaigns", body)
            note = f"{members:,} members stored, {members / seconds:,.0f} clients/s"
            rows.append(Row("k", f"create, {label}", seconds * 1000, "ms", note=note))
            campaign = created["id"]
            seconds, _ = await timed(conn, "GET", f"/v1/campaigns/{campaign}/members?limit=100")
            rows.append(Row("k", f"members first page (100), {label}", seconds * 1000, "ms"))
            seconds, _ = await timed(conn, "GET", f"/v1/campaigns/{campaign}/results")
            rows.append(
                Row("k", f"results, {label}", seconds * 1000, "ms", note=f"{members:,} members")
            )
            await timed(conn, "POST", f"/v1/campaigns/{campaign}/close")
        # the CSV streams in chunks without a length: the server closes the connection after it
        csv_headers = {**app.headers, "Accept": "text/csv", "Connection": "close"}
        csv_conn = RawHTTP(common.LOCALHOST, app.server.port, csv_headers)
        try:
            seconds, _ = await timed(csv_conn, "GET", f"/v1/campaigns/{campaign}/members")
        finally:
            csv_conn.close()
        lines = created["members"]["treatment"]
        note = f"{lines:,} rows, {lines / seconds:,.0f} rows/s"
        what = "members CSV, every lost client (treatment)"
        rows.append(Row("k", what, seconds * 1000, "ms", note=note))
    finally:
        conn.close()
    return rows


# --- (i) winback import of a history file, against COPY + GROUP BY of the same file ------------

import os  # noqa: E402  (this section is appended)
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

option("--import-orders", type=int, default=1_000_000, quick=20_000, help="orders in the file (i)")
option("--import-clients", type=int, default=100_000, quick=2_000, help="their clients (i)")
IMPORT_DB = "winback_bench_import"
IMPORT_MAP = {
    "client_id": "Customer",
    "order_id": "Order",
    "amount": "Total",
    "occurred_at": "Date",
}


def write_orders_csv(path: Path, orders: int, clients: int, end: datetime, seed: int = 21) -> int:
    """An orders export in time order, as a shop writes one: `orders` orders of `clients`
    clients over the two years before `end`, every client with at least one; a few buy often,
    most rarely (Pareto weights), amounts log-normal, local times with a +01:00 offset.
    Returns the file's size."""
    rng = random.Random(seed)
    weights = [rng.paretovariate(2.0) for _ in range(clients)]
    buyers = list(range(clients)) + rng.choices(range(clients), weights, k=max(0, orders - clients))
    rng.shuffle(buyers)
    start = end - timedelta(days=730)
    step = timedelta(days=730) / max(1, orders)
    with path.open("w", encoding="utf-8") as out:
        out.write("Order,Customer,Date,Total\n")
        for n, buyer in enumerate(buyers):
            local = (start + step * n + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
            out.write(f"B-{n:07d},k{buyer:06d},{local},{rng.lognormvariate(4.0, 0.8):.2f}\n")
    return os.path.getsize(path)


async def copy_and_group(url: str, path: Path) -> tuple[float, float]:
    """The reference: COPY the file into a bare table (client-side, as `\\copy`), then one
    GROUP BY client fetched whole. Seconds of each."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE bare_orders (order_id text, customer text, date text, total text)"
        )
        started = time.perf_counter()
        await conn.copy_to_table("bare_orders", source=str(path), format="csv", header=True)
        copied = time.perf_counter() - started
        started = time.perf_counter()
        rows = await conn.fetch(
            "SELECT customer, count(*), sum(total::numeric), max(date) FROM bare_orders "
            "GROUP BY customer"
        )
        grouped = time.perf_counter() - started
        assert rows
        await conn.execute("DROP TABLE bare_orders")
    finally:
        await conn.close()
    return copied, grouped


@scenario("i", "winback import of 1,000,000 orders (100,000 clients) vs COPY + GROUP BY")
async def import_history(bench: Bench) -> list[Row]:
    from app.db import create_engine, create_sessionmaker
    from app.imports.prepare import ReadOptions
    from app.imports.progress import Lines
    from app.imports.service import import_file
    from app.migrate import upgrade
    from app.worker import jobs

    args = bench.args
    orders, clients = args.import_orders, args.import_clients
    with tempfile.TemporaryDirectory(prefix="winback-bench-") as folder:
        path = Path(folder) / "orders.csv"
        now = utcnow()
        log(f"writing {orders:,} orders of {clients:,} clients")
        size = write_orders_csv(path, orders, clients, now)
        async with scratch_database(bench, IMPORT_DB) as url:
            await upgrade(url)
            await bench.settle("(i0)")
            copied, grouped = await copy_and_group(url, path)
            reference = copied + grouped
            log(f"reference: COPY {copied:.2f} s + GROUP BY {grouped:.2f} s")
            engine = create_engine(url, pool_size=2, max_overflow=0)
            try:
                sessionmaker = create_sessionmaker(engine)
                finish = [
                    ("population refresh", lambda: jobs.refresh_population(sessionmaker, now)),
                    ("sweep", lambda: jobs.sweep(sessionmaker, lambda: now)),
                ]
                await bench.settle("(i)")
                meter = common.CpuMeter([])
                meter.tick()
                summary = await import_file(
                    sessionmaker,
                    path,
                    ReadOptions(mapping=IMPORT_MAP),
                    now,
                    Lines(sys.stdout, every=15.0),
                    finish,
                )
                meter.tick()
            finally:
                await engine.dispose()
            async with database(url) as (conn, _):
                events = await conn.fetchval("SELECT count(*) FROM event")
                stored = await conn.fetchval("SELECT count(*) FROM client")
                tiered = await conn.fetchval("SELECT count(*) FROM client WHERE tier IS NOT NULL")
                statuses = await conn.fetch(
                    "SELECT status, count(*) FROM client GROUP BY 1 ORDER BY 2 DESC"
                )
    if (events, stored, summary.rejected) != (orders, clients, 0):
        bench.note(f"(i) stored {events:,} events, {stored:,} clients, {summary.rejected} refused")
    bench.note(
        "(i) after the import: "
        + ", ".join(f"{status} {n:,}" for status, n in statuses)
        + f"; {tiered:,} clients with a tier"
    )
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.steps.items())
    seconds = summary.seconds
    return [
        Row(
            "i0",
            "COPY + GROUP BY of the same file (reference)",
            orders / reference,
            "orders/s",
            note=f"{reference:.2f} s: COPY {copied:.2f} s + GROUP BY {grouped:.2f} s; "
            f"file {size / 1e6:,.0f} MB",
        ),
        Row(
            "i",
            f"winback import, {orders:,} orders of {clients:,} clients",
            orders / seconds,
            "orders/s",
            reference="i0",
            target=Target(min_ratio=1 / 3),
            cpu=meter.split(),
            note=f"{seconds:.1f} s = {seconds / reference:.1f} x the reference's time; {steps}; "
            "statuses, tiers and cycles computed (refresh + sweep included); the reading child "
            "process counts as 'other'",
        ),
    ]


# --- backtests (issue 9) -------------------------------------------------------------------------


@scenario("n", "backtest of 100,000 clients (POST /v1/backtests' service)")
async def backtest_scale(bench: Bench) -> list[Row]:
    from bench.backtest_scale import measure

    found = await measure(bench.args.database_url, 100_000)
    return [
        Row(
            "n",
            f"backtest, {found['clients']:,} clients, {found['events']:,} events",
            found["seconds"],
            "s",
            target=Target(max_value=60),
            note=f"{found['evaluated']:,} clients with an order by the cutoff evaluated; events "
            f"read in chunks, folded, figures fitted and every client scored; database filled "
            f"by COPY in {found['fill_seconds']:.1f} s (not counted)",
        )
    ]


# --- (s) soak: minutes of mixed load, no growth ------------------------------------------------

option("--soak-seconds", type=float, default=600.0, quick=30.0, help="length of the soak (s)")
option("--soak-window", type=float, default=30.0, quick=10.0, help="a measurement window (s)")


def _rss_mib(pid: int | None) -> float:
    """Resident memory of the server process, from /proc."""
    if pid is None:
        return float("nan")
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _open_fds(pid: int | None) -> int:
    import os

    return len(os.listdir(f"/proc/{pid}/fd")) if pid else -1


@scenario("s", "soak: mixed load (70 % events, 20 % lists, 10 % plans) for --soak-seconds")
async def soak(bench: Bench) -> list[Row]:
    """The same mixed load window after window; RSS, open file descriptors (connections), the
    database backends and p99 in the first and the last window must not grow."""
    args = bench.args
    app = await winback(bench)
    workload = Workload(bench.tag + "s", app.clients, seed=11)
    rng = random.Random(11)
    lists = [query for query, _ in LIST_QUERIES]

    def make() -> tuple[str, str, bytes | None, int]:
        roll = rng.random()
        if roll < 0.7:
            return "POST", "/v1/events", dumps(workload.live_event()), 1
        if roll < 0.9:
            return "GET", f"/v1/clients?{rng.choice(lists)}&limit=100", None, 1
        return "GET", f"/v1/clients/{client_id(rng.randrange(app.clients))}/recovery-plan", None, 1

    def ok(status: int, payload: object, units: int) -> int:
        if status not in (200, 201, 404):
            raise BadResponse(f"{status}")
        return units

    windows: list[tuple[float, float, int, int, float]] = []
    pid = app.server.pid
    started = time.monotonic()
    conn = await asyncpg.connect(app.url)
    try:
        while time.monotonic() - started < args.soak_seconds:
            connections = [
                RawHTTP(common.LOCALHOST, app.server.port, app.headers)
                for _ in range(args.connections)
            ]
            result = await closed_loop(connections, make, ok, args.soak_window, 0.0, pid)
            for connection in connections:
                connection.close()
            backends = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            windows.append(
                (result.rate, result.pct(99), _open_fds(pid), int(backends), _rss_mib(pid))
            )
            log(
                f"soak window {len(windows)}: {result.rate:,.0f} req/s, "
                f"p99 {result.pct(99):.1f} ms, "
                f"RSS {windows[-1][4]:.1f} MiB, fds {windows[-1][2]}, backends {backends}"
            )
    finally:
        await conn.close()
    first, last = windows[0], windows[-1]
    growth = last[4] - first[4]
    minutes = (time.monotonic() - started) / 60
    note = (
        f"{len(windows)} windows of {args.soak_window:.0f} s over {minutes:.1f} min; "
        f"req/s {first[0]:,.0f} -> {last[0]:,.0f}; p99 {first[1]:.1f} -> {last[1]:.1f} ms; "
        f"open fds {first[2]} -> {last[2]}; database backends {first[3]} -> {last[3]}; "
        f"RSS {first[4]:.1f} -> {last[4]:.1f} MiB (max {max(w[4] for w in windows):.1f})"
    )
    return [
        Row("s", "soak: server RSS, first window", first[4], "MiB"),
        Row("s", "soak: server RSS, last window", last[4], "MiB", note=note),
        Row(
            "s", "soak: RSS growth first -> last window", growth, "MiB", target=Target(max_value=32)
        ),
        Row("s", "soak: p99 first window", first[1], "ms"),
        Row(
            "s",
            "soak: p99 last window",
            last[1],
            "ms",
            target=Target(max_value=max(50, 2 * first[1])),
        ),
    ]
