"""What outgoing webhooks cost PostgreSQL, counted rather than timed.

`python -m bench.webhook_writes` writes N outbox rows (one per transaction, as single-event
ingest does) with two endpoints subscribed, then lets a worker's delivery pipeline (in this
process) send them to two local receivers (`bench/receiver.py`), and prints per outbox row, for
each phase: the rows written (pg_stat_user_tables: inserted, updated, of which HOT, deleted), the
b-tree entries inserted and the WAL written (pg_walinspect, only the records of the bench's own
database, so other users of the server do not count; full-page images apart, as they depend on
when the last checkpoint was). Timing-free, so a busy machine gives the same numbers.

Uses a database of its own (`--database`, dropped and re-made), on the server of
`--server-url`; autovacuum is off for its webhook tables so that only the pipeline writes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-" + "b" * 32
TABLES = ("webhook_event", "webhook_queue", "webhook_delivery", "webhook_attempt")
EVENT_TYPES = ["client.status_changed", "client.tier_changed", "campaign.created"]
BTREE_ENTRIES = ("INSERT_LEAF", "INSERT_POST", "SPLIT_L", "SPLIT_R")


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def receivers(count: int) -> Iterator[list[int]]:
    started: list[tuple[int, subprocess.Popen[str]]] = []
    try:
        for _ in range(count):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.receiver", str(port)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            started.append((port, process))
        yield [port for port, _ in started]
    finally:
        for _, process in started:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=10)


class Meter:
    """Counters of the bench database, read before and after a phase."""

    def __init__(self, conn: asyncpg.Connection, dboid: int) -> None:
        self.conn = conn
        self.dboid = dboid

    async def tables(self) -> dict[str, tuple[int, int, int, int]]:
        # the phase's connections are closed (their statistics flushed); the server may take
        # a moment to show them
        await asyncio.sleep(0.5)
        await self.conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = await self.conn.fetch(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del "
            "FROM pg_stat_user_tables WHERE relname = ANY($1::text[])",
            list(TABLES),
        )
        return {r["relname"]: (r[1], r[2], r[3], r[4]) for r in rows}

    async def lsn(self) -> str:
        return str(await self.conn.fetchval("SELECT pg_current_wal_lsn()::text"))

    async def wal(self, start: str, end: str) -> dict[str, int]:
        """The WAL records touching this database's relations between two positions."""
        flushed = "SELECT pg_current_wal_flush_lsn() >= $1::text::pg_lsn"
        for _ in range(100):  # the WAL writer flushes within a fraction of a second
            if await self.conn.fetchval(flushed, end):
                break
            await asyncio.sleep(0.1)
        rows = await self.conn.fetch(
            "SELECT resource_manager, record_type, record_length, fpi_length "
            "FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn) "
            "WHERE block_ref LIKE $3",
            start,
            end,
            f"%/{self.dboid}/%",
        )
        out = {"records": len(rows), "bytes": 0, "fpi": 0, "btree": 0}
        for r in rows:
            out["bytes"] += r["record_length"] - r["fpi_length"]
            out["fpi"] += r["fpi_length"]
            if r["resource_manager"] == "Btree" and r["record_type"] in BTREE_ENTRIES:
                out["btree"] += 1
        return out


async def measure(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    from app.config import Settings
    from app.db import create_engine, create_sessionmaker
    from app.kit.time import utcnow
    from app.migrate import upgrade
    from app.webhooks import service
    from app.webhooks.crypto import sealing_key
    from app.webhooks.delivery import Deliverer
    from app.webhooks.docs import STATUS_CHANGED_EXAMPLE
    from app.webhooks.schemas import EndpointCreate
    from app.webhooks.ssrf import Guard

    server = await asyncpg.connect(dsn(args.server_url))
    try:
        await server.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        await server.execute(f'CREATE DATABASE "{args.database}"')
    finally:
        await server.close()
    url = make_url(args.server_url).set(database=args.database).render_as_string(False)
    await upgrade(url)
    conn = await asyncpg.connect(dsn(url))
    engine = create_engine(url)
    results: list[tuple[str, dict[str, Any]]] = []
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        for table in TABLES:
            with contextlib.suppress(
                asyncpg.UndefinedTableError
            ):  # no queue before 2026_11_29_1400
                await conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        meter = Meter(
            conn,
            await conn.fetchval("SELECT oid FROM pg_database WHERE datname = $1", args.database),
        )
        settings = Settings(
            database_url=url,
            secret_key=SECRET_KEY,
            webhook_allow_http=True,
            webhook_allowed_networks="127.0.0.1/32",
        )
        sessionmaker = create_sessionmaker(engine)
        key = sealing_key(settings)
        guard = Guard(allow_http=True, allowed=(ipaddress.ip_network("127.0.0.1/32"),))
        with receivers(args.endpoints) as ports:
            async with sessionmaker() as session, session.begin():
                for port in ports:
                    body = EndpointCreate(
                        url=f"http://127.0.0.1:{port}/hook", event_types=EVENT_TYPES
                    )
                    await service.create(session, body, guard, key, utcnow(), None)
            now = utcnow()
            # the documented example's data, dated two days ago
            data = {
                **STATUS_CHANGED_EXAMPLE["data"],
                "at": (now - timedelta(days=2)).isoformat(),
            }

            async def phase(name: str, work: Any) -> None:
                tables, start = await meter.tables(), await meter.lsn()
                phase_engine = create_engine(url)  # closed after: its statistics are flushed
                try:
                    await work(create_sessionmaker(phase_engine))
                finally:
                    await phase_engine.dispose()
                after, end = await meter.tables(), await meter.lsn()
                delta = {
                    t: tuple(b - a for a, b in zip(tables.get(t, (0,) * 4), after[t], strict=True))
                    for t in after
                }
                results.append((name, {"tables": delta, "wal": await meter.wal(start, end)}))

            async def write(sessionmaker: Any) -> None:
                for n in range(args.events):
                    event = service.outgoing(
                        "client.status_changed",
                        {**data, "client_id": f"c{n:06d}"},
                        now,
                        f"c{n:06d}",
                    )
                    async with sessionmaker() as session, session.begin():
                        await service.enqueue(session, [event])

            delivered = 0

            async def deliver(sessionmaker: Any) -> None:
                nonlocal delivered
                async with Deliverer(sessionmaker, settings) as worker:
                    delivered = (await worker.drain()).started

            await phase("write path (outbox)", write)
            await phase("delivery (worker)", deliver)
            assert delivered == args.events * args.endpoints, delivered
            undelivered = await conn.fetchval(
                "SELECT count(*) FROM webhook_delivery WHERE status <> 'delivered'"
            )
            assert undelivered == 0, undelivered
    finally:
        await conn.close()
        await engine.dispose()
    return results


def report(results: list[tuple[str, dict[str, Any]]], events: int, endpoints: int) -> str:
    lines = [
        f"per outbox row ({events:,} rows, {endpoints} endpoints each: "
        f"{events * endpoints:,} messages, all delivered at the first attempt)",
        "",
        "| phase | rows inserted | rows updated (HOT) | rows deleted | b-tree entries "
        "| WAL records | WAL bytes (no FPI) | FPI bytes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = {"ins": 0, "upd": 0, "hot": 0, "del": 0, "btree": 0, "records": 0, "bytes": 0, "fpi": 0}
    for name, found in results:
        ins = sum(v[0] for v in found["tables"].values())
        upd = sum(v[1] for v in found["tables"].values())
        hot = sum(v[2] for v in found["tables"].values())
        dele = sum(v[3] for v in found["tables"].values())
        wal = found["wal"]
        for k, v in (("ins", ins), ("upd", upd), ("hot", hot), ("del", dele)):
            total[k] += v
        for k in ("btree", "records", "bytes", "fpi"):
            total[k] += wal[k]
        lines.append(
            f"| {name} | {ins / events:.2f} | {upd / events:.2f} ({hot / events:.2f}) "
            f"| {dele / events:.2f} | {wal['btree'] / events:.2f} | {wal['records'] / events:.1f} "
            f"| {wal['bytes'] / events:,.0f} | {wal['fpi'] / events:,.0f} |"
        )
    lines.append(
        f"| **total** | {total['ins'] / events:.2f} | {total['upd'] / events:.2f} "
        f"({total['hot'] / events:.2f}) | {total['del'] / events:.2f} "
        f"| {total['btree'] / events:.2f} | {total['records'] / events:.1f} "
        f"| {total['bytes'] / events:,.0f} | {total['fpi'] / events:,.0f} |"
    )
    lines.append("")
    for name, found in results:
        shown = ", ".join(
            f"{t} +{v[0]}/~{v[1]}({v[2]} HOT)/-{v[3]}"
            for t, v in sorted(found["tables"].items())
            if any(v)
        )
        lines.append(f"{name}: {shown}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="wbhk_writes")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=2)
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    print(report(results, args.events, args.endpoints))


if __name__ == "__main__":
    main()
