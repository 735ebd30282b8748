"""`python -m bench.profile_ingest`: where winback's hot paths spend their time, in-process.

Four parts, each timed without a profiler first, then under cProfile:
  1. single-event write: `app.ingest.service.ingest` the way `POST /v1/events` calls it (one session
     and one transaction per event), with the socket writes to PostgreSQL (round trips) and the
     SQLAlchemy compiled-cache hits/misses counted, then the CPU of each step (STEPS);
  2. one 1,000-event batch (`POST /v1/events/batch`'s service call);
  3. `GET /v1/clients?status=at_risk&sort=value_desc` through the real app (httpx ASGI transport,
     no uvicorn, no network);
  4. the sweep with every client due.
Its own database `winback_bench_prof`, dropped at the end. The generator and PostgreSQL share the
machine; nothing else is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.selector_events as selector_events
import cProfile
import importlib
import io
import logging
import pstats
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from app.kit.time import utcnow
from bench import common
from bench.workload import Workload

DB = "winback_bench_prof"
# The leaf steps of the write path, timed one by one (CPU outside them is "everything else"); a
# name the code no longer has is reported and skipped, so a refactoring does not break the tool.
STEPS = (
    "app.events.service.canonical_body",
    "app.ingest.repository.record_and_lock",
    "app.events.repository.hashes",
    "app.clients.repository.lock_or_create",
    "app.clients.repository.store_one",
    "app.clients.service.assess",
    "app.clients.repository.update_many",
    "app.clients.repository.record_status_changes",
)


def resolve(names: tuple[str, ...]) -> list[tuple[Any, str]]:
    """(module, attribute) pairs for the dotted names that exist."""
    found = []
    for name in names:
        module_name, _, attribute = name.rpartition(".")
        module = importlib.import_module(module_name)
        if hasattr(module, attribute):
            found.append((module, attribute))
        else:
            print(f"  (step {name} not found: skipped)")
    return found


class CacheCounter(logging.Handler):
    """SQLAlchemy logs '[generated in ...]' for a compile, '[cached since ...]' for a hit and
    '[no key ...]' for a statement that cannot be cached (built and compiled every time)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("[generated in"):
            self.counts["compiled (cache miss)"] += 1
        elif text.startswith("[cached since"):
            self.counts["cache hit"] += 1
        elif text.startswith("[no key"):
            self.counts["not cacheable"] += 1
        elif text.startswith("[insertmanyvalues") or text.startswith("[dialect"):
            self.counts[text.split("]")[0].strip("[")] += 1


class Probe:
    """Counts socket writes (one per round trip to PostgreSQL) and SQLAlchemy cache outcomes."""

    def __init__(self) -> None:
        self.writes = 0
        self.cache = CacheCounter()
        self._original = selector_events._SelectorSocketTransport.write  # type: ignore[attr-defined]

    def __enter__(self) -> Probe:
        original = self._original
        probe = self

        def counting_write(transport: Any, data: Any) -> None:
            probe.writes += 1
            original(transport, data)

        selector_events._SelectorSocketTransport.write = counting_write  # type: ignore[attr-defined]
        log = logging.getLogger("sqlalchemy.engine.Engine")
        log.addHandler(self.cache)
        log.setLevel(logging.INFO)
        log.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        selector_events._SelectorSocketTransport.write = self._original  # type: ignore[attr-defined]
        log = logging.getLogger("sqlalchemy.engine.Engine")
        log.removeHandler(self.cache)
        log.setLevel(logging.WARNING)


class StepTimer:
    """CPU time (time.process_time) spent inside chosen functions of the write path. The
    calls are sequential and the process has nothing else to do, so the CPU time across an
    await is the CPU that step cost this process (the database's own time is not in it)."""

    def __init__(self, targets: list[tuple[Any, str]]) -> None:
        self.targets = targets
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> StepTimer:
        import inspect

        for owner, name in self.targets:
            original = getattr(owner, name)
            owner_name = getattr(owner, "__name__", type(owner).__name__)
            label = f"{owner_name}.{name}".replace("app.", "")
            self.saved.append((owner, name, original))
            if inspect.iscoroutinefunction(original):

                async def wrapped_async(
                    *a: Any, _f: Any = original, _l: str = label, **k: Any
                ) -> Any:
                    start = time.process_time()
                    try:
                        return await _f(*a, **k)
                    finally:
                        self.cpu[_l] += time.process_time() - start

                setattr(owner, name, wrapped_async)
            else:

                def wrapped(*a: Any, _f: Any = original, _l: str = label, **k: Any) -> Any:
                    start = time.process_time()
                    try:
                        return _f(*a, **k)
                    finally:
                        self.cpu[_l] += time.process_time() - start

                setattr(owner, name, wrapped)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self.saved):
            setattr(owner, name, original)


async def cpu_by_step(
    targets: list[tuple[Any, str]], calls: list[Callable[[], Awaitable[Any]]], unit: str
) -> None:
    steps = StepTimer(targets)
    with steps:
        cpu0 = time.process_time()
        for call in calls:
            await call()
        total = time.process_time() - cpu0
    n = len(calls)
    print(
        f"\n  CPU per {unit} by step ({n} x {unit}, no profiler; 'everything else' is the "
        "session, its transaction, pool checkout, commit):"
    )
    for label, seconds in sorted(steps.cpu.items(), key=lambda item: -item[1]):
        print(f"    {label:<45} {seconds / n * 1000:8.2f} ms")
    rest = total - sum(steps.cpu.values())
    print(f"    {'(everything else)':<45} {rest / n * 1000:8.2f} ms")
    print(f"    {'total':<45} {total / n * 1000:8.2f} ms")


async def measure(
    title: str,
    calls: list[Callable[[], Awaitable[Any]]],
    unit: str,
    top: int,
    profile: bool = True,
) -> None:
    """Time the first half plainly (with the probe), profile the second half."""
    half = max(1, len(calls) // 2) if profile else len(calls)
    with Probe() as probe:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for call in calls[:half]:
            await call()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"\n=== {title}")
    print(
        f"  no profiler, {half} {unit}s: {wall / half * 1000:.2f} ms wall, "
        f"{cpu / half * 1000:.2f} ms CPU per {unit}; {probe.writes / half:.1f} socket writes "
        f"(round trips) to PostgreSQL per {unit}"
    )
    print(
        f"  SQLAlchemy statements per {unit}: "
        + ", ".join(f"{k} {v / half:.1f}" for k, v in sorted(probe.cache.counts.items()))
    )
    if not profile or len(calls) - half < 1:
        return
    prof = cProfile.Profile()
    prof.enable()
    for call in calls[half:]:
        await call()
    prof.disable()
    report(prof, top)


def report(profile: cProfile.Profile, top: int) -> None:
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(key).print_stats(top)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print(f"  --- cProfile, top {top} by {key} (cProfile inflates CPU ~1.5-2x)")
        print("\n".join("  " + line for line in lines[start : start + top + 1]))


async def main_async(args: argparse.Namespace) -> None:
    import asyncpg
    import httpx

    from app.config import Settings
    from app.db import create_engine, create_sessionmaker
    from app.events.schemas import event_adapter
    from app.ingest.service import ingest
    from app.main import create_app
    from app.migrate import upgrade
    from app.policy.service import load_snapshot
    from app.worker.jobs import refresh_population, sweep

    url = await common.recreate_database(args.database_url, DB)
    await upgrade(url)
    engine = create_engine(url, pool_size=4)
    sessionmaker = create_sessionmaker(engine)
    try:
        print(f"populating {args.clients:,} clients in-process ...", flush=True)
        workload = Workload("prof", args.clients, seed=3)
        for events, _ in workload.population_batches(args.clients, utcnow()):
            async with sessionmaker() as session, session.begin():
                snapshot = await load_snapshot(session)
                envelopes = [(i, event_adapter.validate_python(e)) for i, e in enumerate(events)]
                await ingest(session, envelopes, snapshot, utcnow())
        await refresh_population(sessionmaker, utcnow())
        await sweep(sessionmaker, utcnow)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("VACUUM ANALYZE client")
        finally:
            await conn.close()
        async with sessionmaker() as session:
            snapshot = await load_snapshot(session)

        live = Workload("profl", args.clients, seed=5)

        def single_calls(maker: Any, n: int) -> list[Callable[[], Awaitable[Any]]]:
            def call(envelope: Any) -> Callable[[], Awaitable[Any]]:
                async def run() -> None:
                    async with maker() as session, session.begin():
                        await ingest(session, [(0, envelope)], snapshot, utcnow())

                return run

            return [call(event_adapter.validate_python(live.live_event())) for _ in range(n)]

        for call in single_calls(sessionmaker, 20):  # warm the caches
            await call()
        await measure(
            "1. single-event write (service.ingest, one transaction per event)",
            single_calls(sessionmaker, args.events),
            "event",
            args.top,
        )

        steps_targets = resolve(STEPS)
        await cpu_by_step(steps_targets, single_calls(sessionmaker, args.events // 2), "event")

        def batch_call() -> Callable[[], Awaitable[Any]]:
            events = live.live_batch(1000)

            async def run() -> None:
                envelopes = [(i, event_adapter.validate_python(e)) for i, e in enumerate(events)]
                async with sessionmaker() as session, session.begin():
                    await ingest(session, envelopes, snapshot, utcnow())

            return run

        await measure(
            "2. one 1,000-event batch (validation + service.ingest)",
            [batch_call() for _ in range(args.batches)],
            "batch",
            args.top,
        )
        await cpu_by_step(
            [(event_adapter, "validate_python"), *steps_targets],
            [batch_call() for _ in range(max(2, args.batches // 2))],
            "batch",
        )

        key = "bench-profile-key"
        app = create_app(Settings(database_url=url, run_worker=False, admin_key=key))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://bench",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:

                async def list_call() -> None:
                    response = await client.get(
                        "/v1/clients",
                        params={"status": "at_risk", "sort": "value_desc", "limit": 100},
                    )
                    assert response.status_code == 200, response.text[:300]

                def post_call(path: str, body: bytes, expect: int) -> Callable[[], Awaitable[Any]]:
                    async def run() -> None:
                        response = await client.post(
                            path, content=body, headers={"content-type": "application/json"}
                        )
                        assert response.status_code == expect, response.text[:300]

                    return run

                await measure(
                    "1c. POST /v1/events through the app (ASGI in-process: + FastAPI, auth, "
                    "validation, response)",
                    [
                        post_call("/v1/events", common.dumps(live.live_event()), 201)
                        for _ in range(args.events // 2)
                    ],
                    "event",
                    args.top,
                    profile=False,
                )
                await measure(
                    "2b. POST /v1/events/batch through the app (ASGI in-process)",
                    [
                        post_call("/v1/events/batch", common.dumps(live.live_batch(1000)), 200)
                        for _ in range(args.batches)
                    ],
                    "batch",
                    args.top,
                )
                for _ in range(5):
                    await list_call()
                await measure(
                    "3. GET /v1/clients?status=at_risk&sort=value_desc&limit=100 (ASGI in-process)",
                    [list_call] * args.lists,
                    "request",
                    args.top,
                )

        conn = await asyncpg.connect(url)
        try:
            await conn.execute("UPDATE client SET next_review_at = now() - interval '1 minute'")
            due = await conn.fetchval("SELECT count(*) FROM client")
        finally:
            await conn.close()

        async def sweep_batch() -> None:
            await sweep(sessionmaker, utcnow, batch_size=500, max_batches=1)

        await measure(
            f"4. sweep, {due:,} clients due, batches of 500",
            [sweep_batch] * min(args.sweep_batches, max(2, due // 500)),
            "500-client batch",
            args.top,
        )
    finally:
        await engine.dispose()
        await common.drop_database(args.database_url, DB)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--events", type=int, default=600, help="single events (half profiled)")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--sweep-batches", type=int, default=8)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    common.check_local(args.database_url)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
