"""`python -m bench.ingest`: SPEC §13 measured side by side in one run.

  (a)  reference: FastAPI + winback's EventIn validation only, 201       (web-layer bound)
  (b)  reference: FastAPI + asyncpg, insert event + upsert aggregate       (database bound)
  (c)  winback POST /v1/events                                             (target c/b >= 0.7)
  (d)  winback POST /v1/events/batch, 1,000-event batches                  (target >= 20,000 ev/s)
  (e)  winback GET /v1/clients first page (100), filters x sorts           (target p99 <= 20 ms)
  (g)  winback GET /v1/clients/{id}/recovery-plan, when the route exists   (target p99 <= 20 ms)
  (f)  winback sweep with 1 % of clients due, and with all due             (target 1 % of 1M <= 1 s)

Each server is its own uvicorn subprocess (one worker, no access log) on a free 127.0.0.1 port;
the load generator is this process, an asyncio closed loop over raw HTTP/1.1 keep-alive
connections (httpx is measured beside it on (a)). The generator, the server and PostgreSQL share
the machine's cores; the CPU each used is printed with every scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg

from bench import common
from bench.common import (
    BadResponse,
    HttpxConnection,
    LoadResult,
    RawHTTP,
    Server,
    closed_loop,
    dumps,
    expect_status,
    sequential_latency,
)
from bench.workload import Workload, client_id

BENCH_DB = "winback_bench"
REF_DB = "winback_bench_ref"
RECOVERY_MARK = "recovery-plan"

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


class Report:
    """The rows of the final table (and of --json)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.background: dict[str, float] = {}

    def add(self, **row: Any) -> dict[str, Any]:
        self.rows.append(row)
        line = f"  -> {row['name']}: {row['result']}"
        if row.get("p50") is not None:
            line += f"  p50 {row['p50']:.1f} ms  p99 {row['p99']:.1f} ms"
        if row.get("cpu"):
            line += "  " + cpu_text(row["cpu"])
        print(line, flush=True)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)


def cpu_text(cpu: dict[str, float]) -> str:
    text = f"cores gen/srv/pg {cpu['generator']:.2f}/{cpu['server']:.2f}/{cpu['postgres']:.2f}"
    if "other" in cpu:
        text += f", other {cpu['other']:.2f}"
    if cpu.get("steal", 0) >= 0.05:
        text += f", steal {cpu['steal']:.2f}"
    return text


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- profiling (optional) -------------------------------------------------------------------


def start_profiler(
    args: argparse.Namespace, pid: int | None, name: str, duration: float
) -> subprocess.Popen[bytes] | None:
    """py-spy record of the server for the scenario (collapsed stacks), when --py-spy is given."""
    if not args.py_spy or not pid or not name:
        return None
    os.makedirs(args.profile_dir, exist_ok=True)
    output = os.path.join(args.profile_dir, f"{name}.txt")
    return subprocess.Popen(
        [
            args.py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(args.warmup + duration)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            output,
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_profiler(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is not None:
        try:
            profiler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            profiler.terminate()
            profiler.wait(timeout=10)


# --- a quiet machine ----------------------------------------------------------------------------


async def settle(report: Report, args: argparse.Namespace, label: str) -> None:
    """Before a measurement: note how busy the machine already is (other processes), and with
    --wait-quiet wait (bounded) until that drops under --quiet-cores."""
    load = await common.background_cores(1.0)
    deadline = time.monotonic() + args.wait_quiet
    waited = False
    while load > args.quiet_cores and time.monotonic() < deadline:
        if not waited:
            log(
                f"    machine busy ({load:.2f} cores used by others or stolen); waiting up to "
                f"{args.wait_quiet:.0f} s for it to calm down"
            )
            waited = True
        load = await common.background_cores(2.0)
    if load > args.quiet_cores:
        report.note(f"{label}: started with {load:.2f} cores already busy elsewhere or stolen")
    report.background[label] = load


# --- single-event load -------------------------------------------------------------------------


def single_event_requests(workload: Workload) -> common.RequestFactory:
    def make() -> tuple[str, str, bytes | None, int]:
        return "POST", "/v1/events", dumps(workload.live_event()), 1

    return make


async def run_single(
    port: int,
    pid: int | None,
    workload: Workload,
    args: argparse.Namespace,
    headers: dict[str, str] | None = None,
    client: str = "raw",
    duration: float | None = None,
    profile_name: str = "",
) -> LoadResult:
    connections: list[Any]
    httpx_client = None
    profiler = None
    if client == "httpx":
        import httpx

        httpx_client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers=headers,
            limits=httpx.Limits(
                max_connections=args.connections, max_keepalive_connections=args.connections
            ),
            timeout=30.0,
        )
        connections = [HttpxConnection(httpx_client) for _ in range(args.connections)]
    else:
        connections = [RawHTTP("127.0.0.1", port, headers) for _ in range(args.connections)]
    try:
        profiler = start_profiler(args, pid, profile_name, duration or args.duration)
        return await closed_loop(
            connections,
            single_event_requests(workload),
            expect_status(201),
            duration or args.duration,
            args.warmup,
            pid,
        )
    finally:
        stop_profiler(profiler)
        if httpx_client is not None:
            await httpx_client.aclose()


def single_row(
    report: Report, name: str, result: LoadResult, target: str, ok: bool | None, note: str = ""
) -> dict[str, Any]:
    if result.errors:
        note = (
            note + "; " if note else ""
        ) + f"{result.errors} errors, first: {result.first_error}"
    return report.add(
        name=name,
        result=f"{result.ups:,.0f} events/s",
        value=result.ups,
        p50=result.pct(50),
        p99=result.pct(99),
        requests=result.requests,
        errors=result.errors,
        cpu=result.cpu,
        target=target,
        verdict=verdict(ok),
        note=note,
    )


async def measure_single(
    report: Report,
    args: argparse.Namespace,
    label: str,
    server: Server,
    workload: Workload,
    name: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    client: str = "raw",
    duration: float | None = None,
    profile_name: str = "",
    note: str = "",
) -> LoadResult:
    """Wait for a quiet machine, load `server` with single events, add the row."""
    await settle(report, args, label)
    result = await run_single(
        server.port,
        server.pid,
        workload,
        args,
        headers,
        client=client,
        duration=duration,
        profile_name=profile_name,
    )
    single_row(report, name, result, target, None, note=note)
    return result


# --- (a) and (b) -------------------------------------------------------------------------------


async def scenario_a(report: Report, args: argparse.Namespace, tag: str) -> None:
    log("(a) validate-only reference server")
    server = Server("bench.reference_apps:create_validate_app", {}, "validate")
    await server.start()
    try:
        await measure_single(
            report,
            args,
            "(a)",
            server,
            Workload(tag + "a", args.clients),
            "(a) validate only (web bound)",
            "reference",
            profile_name="a-validate",
        )
        if not args.skip_httpx:
            short = max(3.0, args.duration / 2)
            await measure_single(
                report,
                args,
                "(a')",
                server,
                Workload(tag + "h", args.clients),
                "(a') same, httpx generator",
                "generator check",
                client="httpx",
                duration=short,
                note=f"{short:.0f} s; shows what httpx would cost the measurement",
            )
    finally:
        server.stop()


async def scenario_b(report: Report, args: argparse.Namespace, tag: str) -> LoadResult:
    from bench.reference_apps import REF_SCHEMA

    log("(b) minimal transactional ingest (FastAPI + asyncpg)")
    url = await common.recreate_database(args.database_url, REF_DB)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(REF_SCHEMA)
        # the same existing clients as winback's population, so updates and inserts both occur
        await conn.execute(
            "INSERT INTO ref_client (client_id, orders_count, revenue, last_order_at) "
            "SELECT 'c' || lpad(g::text, 7, '0'), 4, 1000, now() - interval '30 days' "
            "FROM generate_series(0, $1 - 1) g",
            args.clients,
        )
        await conn.execute("VACUUM ANALYZE ref_client")
    finally:
        await conn.close()
    server = Server(
        "bench.reference_apps:create_ingest_app", {"BENCH_REF_DATABASE_URL": url}, "ref-ingest"
    )
    await server.start()
    try:
        return await measure_single(
            report,
            args,
            "(b)",
            server,
            Workload(tag + "b", args.clients),
            "(b) minimal txn ingest (db bound)",
            "reference",
            profile_name="b-ref-ingest",
        )
    finally:
        server.stop()
        if not args.keep_databases:
            await common.drop_database(args.database_url, REF_DB)


# --- winback -----------------------------------------------------------------------------------


async def post_batches(
    ports: list[int],
    headers: dict[str, str],
    batches: Iterator[tuple[bytes, int, int]],
    workers: int,
    deadline: float,
) -> tuple[Counter[str], int, int]:
    """POST pre-built batches with `workers` connections (spread over `ports`) until the
    batches are exhausted or `deadline`. Returns (outcome counts, batches, clients posted)."""
    counts: Counter[str] = Counter()
    posted = [0, 0]
    last_progress = [time.monotonic()]

    async def worker(port: int) -> None:
        conn = RawHTTP("127.0.0.1", port, headers)
        try:
            while time.monotonic() < deadline:
                try:
                    body, _events, clients = next(batches)
                except StopIteration:
                    return
                status, payload = await conn.request("POST", "/v1/events/batch", body)
                if status != 200:
                    raise BadResponse(status, payload[:500])
                answer = json.loads(payload)
                counts["accepted"] += answer["accepted"]
                counts["duplicates"] += answer["duplicates"]
                counts["rejected"] += answer["rejected"]
                if answer["errors"] and counts["first_error_shown"] == 0:
                    counts["first_error_shown"] = 1
                    print(f"  batch error sample: {answer['errors'][0]}", flush=True)
                posted[0] += 1
                posted[1] += clients
                if time.monotonic() - last_progress[0] > 15:
                    last_progress[0] = time.monotonic()
                    log(f"    ... {posted[1]:,} clients, {counts['accepted']:,} events")
        finally:
            conn.close()

    await asyncio.gather(*(worker(ports[i % len(ports)]) for i in range(workers)))
    counts.pop("first_error_shown", None)
    return counts, posted[0], posted[1]


async def populate(
    report: Report,
    args: argparse.Namespace,
    servers: list[Server],
    headers: dict[str, str],
    workload: Workload,
) -> int:
    """Setup, not a target: the population's histories through /v1/events/batch. With
    --populate-servers 2 a second winback process (same database) shares the load so that
    setup uses both cores; it is stopped before any measurement."""
    log(
        f"populating {args.clients:,} clients through /v1/events/batch "
        f"({len(servers)} server process(es), {args.batch_connections} connections)"
    )
    now = time.time()
    generator = workload.population_batches(args.clients, now)

    def bodies() -> Iterator[tuple[bytes, int, int]]:
        for events, clients in generator:
            yield dumps(events), len(events), clients

    start_cpu = [common.cpu_sample(s.pid) for s in servers]
    started = time.perf_counter()
    counts, batches, clients = await post_batches(
        [s.port for s in servers],
        headers,
        bodies(),
        args.batch_connections,
        time.monotonic() + args.populate_timeout,
    )
    seconds = time.perf_counter() - started
    splits = [
        common.cpu_split(a, common.cpu_sample(s.pid))
        for a, s in zip(start_cpu, servers, strict=True)
    ]
    cpu = dict(splits[0])
    cpu["server"] = sum(split["server"] for split in splits)
    cpu["other"] = max(0.0, cpu["other"] - sum(split["server"] for split in splits[1:]))
    events = counts["accepted"]
    report.add(
        name="(d') population load, batch",
        result=f"{events / seconds:,.0f} events/s",
        value=events / seconds,
        p50=None,
        p99=None,
        cpu=cpu,
        target="setup (info only)",
        verdict="-",
        note=f"new clients with whole histories: {clients:,} clients, {events:,} events, "
        f"{batches:,} batches in {seconds:.1f} s; {len(servers)} winback process(es), "
        f"{args.batch_connections} connections; batches built on the fly",
    )
    if counts["rejected"] or counts["duplicates"]:
        report.note(f"population: {counts['rejected']} rejected, {counts['duplicates']} duplicates")
    if clients < args.clients:
        report.note(
            f"population stopped at {clients:,} clients after --populate-timeout "
            f"{args.populate_timeout:.0f} s"
        )
    return clients


async def initial_refresh(report: Report, url: str) -> dict[str, int]:
    from app.db import create_engine, create_sessionmaker
    from app.kit.time import utcnow
    from app.worker.jobs import refresh_population, sweep

    conn = await asyncpg.connect(url)
    try:
        log("VACUUM ANALYZE after the load (what autovacuum would do)")
        await conn.execute("VACUUM ANALYZE client")
        await conn.execute("VACUUM ANALYZE event")
    finally:
        await conn.close()
    engine = create_engine(url, pool_size=2, max_overflow=0)
    try:
        sessionmaker = create_sessionmaker(engine)
        log("refresh_population + sweep (tiers, market cycles)")
        started = time.perf_counter()
        await refresh_population(sessionmaker, utcnow())
        refreshed = time.perf_counter() - started
        started = time.perf_counter()
        processed = await sweep(sessionmaker, utcnow, batch_size=500)
        swept = time.perf_counter() - started
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE client")
        rows = await conn.fetch(
            "SELECT status, count(*) FROM client GROUP BY status ORDER BY 2 DESC"
        )
        tiers = await conn.fetch(
            "SELECT coalesce(tier, '-'), count(*) FROM client GROUP BY 1 ORDER BY 1"
        )
    finally:
        await conn.close()
    statuses = {r[0]: r[1] for r in rows}
    report.add(
        name=f"(f0) refresh + sweep of {len(processed):,} marked due",
        result=f"{refreshed:.1f} s + {swept:.1f} s",
        value=swept,
        p50=None,
        p99=None,
        target="info (setup)",
        verdict="-",
        note=f"refresh_population {refreshed:.2f} s; the sweep it triggered: {len(processed):,} "
        f"clients in {swept:.2f} s = {len(processed) / swept if swept else 0:,.0f} clients/s",
    )
    report.note(
        "population after the first sweep: statuses "
        + ", ".join(f"{k} {v:,}" for k, v in statuses.items())
        + "; tiers "
        + ", ".join(f"{t} {n:,}" for t, n in tiers)
    )
    return statuses


async def scenario_d(
    report: Report,
    args: argparse.Namespace,
    port: int,
    pid: int | None,
    headers: dict[str, str],
    workload: Workload,
) -> None:
    log("(d) POST /v1/events/batch, 1,000-event batches (live mix)")
    await settle(report, args, "(d)")
    # Pre-build the batches so the generator's CPU goes to the server during the window.
    needed = (
        int((args.duration + args.warmup) * args.batch_prebuild_rate / 1000)
        + args.batch_connections
    )
    prebuilt = [dumps(workload.live_batch(1000)) for _ in range(needed)]
    queue = iter(prebuilt)

    def make() -> tuple[str, str, bytes | None, int]:
        body = next(queue, None)
        if body is None:  # more than pre-built: build on the fly (counted in generator CPU)
            body = dumps(workload.live_batch(1000))
        return "POST", "/v1/events/batch", body, 1000

    def check(status: int, payload: bytes, units: int) -> int:
        if status != 200:
            raise BadResponse(status, payload[:300])
        answer = json.loads(payload)
        if answer["rejected"]:
            raise BadResponse(status, json.dumps(answer["errors"][:2]).encode())
        return int(answer["accepted"])

    connections = [RawHTTP("127.0.0.1", port, headers) for _ in range(args.batch_connections)]
    profiler = start_profiler(args, pid, "d-winback-batch", args.duration)
    try:
        result = await closed_loop(connections, make, check, args.duration, args.warmup, pid)
    finally:
        stop_profiler(profiler)
    ok = result.ups >= 20_000
    note = f"{result.requests} batches, {args.batch_connections} connections, latency per batch"
    if result.errors:
        note += f"; {result.errors} errors, first: {result.first_error}"
    report.add(
        name="(d) winback POST /v1/events/batch",
        result=f"{result.ups:,.0f} events/s",
        value=result.ups,
        p50=result.pct(50),
        p99=result.pct(99),
        cpu=result.cpu,
        target=">= 20,000 events/s",
        verdict=verdict(ok),
        note=note,
    )


async def scenario_e(
    report: Report,
    args: argparse.Namespace,
    port: int,
    pid: int | None,
    headers: dict[str, str],
    tag: str = "(e)",
) -> None:
    log(f"{tag} GET /v1/clients first page (limit 100), one connection, sequential")
    await settle(report, args, tag)
    conn = RawHTTP("127.0.0.1", port, headers)
    seconds = max(2.0, args.list_seconds)
    profiler = start_profiler(args, pid, "e-lists", len(LIST_QUERIES) * seconds)
    try:
        for query, label in LIST_QUERIES:
            path = f"/v1/clients?{query}&limit=100"
            paths = itertools.repeat(path)  # the same first page again and again
            result, last = await sequential_latency(conn, paths, seconds, args.list_requests)
            items = len(json.loads(last).get("items", [])) if result.requests else 0
            ok = result.pct(99) <= 20 if result.requests else False
            note = f"{label}; {result.requests} requests, {items} items on the page"
            if result.errors:
                note += f"; {result.errors} errors: {result.first_error}"
            report.add(
                name=f"{tag} list {query}",
                result=f"{result.rps:,.0f} req/s (1 conn)",
                value=result.rps,
                p50=result.pct(50),
                p99=result.pct(99),
                target="p99 <= 20 ms",
                verdict=verdict(ok),
                note=note,
            )
    finally:
        conn.close()
        stop_profiler(profiler)


async def scenario_g(
    report: Report, args: argparse.Namespace, port: int, headers: dict[str, str], clients: int
) -> None:
    conn = RawHTTP("127.0.0.1", port, headers)
    try:
        status, payload = await conn.request("GET", "/openapi.json")
        paths = json.loads(payload).get("paths", {}) if status == 200 else {}
        template = next(
            (p for p, ops in paths.items() if p.endswith(RECOVERY_MARK) and "get" in ops), None
        )
        if template is None:
            report.note("(g) recovery plan skipped: no GET .../recovery-plan route in the OpenAPI")
            return
        log(f"(g) GET {template}, random clients, one connection, sequential")
        await settle(report, args, "(g)")
        import random

        rng = random.Random(11)
        field = template[template.index("{") + 1 : template.index("}")]
        codes: Counter[int] = Counter()

        def next_path() -> Iterator[str]:
            while True:
                yield template.replace("{" + field + "}", client_id(rng.randrange(clients)))

        result = LoadResult()
        generator = next_path()
        for _ in range(5):
            await conn.request("GET", next(generator))
        started = time.perf_counter()
        while result.requests < args.list_requests * 2 and time.perf_counter() - started < max(
            2.0, args.list_seconds * 3
        ):
            path = next(generator)
            t0 = time.perf_counter()
            status, body = await conn.request("GET", path)
            elapsed = time.perf_counter() - t0
            codes[status] += 1
            if status == 200:
                result.requests += 1
                result.latencies.append(elapsed)
            elif status >= 500:
                result.errors += 1
                result.first_error = result.first_error or f"{path}: {body[:200]!r}"
        result.seconds = time.perf_counter() - started
        ok = result.pct(99) <= 20 if result.requests else False
        note = f"answers {dict(codes)}; latency of the 200s"
        if result.errors:
            note += f"; first 5xx: {result.first_error}"
        report.add(
            name="(g) recovery plan",
            result=f"{result.rps:,.0f} req/s (1 conn)",
            value=result.rps,
            p50=result.pct(50),
            p99=result.pct(99),
            target="p99 <= 20 ms",
            verdict=verdict(ok),
            note=note,
        )
    finally:
        conn.close()


async def scenario_f(report: Report, args: argparse.Namespace, url: str) -> None:
    from app.db import create_engine, create_sessionmaker
    from app.kit.time import utcnow
    from app.worker.jobs import sweep

    log("(f) sweep, in-process: 1 % due, then all due")
    await settle(report, args, "(f)")
    engine = create_engine(url, pool_size=2, max_overflow=0)
    conn = await asyncpg.connect(url)
    try:
        sessionmaker = create_sessionmaker(engine)
        total = await conn.fetchval("SELECT count(*) FROM client")
        due_sql = "SELECT count(*) FROM client WHERE next_review_at <= now()"
        await sweep(sessionmaker, utcnow, batch_size=500)  # drain whatever is due by itself
        one_pct = max(1, total // 100)
        times: list[float] = []
        processed_counts: list[int] = []
        for _ in range(args.sweep_repeats):
            await sweep(sessionmaker, utcnow, batch_size=500)
            await conn.execute(
                "UPDATE client SET next_review_at = now() - interval '1 minute' "
                "WHERE client_id IN (SELECT client_id FROM client ORDER BY random() LIMIT $1)",
                one_pct,
            )
            started = time.perf_counter()
            processed = await sweep(sessionmaker, utcnow, batch_size=500)
            times.append(time.perf_counter() - started)
            processed_counts.append(len(processed))
        times_sorted = sorted(times)
        median = times_sorted[len(times_sorted) // 2]
        per_client = median / max(1, processed_counts[0])
        extrapolated = median * 1_000_000 / total
        report.add(
            name=f"(f) sweep 1 % due ({one_pct:,} of {total:,})",
            result=f"{median:.3f} s (median of {len(times)})",
            value=median,
            p50=None,
            p99=None,
            target="1 % of 1M <= 1 s",
            verdict=verdict(extrapolated <= 1.0),
            note=f"runs {', '.join(f'{t:.3f}' for t in times)} s, processed {processed_counts}; "
            f"{per_client * 1000:.2f} ms/client; EXTRAPOLATED linearly to 1 % of 1,000,000 "
            f"({1_000_000 // 100:,} due): {extrapolated:.2f} s",
        )
        report.add(
            name="(f) sweep 1 % of 1M (extrapolated)",
            result=f"{extrapolated:.2f} s",
            value=extrapolated,
            p50=None,
            p99=None,
            target="<= 1 s",
            verdict=verdict(extrapolated <= 1.0),
            note="linear in clients due, from the 100k measurement; not measured at 1M",
        )

        await sweep(sessionmaker, utcnow, batch_size=500)
        await conn.execute("UPDATE client SET next_review_at = now() - interval '1 minute'")
        due = await conn.fetchval(due_sql)
        budget = args.sweep_all_budget
        started = time.perf_counter()
        swept = 0
        while time.perf_counter() - started < budget:
            chunk = await sweep(sessionmaker, utcnow, batch_size=500, max_batches=4)
            swept += len(chunk)
            if len(chunk) < 2000:
                break
        seconds = time.perf_counter() - started
        finished = swept >= due
        rate = swept / seconds if seconds else 0.0
        estimate_total = seconds if finished else due / rate
        extrapolated_all = estimate_total * 1_000_000 / total
        report.add(
            name=f"(f) sweep all due ({due:,})",
            result=f"{estimate_total:.1f} s" + ("" if finished else " (estimated)"),
            value=estimate_total,
            p50=None,
            p99=None,
            target="all of 1M <= 30 s",
            verdict=verdict(extrapolated_all <= 30.0),
            note=f"{swept:,} clients in {seconds:.1f} s = {rate:,.0f} clients/s"
            + ("" if finished else f" (stopped at the {budget:.0f} s budget)")
            + f"; EXTRAPOLATED to 1,000,000: {extrapolated_all:.0f} s",
        )
    finally:
        await conn.close()
        await engine.dispose()


async def winback(report: Report, args: argparse.Namespace, tag: str) -> LoadResult | None:
    from app.migrate import upgrade

    url = await common.recreate_database(args.database_url, BENCH_DB)
    log(f"winback: database {BENCH_DB}, migrating")
    await upgrade(url)
    admin_key = "bench-" + secrets.token_urlsafe(24)
    headers = {"Authorization": f"Bearer {admin_key}"}
    server = Server(
        "app.main:create_app",
        {
            "WINBACK_DATABASE_URL": url,
            "WINBACK_RUN_WORKER": "false",
            "WINBACK_ADMIN_KEY": admin_key,
        },
        "winback",
    )
    await server.start()
    single: LoadResult | None = None
    helpers = [
        Server("app.main:create_app", server.env, f"winback-load-{i}")
        for i in range(1, args.populate_servers)
    ]
    try:
        wanted = set(args.scenarios)
        workload = Workload(tag + "p", args.clients, seed=3)
        for helper in helpers:
            await helper.start()
        try:
            clients = await populate(report, args, [server, *helpers], headers, workload)
        finally:
            for helper in helpers:
                helper.stop()
        await initial_refresh(report, url)
        live = Workload(tag + "c", clients, seed=5)
        if "c" in wanted:
            log("(c) winback POST /v1/events")
            single = await measure_single(
                report,
                args,
                "(c)",
                server,
                live,
                "(c) winback POST /v1/events",
                "c/b >= 0.7, p99 <= 50 ms",
                headers=headers,
                profile_name="c-winback-event",
            )
        if "d" in wanted:
            await scenario_d(
                report, args, server.port, server.pid, headers, Workload(tag + "d", clients, seed=9)
            )
        if "e" in wanted:
            await scenario_e(report, args, server.port, server.pid, headers)
        if "g" in wanted:
            await scenario_g(report, args, server.port, headers, clients)
        if args.server_gc and "e" in wanted:
            # the experiment, side by side: the same lists from a second server process whose
            # import-time objects are frozen (or whose collector is off); the first one idles
            experiment = Server("app.main:create_app", server.env, "winback-gc", args.server_gc)
            await experiment.start()
            try:
                await scenario_e(
                    report,
                    args,
                    experiment.port,
                    experiment.pid,
                    headers,
                    tag=f"(e gc={args.server_gc})",
                )
            finally:
                experiment.stop()
        if "f" in wanted:
            await scenario_f(report, args, url)
        if server.process and server.process.poll() is not None:
            report.note(f"winback server died:\n{server.tail()}")
    except Exception:
        print(f"winback server log tail:\n{server.tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
        if not args.keep_databases:
            await common.drop_database(args.database_url, BENCH_DB)
    return single


# --- the table ---------------------------------------------------------------------------------


def print_table(report: Report, info: dict[str, Any], args: argparse.Namespace) -> None:
    def fmt(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return f"{value:.1f}"

    print()
    print("=" * 100)
    print(
        f"winback bench - {info['nproc']} cores ({info['cpu']}), {info['ram_gib']} GiB, "
        f"PostgreSQL {info['postgresql']}, Python {info['python']}"
    )
    print(
        f"uvicorn {info['packages']['uvicorn']} ({info['uvicorn_loop']} loop, "
        f"{info['uvicorn_http']} parser), 1 worker, no access log; {args.clients:,} clients; "
        f"{args.duration:.0f} s per "
        f"load scenario after {args.warmup:.0f} s warm-up; {args.connections} connections for "
        "single events"
    )
    print(f"code measured: {info['code']}")
    if args.server_gc:
        print(
            f"EXPERIMENT: rows '(e gc={args.server_gc})' come from a second winback process "
            "started through bench.uvicorn_gc"
        )
    print(
        "The load generator (this process) shares the same CPU cores with the server and "
        "PostgreSQL: 'cores gen/srv/pg' is what each used on average."
    )
    print("=" * 100)
    header = f"{'scenario':<52} {'result':>24} {'p50 ms':>8} {'p99 ms':>8}  {'target':<26} {'':<6}"
    print(header)
    print("-" * len(header))
    for row in report.rows:
        print(
            f"{row['name'][:52]:<52} {row['result'][:24]:>24} {fmt(row.get('p50')):>8} "
            f"{fmt(row.get('p99')):>8}  {row['target'][:26]:<26} {row['verdict']:<6}"
        )
    print("-" * len(header))
    for row in report.rows:
        extra = []
        if row.get("cpu"):
            extra.append(cpu_text(row["cpu"]))
        if row.get("note"):
            extra.append(row["note"])
        if extra:
            print(f"{row['name']}: " + "; ".join(extra))
    if report.background:
        print(
            "cores busy with OTHER processes (or stolen) just before each measurement: "
            + ", ".join(f"{k} {v:.2f}" for k, v in report.background.items())
        )
    for note in report.notes:
        print(f"note: {note}")
    print("=" * 100)


def add_ratio(report: Report, b: LoadResult | None, c: LoadResult | None) -> None:
    if not b or not c or not b.ups:
        return
    ratio = c.ups / b.ups
    ok = ratio >= 0.7 and c.pct(99) <= 50
    report.add(
        name="(c/b) winback vs minimal ingest",
        result=f"{ratio:.2f} x",
        value=ratio,
        p50=None,
        p99=None,
        target=">= 0.70 and (c) p99 <= 50",
        verdict=verdict(ok),
        note=f"(c) {c.ups:,.0f} / (b) {b.ups:,.0f} events/s; (c) p99 {c.pct(99):.1f} ms",
    )


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="server-level URL; the bench creates and drops winback_bench* there",
    )
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=32, help="for single-event scenarios")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument(
        "--batch-prebuild-rate",
        type=float,
        default=25_000,
        help="events/s worth of batches to pre-build for (d)",
    )
    parser.add_argument("--populate-timeout", type=float, default=300.0)
    parser.add_argument(
        "--populate-servers",
        type=int,
        default=2,
        help="winback processes sharing the population load (setup only)",
    )
    parser.add_argument("--list-seconds", type=float, default=4.0, help="per list query")
    parser.add_argument("--list-requests", type=int, default=400, help="per list query at most")
    parser.add_argument("--sweep-repeats", type=int, default=3)
    parser.add_argument(
        "--sweep-all-budget",
        type=float,
        default=60.0,
        help="seconds for the all-due sweep before estimating the rest",
    )
    parser.add_argument("--scenarios", default="abcdefg", help="subset to run, e.g. 'abc'")
    parser.add_argument("--skip-httpx", action="store_true", help="skip the httpx generator check")
    parser.add_argument("--keep-databases", action="store_true")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each measurement wait up to this many seconds for other "
        "processes to use less than --quiet-cores",
    )
    parser.add_argument("--quiet-cores", type=float, default=0.3)
    parser.add_argument(
        "--server-gc",
        choices=("", "freeze", "off"),
        default="",
        help="experiment: after (e), repeat the lists on a second winback process started "
        "through bench.uvicorn_gc with gc.freeze() after import (or the collector off)",
    )
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--py-spy", help="path to py-spy: record the server during a, b, c, d")
    parser.add_argument(
        "--profile-dir",
        default="bench-profiles",
        help="where --py-spy writes collapsed stacks (one file per scenario)",
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run (2,000 clients, 4 s)")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients = min(args.clients, 2_000)
        args.duration = min(args.duration, 4.0)
        args.warmup = min(args.warmup, 1.0)
        args.list_seconds = 1.0
        args.list_requests = 100
        args.sweep_repeats = 1
        args.sweep_all_budget = 20.0
        args.batch_prebuild_rate = 2_000
    return args


async def run(args: argparse.Namespace) -> Report:
    common.check_local(args.database_url)
    info = await common.machine(args.database_url)
    report = Report()
    tag = secrets.token_hex(3)
    log(f"bench on {info['nproc']} cores, {args.clients:,} clients, run tag {tag}")
    log(f"code: {info['code']}")
    wanted = set(args.scenarios)
    b = c = None
    if "a" in wanted:
        await scenario_a(report, args, tag)
    if "b" in wanted:
        b = await scenario_b(report, args, tag)
    if wanted & set("cdefg"):
        c = await winback(report, args, tag)
    add_ratio(report, b, c)
    print_table(report, info, args)
    if args.json:
        with open(args.json, "w") as out:  # noqa: ASYNC230 - at the very end
            json.dump(
                {"machine": info, "args": vars(args), "rows": report.rows, "notes": report.notes},
                out,
                indent=2,
                default=str,
            )
    return report


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    asyncio.run(run(args))
    log(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
