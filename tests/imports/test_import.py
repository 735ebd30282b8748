"""`import_file` on the test database, with real commits: each format loads with the API's
semantics; a re-run adds nothing; bad rows are reported and the rest loads; a stopped run is
completed by the next one (or by the worker); an erased client stays erased."""

import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.imports.progress import Lines
from app.worker import jobs
from tests.conftest import NOW
from tests.imports.files import read_errors, shopify_order, write_csv, write_jsonl, write_shopify
from tests.imports.helpers import count, empty, run_import, stored_state

JANE = "shopify:email:jane@example.com"
BOB = "shopify:email:bob@example.com"


def shopify_history(path: Path) -> Path:
    """Jane: three orders (one with three line items, one partly refunded); Bob: one order,
    cancelled. Times with offsets, over the last year before NOW."""
    return write_shopify(
        path,
        [
            shopify_order(
                "#1001",
                "Jane@Example.com",
                "2025-12-05 10:12:00 +0100",
                "55.00",
                "5550001",
                items=[("T-shirt", "25.00"), ("Mug", "15.00"), ("Cap", "15.00")],
                billing_name="Jane Doe",
            ),
            shopify_order(
                "#1002",
                "bob@example.com",
                "2026-02-01 09:00:00 -0500",
                "20.00",
                "5550002",
                financial_status="voided",
                cancelled_at="2026-02-02 09:30:00 -0500",
            ),
            shopify_order(
                "#1003",
                "jane@example.com",
                "2026-03-01 23:30:00 -0800",
                "80.00",
                "5550003",
                items=[("Socks", "40.00"), ("Socks", "40.00")],
                financial_status="partially_refunded",
                refunded="30.00",
            ),
            shopify_order(
                "#1004",
                "jane@example.com",
                "2026-05-02 08:00:00 +0200",
                "45.00",
                "5550004",
                billing_name="Jane Doe-Martin",
            ),
        ],
    )


async def test_shopify_export(tmp_path: Path, committed: async_sessionmaker[AsyncSession]) -> None:
    summary = await run_import(committed, shopify_history(tmp_path / "orders_export.csv"))
    assert (summary.format, summary.rows, summary.line_items) == ("shopify", 7, 3)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (6, 0, 0)
    assert (summary.clients_touched, summary.clients_folded) == (2, 2)
    assert summary.errors_path is None and not (tmp_path / "orders_export.csv.errors.csv").exists()

    state = await stored_state(committed)
    jane, bob = state[JANE], state[BOB]
    # 55 + (80 - 30 refunded) + 45; the line items of an order are not orders
    assert (jane["orders_count"], jane["lifetime_revenue"]) == (3, Decimal("150.00"))
    assert jane["name"] == "Jane Doe-Martin" and jane["email"] == "jane@example.com"  # latest
    assert jane["first_order_at"].isoformat() == "2025-12-05T09:12:00+00:00"
    assert jane["last_order_at"].isoformat() == "2026-05-02T06:00:00+00:00"
    assert jane["facts_version"] == 2 and jane["status"] in ("active", "at_risk", "lost")
    assert jane["tier"] is not None  # the population refresh and the sweep ran
    assert (bob["orders_count"], bob["status"], bob["tier"]) == (0, "prospect", None)
    # one status change per client, from no status, as one batch through the API gives
    assert jane["history"][0][0] is None and len(jane["history"]) == 1
    assert len(bob["history"]) == 1
    bodies = await count(committed, "SELECT count(*) FROM event WHERE body ? 'client'")
    assert bodies == 4  # the attribute upsert rides on each order.placed


async def test_orders_csv_with_map(
    tmp_path: Path, committed: async_sessionmaker[AsyncSession]
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ["Order", "Email", "Date", "Total", "Status"],
        [
            {
                "Order": "1",
                "Email": "a@x.example",
                "Date": "2026-01-05T10:00+01:00",
                "Total": "100",
            },
            {
                "Order": "2",
                "Email": "a@x.example",
                "Date": "2026-03-05T10:00+01:00",
                "Total": "200",
            },
            {"Order": "3", "Email": "b@x.example", "Date": "2026-04-05T10:00:00Z", "Total": "50.5"},
        ],
    )
    mapping = {"client_id": "Email", "order_id": "Order", "amount": "Total", "occurred_at": "Date"}
    summary = await run_import(committed, path, mapping=mapping)
    assert (summary.format, summary.accepted, summary.clients_touched) == ("orders", 3, 2)
    state = await stored_state(committed)
    assert state["a@x.example"]["lifetime_revenue"] == Decimal("300.00")
    assert state["b@x.example"]["orders_count"] == 1
    ids = await count(committed, "SELECT count(*) FROM event WHERE id LIKE 'import:order:%placed'")
    assert ids == 3


def events_for(client_id: str, n: int, first_days_ago: int = 400) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{client_id}-e{i}",
            "type": "order.placed",
            "occurred_at": (NOW - timedelta(days=first_days_ago - 30 * i)).isoformat(),
            "client_id": client_id,
            "data": {"order_id": f"o{i}", "amount": f"{100 + i}.00"},
        }
        for i in range(n)
    ]


async def test_a_rerun_adds_nothing_and_changes_nothing(
    tmp_path: Path, committed: async_sessionmaker[AsyncSession]
) -> None:
    path = write_jsonl(tmp_path / "h.jsonl", events_for("acme", 6) + events_for("beta", 3))
    first = await run_import(committed, path, chunk_events=4)
    assert (first.accepted, first.duplicates) == (9, 0)
    before = await stored_state(committed)
    again = await run_import(committed, path, chunk_events=4)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 9, 0)
    assert (again.clients_touched, again.clients_folded) == (0, 0)
    assert await stored_state(committed) == before
    assert await count(committed, "SELECT count(*) FROM event") == 9


async def test_bad_rows_are_reported_and_the_rest_is_loaded(
    tmp_path: Path,
    committed: async_sessionmaker[AsyncSession],
    committed_api: AsyncClient,
    headers: dict[str, dict[str, str]],
) -> None:
    good = events_for("acme", 3)
    # stored earlier through the API with another amount: the import's e1 conflicts (a 409)
    other = {**good[1], "data": {"order_id": "o1", "amount": "999.00"}}
    response = await committed_api.post("/v1/events", json=other, headers=headers["writer"])
    assert response.status_code == 201
    future = {**good[0], "id": "future", "occurred_at": (NOW + timedelta(days=3)).isoformat()}
    unknown_reason = {
        "id": "r1",
        "type": "client.churned",
        "occurred_at": NOW.isoformat(),
        "client_id": "acme",
        "data": {"reason_code": "moon_phase"},
    }
    negative = {**good[2], "data": {"order_id": "o2", "amount": "-4"}}
    path = write_jsonl(tmp_path / "h.jsonl", [good[0], negative, good[1], future])
    with path.open("a") as out:
        out.write("this is not json\n")
        out.write(json.dumps(unknown_reason) + "\n" + json.dumps(good[2]) + "\n")
    errors = tmp_path / "refused.csv"
    summary = await run_import(committed, path, errors=errors)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (2, 0, 5)
    assert summary.errors_path == errors
    rows = read_errors(errors)
    assert [(r["line"], r["id"], r["field"]) for r in rows] == [
        ("2", "acme-e2", "data.amount"),
        ("3", "acme-e1", "id"),
        ("4", "future", "occurred_at"),
        ("5", "", "line"),
        ("6", "r1", "data.reason_code"),
    ]
    reasons = [r["reason"] for r in rows]
    assert reasons[0] == "Input should be greater than or equal to 0"
    assert reasons[1].startswith("conflict: this event id is already stored with another body")
    assert "in the future" in reasons[2] and "not valid JSON" in reasons[3]
    assert "unknown reason code 'moon_phase'" in reasons[4]
    acme = (await stored_state(committed))["acme"]
    assert acme["orders_count"] == 3  # e0 and e2 from the file, o1 (999) from the API
    assert acme["lifetime_revenue"] == Decimal("1201.00")

    # fixed, the file loads without refusals, and the stale errors file goes away
    again = await run_import(committed, write_jsonl(path, [good[0], good[2]]), errors=errors)
    assert (again.rejected, again.duplicates) == (0, 2) and not errors.exists()


async def test_progress_lines_and_summary(
    tmp_path: Path, committed: async_sessionmaker[AsyncSession]
) -> None:
    out = io.StringIO()
    path = write_jsonl(tmp_path / "h.jsonl", [e for c in range(30) for e in events_for(f"c{c}", 4)])
    summary = await run_import(committed, path, out=out, chunk_events=25)
    lines = out.getvalue().splitlines()
    assert lines[0] == "import: h.jsonl (winback event JSON lines), 0.0 MB"
    assert any(line.startswith("  loading: ") and "rows/s  ETA" in line for line in lines)
    assert any(line.startswith("  loaded 120 rows in ") for line in lines)
    assert "  folding 30 clients from their events" in lines
    assert any(line.startswith("  folded 30 clients in ") for line in lines)
    assert lines[-2:] == ["  population refresh ...", "  sweep ..."]
    text_ = str(summary)
    assert text_.splitlines()[0] == f"winback import: {path} (winback event JSON lines)"
    for expected in (
        "rows read         120",
        "events accepted   120",
        "duplicates        0",
        "rejected          0",
        "clients touched   30 (30 re-folded from their events)",
    ):
        assert expected in text_, text_
    assert "rows/s; loading" in text_ and "population refresh" in text_ and "sweep" in text_


class StopAfter(Lines):
    """Stops the import (as a crash would) once `chunks` chunks are committed."""

    def __init__(self, chunks: int) -> None:
        super().__init__(io.StringIO(), every=0)
        self.left = chunks

    def loaded(self, rows: int, bytes_read: int) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


async def test_a_stopped_import_is_completed_by_a_rerun_or_by_the_worker(
    tmp_path: Path,
    committed: async_sessionmaker[AsyncSession],
    committed_api: AsyncClient,
    headers: dict[str, dict[str, str]],
    engine: Any,
) -> None:
    # the file in time order: every chunk names every client, as an export by date does
    events = sorted(
        (e for c in ("a", "b", "c") for e in events_for(c, 8)), key=lambda e: e["occurred_at"]
    )
    path = write_jsonl(tmp_path / "h.jsonl", events)
    late = {**events_for("a", 1, first_days_ago=5)[0], "id": "live-1"}

    async def clean(expected_live: bool) -> dict[str, Any]:
        await empty(engine)
        await run_import(committed, path, finish=False)
        if expected_live:
            await committed_api.post("/v1/events", json=late, headers=headers["writer"])
        return await stored_state(committed, columns=STATE_AND_FACTS)

    expected = await clean(expected_live=True)
    await empty(engine)

    with pytest.raises(KeyboardInterrupt):
        await run_import(committed, path, finish=False, chunk_events=6, reporter=StopAfter(2))
    assert await count(committed, "SELECT count(*) FROM event") == 12  # two whole chunks
    marked = "SELECT count(*) FROM client WHERE facts_version = 0 AND facts->'version' = '0'"
    assert await count(committed, marked) == 3
    # a live event meanwhile, for a marked client: applied, and the mark is kept
    response = await committed_api.post("/v1/events", json=late, headers=headers["writer"])
    assert response.status_code == 201
    assert await count(committed, marked) == 3

    rerun = await run_import(committed, path, finish=False, chunk_events=6)
    assert (rerun.accepted, rerun.duplicates, rerun.clients_folded) == (12, 12, 3)
    completed = await stored_state(committed, columns=STATE_AND_FACTS)
    assert without_history(completed) == without_history(expected)
    # the history shows what the live write saw in between (the client before the re-fold)
    assert completed["a"]["history"][-1][1] == expected["a"]["history"][-1][1] == "recovered"
    assert completed["b"]["history"] == expected["b"]["history"]

    # stopped after its last chunk, before the fold, and no re-run: the worker's facts upgrade
    # re-folds the marked clients (their status history starts from "prospect", not from none)
    expected = await clean(expected_live=False)
    await empty(engine)
    with pytest.raises(KeyboardInterrupt):
        await run_import(committed, path, finish=False, chunk_events=30, reporter=StopAfter(1))
    assert await count(committed, marked) == 3
    assert await jobs.upgrade_facts(committed, lambda: NOW) == 3
    upgraded = await stored_state(committed, columns=STATE_AND_FACTS)
    assert without_history(upgraded) == without_history(expected)


STATE_AND_FACTS = (
    "status",
    "status_since",
    "signals",
    "value",
    "lifetime_revenue",
    "orders_count",
    "last_order_at",
    "cycle_days",
    "next_review_at",
    "facts",
    "facts_version",
)


def without_history(state: dict[str, Any]) -> dict[str, Any]:
    return {
        client: {k: v for k, v in row.items() if k != "history"} for client, row in state.items()
    }


async def test_an_erased_client_stays_erased(
    tmp_path: Path,
    committed: async_sessionmaker[AsyncSession],
    committed_api: AsyncClient,
    headers: dict[str, dict[str, str]],
) -> None:
    events = events_for("gone", 3)
    response = await committed_api.post("/v1/events/batch", json=events, headers=headers["writer"])
    assert response.json()["accepted"] == 3
    response = await committed_api.delete("/v1/clients/gone", headers=headers["admin"])
    assert response.status_code in (200, 204), response.text
    summary = await run_import(committed, write_jsonl(tmp_path / "h.jsonl", events))
    # the tombstone trigger skips the ids: duplicates that store nothing, as on the API
    assert (summary.accepted, summary.duplicates, summary.clients_touched) == (0, 3, 0)
    assert await count(committed, "SELECT count(*) FROM client") == 0
    assert await count(committed, "SELECT count(*) FROM event") == 0


async def test_a_large_file_is_read_in_a_child_process_with_the_same_result(
    tmp_path: Path, committed: async_sessionmaker[AsyncSession], engine: Any
) -> None:
    path = shopify_history(tmp_path / "export.csv")
    here = await run_import(committed, path)
    expected = await stored_state(committed)
    await empty(engine)
    there = await run_import(committed, path, parallel=True)
    assert (there.rows, there.accepted, there.line_items) == (here.rows, here.accepted, 3)
    assert await stored_state(committed) == expected


async def test_an_event_stored_under_an_older_digest_is_a_duplicate(
    tmp_path: Path,
    committed: async_sessionmaker[AsyncSession],
    committed_api: AsyncClient,
    headers: dict[str, dict[str, str]],
    engine: Any,
) -> None:
    events = events_for("acme", 2)
    response = await committed_api.post("/v1/events/batch", json=events, headers=headers["writer"])
    assert response.json()["accepted"] == 2
    async with engine.begin() as connection:  # as a row written before digests changed
        await connection.execute(text("UPDATE event SET body_sha256 = repeat('0', 64)"))
    changed = {**events[1], "data": {"order_id": "o1", "amount": "5.00"}}
    path = write_jsonl(tmp_path / "h.jsonl", [events[0], changed])
    summary = await run_import(committed, path)
    # the same body under another digest is the same event; another body is a conflict
    assert (summary.accepted, summary.duplicates, summary.rejected) == (0, 1, 1)
    assert [r["id"] for r in read_errors(tmp_path / "h.jsonl.errors.csv")] == ["acme-e1"]


async def test_orders_the_shopify_webhooks_delivered_are_not_counted_twice(
    tmp_path: Path,
    committed: async_sessionmaker[AsyncSession],
    committed_api: AsyncClient,
    headers: dict[str, dict[str, str]],
) -> None:
    # as the webhooks store them (app/integrations/shopify.py): a guest's order keyed by email,
    # a registered customer's by customer id; the same event ids and order ids as the import
    delivered = [
        {
            "id": "shopify:order:5550001:placed",
            "type": "order.placed",
            "occurred_at": "2025-12-05T09:12:00Z",
            "client_id": JANE,
            "data": {"order_id": "shopify:5550001", "amount": "55.00", "currency": "EUR"},
            "client": {"name": "Jane Doe", "email": "Jane@Example.com"},
        },
        {
            "id": "shopify:order:5550004:placed",
            "type": "order.placed",
            "occurred_at": "2026-05-02T06:00:00Z",
            "client_id": "shopify:7001",
            "data": {"order_id": "shopify:5550004", "amount": "45.00", "currency": "EUR"},
        },
    ]
    response = await committed_api.post(
        "/v1/events/batch", json=delivered, headers=headers["writer"]
    )
    assert response.json()["accepted"] == 2
    summary = await run_import(committed, shopify_history(tmp_path / "export.csv"))
    # the guest's order: the same event (a duplicate); the customer's: stored under another
    # client, so refused as a conflict rather than counted for a second client
    assert (summary.accepted, summary.duplicates, summary.rejected) == (4, 1, 1)
    [refused] = read_errors(tmp_path / "export.csv.errors.csv")
    assert refused["id"] == "shopify:order:5550004:placed"
    state = await stored_state(committed)
    assert state[JANE]["orders_count"] == 2  # #1001 once, #1003; #1004 is the customer's
    assert state["shopify:7001"]["orders_count"] == 1
