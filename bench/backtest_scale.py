"""A backtest of 100,000 clients (SPEC §8: "must run on 100,000 clients in under a minute").

    python -m bench.backtest_scale [--clients 100000] [--server-url postgresql://...127.0.0.1...]

A scratch database `winback_bench_backtest` is filled by COPY (no write path: the backtest reads
only the events and each client's id and market): every client a CDNOW-like history of one to a
dozen orders over two years, a third of them with requests, contacts and feedback too. Then
`POST /v1/backtests`'s service runs at a cutoff a year back with a 180-day horizon, timed from
the first read to the answer. Also registered as bench scenario `n`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.common import check_local, drop_database

DATABASE = "winback_bench_backtest"


def histories(clients: int, end: datetime, seed: int = 5) -> tuple[list[tuple], list[tuple]]:
    """(client rows, event rows) for COPY."""
    rng = random.Random(seed)
    client_rows = []
    event_rows = []
    for i in range(clients):
        client_id = f"bt-{i:07d}"
        market = "b2c" if i % 4 else "b2b"
        client_rows.append(
            (client_id, market, '{"version": 0}', 0, "prospect", 90.0, "default", 0, end)
        )
        moment = end - timedelta(days=rng.uniform(30, 730))
        rate = rng.choice([20, 45, 90, 180])
        for n in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 9, 12])):
            if moment >= end:
                break
            data = {"order_id": f"{client_id}-{n}", "amount": f"{rng.uniform(10, 400):.2f}"}
            event_rows.append(_event(f"{client_id}-o{n}", client_id, "order.placed", moment, data))
            if i % 3 == 0 and n == 0:
                request = {"request_id": f"{client_id}-r", "channel": "quote"}
                later = moment + timedelta(days=2)
                event_rows.append(
                    _event(f"{client_id}-r", client_id, "request.created", later, request)
                )
                contact = {"channel": "call", "direction": "outbound", "outcome": "no_answer"}
                event_rows.append(
                    _event(f"{client_id}-c", client_id, "contact.logged", later, contact)
                )
                score = {"feedback_id": f"{client_id}-f", "kind": "survey", "score": 5}
                event_rows.append(
                    _event(f"{client_id}-f", client_id, "feedback.received", later, score)
                )
            moment += timedelta(days=rng.expovariate(1 / rate))
    return client_rows, event_rows


def _event(event_id: str, client_id: str, kind: str, at: datetime, data: dict[str, Any]) -> tuple:
    body = {
        "id": event_id,
        "type": kind,
        "occurred_at": at.isoformat(),
        "client_id": client_id,
        "data": data,
    }
    return (event_id, client_id, kind, at, json.dumps(body), "-")


async def fill(url: str, clients: int, end: datetime) -> int:
    client_rows, event_rows = histories(clients, end)
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "client",
            records=client_rows,
            columns=(
                "client_id",
                "market",
                "facts",
                "facts_version",
                "status",
                "cycle_days",
                "cycle_source",
                "policy_version",
                "evaluated_at",
            ),
        )
        await conn.copy_records_to_table(
            "event",
            records=event_rows,
            columns=("id", "client_id", "type", "occurred_at", "body", "body_sha256"),
        )
        await conn.execute("VACUUM ANALYZE event")
        await conn.execute("VACUUM ANALYZE client")
    finally:
        await conn.close()
    return len(event_rows)


async def measure(server_url: str, clients: int) -> dict[str, Any]:
    """Fill a scratch database and time one backtest; the database is dropped afterwards."""
    from app.backtests.service import run_backtest
    from app.db import create_engine, create_sessionmaker
    from app.migrate import upgrade
    from app.policy.service import load_snapshot

    check_local(server_url)
    now = datetime.now(UTC)
    url = await drop_database(server_url, DATABASE, create=True)
    try:
        await upgrade(url)
        started = time.perf_counter()
        events = await fill(url, clients, now)
        filled = time.perf_counter() - started
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                snapshot = await load_snapshot(session)
                started = time.perf_counter()
                found = await run_backtest(session, snapshot, now - timedelta(days=365), 180, now)
                seconds = time.perf_counter() - started
        finally:
            await engine.dispose()
    finally:
        await drop_database(server_url, DATABASE)
    return {
        "clients": clients,
        "events": events,
        "fill_seconds": filled,
        "seconds": seconds,
        "evaluated": found.clients,
        "auc": found.auc,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--clients", type=int, default=100_000)
    args = parser.parse_args(argv)
    found = asyncio.run(measure(args.server_url, args.clients))
    print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
