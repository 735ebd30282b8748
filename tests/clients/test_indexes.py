"""`client`'s indexes as the code relies on them: every sort pages through the right rows, a
list over all statuses filtered by a signal walks the sort's own index (no sort, no merge of
per-status scans), and the partial index of clients with old facts is the one this code's
FACTS_VERSION asks for."""

import json

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.churn.facts import FACTS_VERSION
from app.clients import repository
from app.clients.models import REPORTED, has_signal
from app.clients.repository import SORTS, ClientFilter
from app.db import driver
from app.reports.repository import (
    _CHURN,
    BASE,
    GROUP_COLUMNS,
    LATE_ENTRY,
    MERGE_JOIN,
    MOVED,
    MOVES,
)
from tests.clients.plans import nodes, prepared_plan
from tests.conftest import NOW

CLIENTS = 6_000
MANAGERS = "'m-' || (hashtext(client_id) & 7)"  # eight managers, in no relation to the rows


async def population(session: AsyncSession, *changes: str) -> None:
    """Clients of every status with sort keys in no relation to where the rows lie, ties and
    missing keys included; then these UPDATEs of them, before the statistics are taken."""
    await session.execute(
        text(
            "INSERT INTO client (client_id, market, facts, status, cycle_days, cycle_source, "
            "policy_version, evaluated_at, value, tier, last_order_at, expected_next_order_at, "
            "churn_risk, predicted_clv) "
            "SELECT 'c' || n, CASE WHEN n % 3 = 0 THEN 'b2b' ELSE 'b2c' END, '{}', "
            "(ARRAY['prospect','active','at_risk','lost','recovered'])[1 + n % 5], 30, 'default', "
            "1, :now, (hashtext('v' || n) & 1023), (ARRAY['A','B','C'])[1 + n % 3], "
            "CASE WHEN n % 7 = 0 THEN NULL ELSE CAST(:now AS timestamptz) "
            "- make_interval(days => (hashtext('l' || n) & 511)) END, "
            "CASE WHEN n % 11 = 0 THEN NULL ELSE CAST(:now AS timestamptz) "
            "+ make_interval(days => (hashtext('e' || n) & 255)) END, "
            "CASE WHEN n % 13 = 0 THEN NULL ELSE (hashtext('r' || n) & 127) / 128.0 END, "
            "CASE WHEN n % 17 = 0 THEN NULL ELSE (hashtext('p' || n) & 4095) / 4.0 END "
            "FROM generate_series(1, :count) AS n"
        ),
        {"now": NOW, "count": CLIENTS},
    )
    for change in changes:
        await session.execute(text(change))
    await session.execute(text("ANALYZE client"))


async def pages(session: AsyncSession, where: ClientFilter, sort: str) -> list[str]:
    """Every client of the list, page by page, as the API pages through it."""
    found: list[str] = []
    after = None
    while True:
        rows = await repository.list_page(session, where, sort, after, 250)
        found += [row["client_id"] for row in rows]
        if len(rows) < 250:
            return found
        after = repository.cursor_key(rows[-1], sort)


async def reference(session: AsyncSession, where: ClientFilter, sort: str) -> list[str]:
    order = SORTS[sort]
    direction = "DESC" if order.descending else "ASC"
    tests = ["true"]
    if where.statuses:
        tests.append("status IN (" + ", ".join(f"'{s}'" for s in where.statuses) + ")")
    if where.tiers:
        tests.append("tier IN (" + ", ".join(f"'{t}'" for t in where.tiers) + ")")
    if where.market:
        tests.append(f"market = '{where.market}'")
    if where.manager_id:
        tests.append(f"manager_id = '{where.manager_id}'")
    if where.signal:
        tests.append(has_signal(where.signal))
    rows = await session.execute(
        text(
            f"SELECT client_id FROM client WHERE {' AND '.join(tests)} "
            f"ORDER BY {order.expression} {direction}, client_id {direction}"
        )
    )
    return [row[0] for row in rows]


@pytest.mark.parametrize("sort", list(SORTS))
async def test_lists_over_several_statuses_page_in_the_sorts_order(
    session: AsyncSession, sort: str
) -> None:
    await population(session)
    for where in (
        ClientFilter(),
        ClientFilter(statuses=("at_risk", "lost")),
        ClientFilter(statuses=("lost", "prospect", "lost")),  # `status=lost,prospect,lost`
        ClientFilter(tiers=("A",)),
        ClientFilter(tiers=("A", "C"), market="b2c"),
        ClientFilter(statuses=("active",)),
    ):
        assert await pages(session, where, sort) == await reference(session, where, sort), where


@pytest.mark.parametrize("sort", list(SORTS))
async def test_a_signal_list_over_all_statuses_walks_the_sorts_index(
    session: AsyncSession, sort: str
) -> None:
    """Signals are only ever carried by at-risk and lost clients here, as in a live population
    (an active client has none): a page that merged one scan per status would read every active
    client before its first row (measured: 480 ms at 1,000,000 clients)."""
    await population(
        session,
        "UPDATE client SET signals = ARRAY['lapsed'] "
        "WHERE status IN ('at_risk', 'lost') AND hashtext(client_id) % 3 = 0",
    )
    where = ClientFilter(signal="lapsed")
    plan = await prepared_plan(
        await driver(session), *repository.list_query(where, sort, None, 100)
    )
    kinds = [n["Node Type"] for n in plan]
    assert "Merge Append" not in kinds and "Sort" not in kinds, kinds
    assert await pages(session, where, sort) == await reference(session, where, sort)


async def test_the_old_facts_index_is_the_one_this_fold_version_needs(
    session: AsyncSession,
) -> None:
    """A new FACTS_VERSION needs a migration that rebuilds ix_client_facts_version with it: the
    worker looks for clients with old facts in every round, and without an index that covers
    its test that is a scan of every client."""
    definition = await session.scalar(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_client_facts_version'")
    )
    assert definition is not None
    assert definition.endswith(f"WHERE (facts_version < {FACTS_VERSION})"), definition
    await population(  # current facts, but for twelve the bulk path marked as behind
        session,
        "UPDATE client SET facts_version = CASE WHEN substr(client_id, 2)::int % 500 = 0 "
        f"THEN 0 ELSE {FACTS_VERSION} END",
    )
    behind = sorted(f"c{n}" for n in range(500, CLIENTS + 1, 500))
    assert await repository.clients_with_old_facts(session, FACTS_VERSION) == len(behind)
    old = await repository.lock_stale_facts(session, FACTS_VERSION, "", 100)
    assert sorted(row["client_id"] for row in old) == behind
    sql = (
        f"SELECT client_id FROM client WHERE facts_version < {FACTS_VERSION} "
        "AND client_id > $1 ORDER BY client_id LIMIT 100"
    )
    names = {n.get("Index Name") for n in await prepared_plan(await driver(session), sql, [""])}
    assert "ix_client_facts_version" in names, names


async def test_the_key_carries_what_the_reports_read(session: AsyncSession) -> None:
    """The churn report's join reads every client's group, value and status from the primary
    key, index-only and in client_id order (merged with the status history's index), and no
    second index on client_id takes an entry on every write."""
    await population(session, f"UPDATE client SET manager_id = {MANAGERS}")
    rows = await session.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'client'")
    )
    definitions: dict[str, str] = {name: definition for name, definition in rows}
    assert definitions["pk_client"].endswith(f"(client_id) INCLUDE ({', '.join(REPORTED)})")
    by_key = [name for name, d in definitions.items() if d.endswith("(client_id)")]
    assert by_key == [], by_key  # ix_client_facts_version is partial: it ends with its WHERE
    raw = await driver(session)
    await raw.execute(str(MERGE_JOIN))  # as the report runs it
    for group in ("manager", "tier", None):
        sql = _CHURN.format(
            group=GROUP_COLUMNS[group], base=BASE, moves=MOVES, late=LATE_ENTRY, moved=MOVED
        )
        for name, value in {
            "step": "1 month",
            "first": "2026-01-01",
            "end": "2026-12-01",
            "start": "2026-01-01 00:00+00",
        }.items():
            sql = sql.replace(f":{name}", f"'{value}'")
        found = await raw.fetchval(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = json.loads(found) if isinstance(found, str) else found  # json codec or not
        scans = [
            (n["Node Type"], n.get("Index Name"))
            for n in nodes(plan[0]["Plan"])
            if n.get("Relation Name") == "client"
        ]
        assert ("Index Only Scan", "pk_client") in scans, (group, scans)


@pytest.mark.parametrize("sort", list(SORTS))
async def test_a_managers_list_reads_the_managers_clients_only(
    session: AsyncSession, sort: str
) -> None:
    """The manager index holds only clients with a manager (most of a B2C shop has none, and
    adds no entry on a write); a list for one manager reads it, on PostgreSQL's generic plan
    too (the driver's prepared statements), and pages in the sort's order."""
    definition = await session.scalar(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_client_manager_value'")
    )
    assert definition is not None and definition.endswith("WHERE (manager_id IS NOT NULL)")
    # a quarter of the clients have a manager, one of eight
    await population(
        session, f"UPDATE client SET manager_id = {MANAGERS} WHERE hashtext(client_id) % 4 = 0"
    )
    where = ClientFilter(manager_id="m-3")
    raw = await driver(session)
    if sort == "value_desc":  # the index's own order
        await raw.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        sql, parameters = repository.list_query(where, sort, None, 100)
        names = {n.get("Index Name") for n in await prepared_plan(raw, sql, parameters)}
        assert "ix_client_manager_value" in names, names
        await raw.execute("RESET plan_cache_mode")
    assert await pages(session, where, sort) == await reference(session, where, sort)
