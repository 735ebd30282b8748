"""SQL for clients and their status history."""

import functools
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Text,
    bindparam,
    cast,
    delete,
    func,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.churn.facts import FACTS_VERSION
from app.clients.models import (
    CLV,
    LAST_ORDER,
    NEXT_ORDER,
    OLD_FACTS,
    RISK,
    Client,
    Erasure,
    StatusChange,
    has_signal,
)
from app.clients.rows import ClientRow, StatusChangeRow
from app.clients.schemas import ClientSummary
from app.db import driver
from app.kit.jsontext import dumps
from app.webhooks.repository import outbox_ctes, outbox_values

ATTRIBUTE_COLUMNS = (
    Client.client_id,
    Client.name,
    Client.email,
    Client.phone,
    Client.market,
    Client.manager_id,
    Client.tags,
    Client.advocate,
    Client.problem_client,
    Client.do_not_contact,
    Client.attributes,
    Client.attribute_times,
    Client.facts,
    Client.status,
    Client.tier,
    Client.signals,
)


_CLIENT = Client.__table__
_JSON_COLUMNS = frozenset(c.name for c in _CLIENT.columns if isinstance(c.type, JSONB))
_ARRAY_COLUMNS = frozenset(c.name for c in _CLIENT.columns if isinstance(c.type, ARRAY))
_DIALECT = postgresql.dialect()
_RETURNED = ", ".join(column.key for column in ATTRIBUTE_COLUMNS)

# The write path's statements run on the driver (app.db.driver): one round trip each, whatever
# the number of rows, and none of SQLAlchemy's per-statement work (it was most of a write's CPU).
# A new client as the write path creates it, or the lock on the existing one: the no-op update
# takes the row lock and lets RETURNING see existing rows. In client_id order, so that
# concurrent writers never deadlock.
_LOCK_OR_CREATE = f"""
    INSERT INTO client (client_id, market, facts, status, cycle_days, cycle_source,
                        policy_version, evaluated_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::float8[],
                         $6::text[], $7::int[], $8::timestamptz[]) ORDER BY 1
    ON CONFLICT (client_id) DO UPDATE SET client_id = excluded.client_id
    RETURNING {_RETURNED}, (xmax = 0) AS inserted
"""
NEW_CLIENT_COLUMNS = (
    "client_id",
    "market",
    "facts",
    "status",
    "cycle_days",
    "cycle_source",
    "policy_version",
    "evaluated_at",
)


def json_text(value: Any) -> str:
    """A JSONB parameter for the driver: JSON text (text is taken as JSON already). None is JSON
    `null`, as SQLAlchemy's JSONB type wrote it (the client's JSONB columns are NOT NULL)."""
    return value if isinstance(value, str) else dumps(value)


def _rows(result: Any) -> list[ClientRow]:
    return [ClientRow(**row) for row in result.mappings()]  # type: ignore[typeddict-item]


async def lock_or_create(
    session: AsyncSession, new_rows: Sequence[Mapping[str, Any]]
) -> dict[str, ClientRow]:
    """Lock the clients (creating the missing ones, from `new_rows`: NEW_CLIENT_COLUMNS) in one
    statement, in client_id order. Returns the rows with `inserted` telling new from old."""
    raw = await driver(session)
    columns = [[row[name] for row in new_rows] for name in NEW_CLIENT_COLUMNS]
    columns[2] = [json_text(value) for value in columns[2]]
    result = await raw.fetch(_LOCK_OR_CREATE, *columns)
    return {row["client_id"]: ClientRow(**row) for row in result}  # type: ignore[typeddict-item]


_LOCK_DUE = f"""
    SELECT {_RETURNED} FROM client
    WHERE next_review_at <= $1
    ORDER BY next_review_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
"""


# For the rest of a sweep batch's transaction: the lock statement's plan must not follow the
# statistics of next_review_at. They are stale exactly when the sweep has most to do (a refresh
# or a refit has just marked many clients due, autovacuum has not analysed yet): estimating a
# few hundred due rows, PostgreSQL read every due client in a bitmap scan and sorted them for
# each batch of 500 (2.8 s a batch with 850,000 due). The generic plan walks the ordered index
# and stops at the limit (5-20 ms). Its cost estimate is high, hence no JIT either (24 ms).
_SWEEP_SETTINGS = "SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL jit = off"


async def lock_due(session: AsyncSession, now: datetime, limit: int) -> list[ClientRow]:
    """Clients whose next_review_at has come, oldest first, skipping rows another worker holds
    (read on the driver: a sweep batch is 500 rows with their facts)."""
    raw = await driver(session)
    await raw.execute(_SWEEP_SETTINGS)
    return [ClientRow(**row) for row in await raw.fetch(_LOCK_DUE, now, limit)]  # type: ignore[typeddict-item]


async def lock_stale_policy(session: AsyncSession, version: int, limit: int) -> list[ClientRow]:
    statement = (
        select(*ATTRIBUTE_COLUMNS)
        .where(Client.policy_version < version)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return _rows(await session.execute(statement))


@functools.cache
def _update_sql(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{name} = ${number}" for number, name in enumerate(columns, 2))
    return f"UPDATE client SET {assignments} WHERE client_id = $1"


def _array_type(name: str) -> str:
    """The SQL type of the array parameter that carries column `name` for `unnest`: the column's
    type without its length or scale (the assignment to the column checks those, as a plain
    UPDATE does, where a cast would truncate), except for array columns, which travel as array
    literals in text (an array of arrays must be rectangular, a client's tags are not)."""
    if name in _ARRAY_COLUMNS:
        return "text[]"
    return re.sub(r"\(.*\)", "", _CLIENT.c[name].type.compile(dialect=_DIALECT)) + "[]"


@functools.cache
def _update_set_sql(columns: tuple[str, ...]) -> str:
    arrays = ", ".join(f"${number}::{_array_type(name)}" for number, name in enumerate(columns, 2))
    assignments = ", ".join(
        f"{name} = u.{name}::text[]" if name in _ARRAY_COLUMNS else f"{name} = u.{name}"
        for name in columns
    )
    return (
        f"UPDATE client SET {assignments} "
        f"FROM unnest($1::text[], {arrays}) AS u(client_id, {', '.join(columns)}) "
        "WHERE client.client_id = u.client_id"
    )


def _array_literal(values: Sequence[str] | None) -> str | None:
    """A text[] value as PostgreSQL's array literal: every element quoted, backslashes and quotes
    escaped, so that any text (commas, braces, quotes, NULL spelled out) reads back as itself."""
    if values is None:
        return None
    quoted = ('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"


async def update_many(
    session: AsyncSession, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> None:
    """UPDATE these columns of these clients (one row each), in one set-based statement: the rows
    travel as one array per column and are joined by key. PostgreSQL opens the table and its
    indexes once for the statement, where a pipelined UPDATE a row (executemany) paid executor
    start-up and index opening per row: a quarter of the update's time in PostgreSQL
    (docs/performance.md)."""
    if not rows:
        return
    raw = await driver(session)
    if len(rows) == 1:  # scalars: a generic plan, where arrays are re-planned at every execution
        [row] = rows
        values = [json_text(row[name]) if name in _JSON_COLUMNS else row[name] for name in columns]
        await raw.execute(_update_sql(columns), row["client_id"], *values)
        return
    keys = [row["client_id"] for row in rows]
    if len(set(keys)) != len(keys):
        raise ValueError("update_many takes one row per client")
    arrays: list[list[Any]] = [keys]
    for name in columns:
        column = [row[name] for row in rows]
        if name in _JSON_COLUMNS:
            column = [json_text(value) for value in column]
        elif name in _ARRAY_COLUMNS:
            column = [_array_literal(value) for value in column]
        arrays.append(column)
    await raw.execute(_update_set_sql(columns), *arrays)


async def states(
    session: AsyncSession, client_ids: Sequence[str]
) -> list[tuple[str, str, str | None, list[str]]]:
    """(client_id, status, tier, signals) of these clients, as last stored."""
    if not client_ids:
        return []
    statement = select(Client.client_id, Client.status, Client.tier, Client.signals).where(
        Client.client_id.in_(list(client_ids))
    )
    return [tuple(row) for row in await session.execute(statement)]  # type: ignore[misc]


@functools.cache
def _store_one_sql(columns: tuple[str, ...], with_change: bool, outbox_rows: int) -> str:
    parts = [f"updated AS ({_update_sql(columns)})"]
    after = len(columns) + 2  # the next parameter's number
    if with_change:
        parts.append(
            "changed AS (INSERT INTO status_change (client_id, from_status, to_status, at, "
            f"signals) VALUES ($1, ${after}, ${after + 1}, ${after + 2}, ${after + 3}))"
        )
        after += 4
    if outbox_rows:
        parts.append(outbox_ctes(after, outbox_rows))
    return "WITH " + ",\n".join(parts) + "\nSELECT 1"


async def store_one(
    session: AsyncSession,
    columns: tuple[str, ...],
    row: Mapping[str, Any],
    change: StatusChangeRow | None,
    outbox: Sequence[Mapping[str, Any]],
) -> None:
    """One client's evaluated columns, its status change (if any) and the webhook events they
    cause, in one statement: `update_many`, `record_status_changes` and the outbox's insert for
    the common write of one client. All scalar parameters, so PostgreSQL keeps one generic plan
    for each shape (columns, with or without a change, how many webhook events)."""
    values: list[Any] = [row["client_id"]]
    values += [json_text(row[name]) if name in _JSON_COLUMNS else row[name] for name in columns]
    if change is not None:
        values += [change["from_status"], change["to_status"], change["at"], change["signals"]]
    values += outbox_values(outbox)
    raw = await driver(session)
    await raw.execute(_store_one_sql(columns, change is not None, len(outbox)), *values)


_INSERT_STATUS_CHANGE = (
    "INSERT INTO status_change (client_id, from_status, to_status, at, signals) "
    "VALUES ($1, $2, $3, $4, $5)"
)
# Several changes in one statement, as update_many writes their clients (signals as literals)
_INSERT_STATUS_CHANGES = (
    "INSERT INTO status_change (client_id, from_status, to_status, at, signals) "
    "SELECT client_id, from_status, to_status, at, signals::text[] "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) "
    "AS c(client_id, from_status, to_status, at, signals)"
)


async def record_status_changes(session: AsyncSession, rows: Sequence[StatusChangeRow]) -> None:
    if not rows:
        return
    raw = await driver(session)
    if len(rows) == 1:  # scalars, as in update_many
        [row] = rows
        await raw.execute(
            _INSERT_STATUS_CHANGE,
            row["client_id"],
            row["from_status"],
            row["to_status"],
            row["at"],
            row["signals"],
        )
        return
    await raw.execute(
        _INSERT_STATUS_CHANGES,
        [row["client_id"] for row in rows],
        [row["from_status"] for row in rows],
        [row["to_status"] for row in rows],
        [row["at"] for row in rows],
        [_array_literal(row["signals"]) for row in rows],
    )


# --- reads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientFilter:
    statuses: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    market: str | None = None
    manager_id: str | None = None
    signal: str | None = None
    decisions: tuple[str, ...] = ()
    min_value: Decimal | None = None
    min_risk: float | None = None
    xyz: tuple[str, ...] = ()
    rfm: tuple[str, ...] = ()  # codes like "155", "_" for any score: "1_5"


def _time_text(value: datetime | None, missing: str) -> str:
    return value.isoformat() if value else missing


# A cursor's sort key, checked before it reaches SQL: ValueError for one this API did not issue.
def _time_check(text: str) -> None:
    if text not in ("infinity", "-infinity"):
        datetime.fromisoformat(text)


def _value_check(text: str) -> None:
    Decimal(text)  # InvalidOperation is a ValueError


def _float_check(text: str) -> None:
    if not math.isfinite(float(text)):  # repr() of a float reads back exactly
        raise ValueError(text)


def _float_text(value: float | None) -> str:
    return repr(float(-1 if value is None else value))


def _money_text(value: Decimal | None) -> str:
    return str(Decimal(-1) if value is None else value)


@dataclass(frozen=True)
class Sort:
    """A list order: its expression (SQL, as its index spells it), direction, and how a row's key
    is written into a cursor and read back (client_id breaks ties in the same direction). The
    key travels as text and is cast in SQL (`key_type`), so 'infinity' needs no special case."""

    expression: str
    descending: bool
    key_text: Callable[[Mapping[str, Any]], str]
    check: Callable[[str], None]
    key_type: str


SORTS: dict[str, Sort] = {
    "value_desc": Sort("value", True, lambda row: str(row["value"]), _value_check, "numeric"),
    "last_order_desc": Sort(
        LAST_ORDER,
        True,
        lambda row: _time_text(row["last_order_at"], "-infinity"),
        _time_check,
        "timestamptz",
    ),
    "overdue_desc": Sort(
        NEXT_ORDER,
        False,
        lambda row: _time_text(row["expected_next_order_at"], "infinity"),
        _time_check,
        "timestamptz",
    ),
    "risk_desc": Sort(
        RISK, True, lambda row: _float_text(row["churn_risk"]), _float_check, "float8"
    ),
    "clv_desc": Sort(
        CLV, True, lambda row: _money_text(row["predicted_clv"]), _value_check, "numeric"
    ),
}


class _Conditions:
    """A WHERE clause under construction: its conditions and their driver parameters."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.parameters: list[Any] = []

    def parameter(self, value: Any) -> str:
        self.parameters.append(value)
        return f"${len(self.parameters)}"

    def any_of(self, column: str, values: tuple[str, ...]) -> None:
        # `IN` with a parameter each, as PostgreSQL plans it best: one value is an equality,
        # which an index on (column, sort key) returns in order
        self.sql.append(f"{column} IN ({', '.join(self.parameter(v) for v in values)})")


def _where(where: ClientFilter) -> _Conditions:
    conditions = _Conditions()
    if where.statuses:
        conditions.any_of("status", where.statuses)
    if where.tiers:
        conditions.any_of("tier", where.tiers)
    if where.market:
        conditions.sql.append(f"market = {conditions.parameter(where.market)}")
    if where.manager_id:
        conditions.sql.append(f"manager_id = {conditions.parameter(where.manager_id)}")
    if where.signal:  # as its partial index spells it (ix_client_signal_*)
        conditions.sql.append(has_signal(where.signal))
    if where.decisions:
        conditions.any_of("decision", where.decisions)
    if where.min_value is not None:
        conditions.sql.append(f"value >= {conditions.parameter(where.min_value)}::numeric")
    if where.min_risk is not None:
        conditions.sql.append(f"{conditions.parameter(where.min_risk)}::float8 <= {RISK}")
    if where.xyz:
        conditions.any_of("xyz", where.xyz)
    if where.rfm:
        likes = " OR ".join(f"rfm LIKE {conditions.parameter(code)}" for code in where.rfm)
        conditions.sql.append(f"({likes})")
    return conditions


# What a list row shows (the fields of ClientSummary); facts and attributes stay in the table.
_SUMMARY = ", ".join(ClientSummary.model_fields)


async def list_page(
    session: AsyncSession,
    where: ClientFilter,
    sort: str,
    after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One keyset page: rows strictly after `after` = (sort key as text, client_id).
    Raises ValueError when the sort key text cannot be a key of this sort.

    On the driver: a list page is a read of up to 1,000 rows, where SQLAlchemy's statement
    building and result processing cost more than the query (issue 12's lists at 1M)."""
    sql, parameters = list_query(where, sort, after, limit)
    raw = await driver(session)
    return [dict(record) for record in await raw.fetch(sql, *parameters)]


def list_query(
    where: ClientFilter, sort: str, after: tuple[str, str] | None, limit: int
) -> tuple[str, list[Any]]:
    """`list_page`'s statement and its parameters: one keyset range scan of the index that
    leads with the filter (one status, tier, manager, signal or decision) or of the sort's index
    over all clients, the other conditions tested on the way.

    A page over all statuses is not the merge of one scan per status (2026-11-30, measured at
    1,000,000 clients): where a filter never holds for some status (a signal for an active
    client, a tier for a prospect), that status's scan reads all its clients before the merge
    can return a row, 60-480 ms instead of 1-2 ms (docs/decisions.md)."""
    order = SORTS[sort]
    conditions = _where(where)
    if after is not None:
        key_text, client_id = after
        order.check(key_text)
        key = conditions.parameter(key_text)
        past = conditions.parameter(client_id)
        compare = "<" if order.descending else ">"
        conditions.sql.append(
            f"({order.expression}, client_id) {compare} ({key}::text::{order.key_type}, {past})"
        )
    direction = "DESC" if order.descending else "ASC"
    sql = f"SELECT {_SUMMARY} FROM client"
    if conditions.sql:
        sql += " WHERE " + " AND ".join(conditions.sql)
    sql += f" ORDER BY {order.expression} {direction}, client_id {direction}"
    sql += f" LIMIT {conditions.parameter(limit)}"
    return sql, conditions.parameters


def is_sort_key(sort: str, key_text: str) -> bool:
    """Whether `key_text` can be a key of this sort (a cursor this API issued)."""
    try:
        SORTS[sort].check(key_text)
    except (ValueError, ArithmeticError):
        return False
    return True


def cursor_key(row: Mapping[str, Any], sort: str) -> tuple[str, str]:
    """Where the next page starts: the row's sort key as text and its client_id."""
    return SORTS[sort].key_text(row), row["client_id"]


async def get(session: AsyncSession, client_id: str) -> Client | None:
    return await session.get(Client, client_id)


def status_change_item_id(number: int) -> str:
    """Timeline ids of status changes sort like their numbers (fixed width)."""
    return f"sc-{number:012d}"


_CHANGE_ITEM_ID = func.concat("sc-", func.lpad(cast(StatusChange.id, Text), 12, "0"))


async def status_changes_page(
    session: AsyncSession, client_id: str, before: tuple[datetime, str] | None, limit: int
) -> list[StatusChange]:
    """Newest first; keyset on (at, timeline id) so it merges with events' (occurred_at, id)."""
    statement = select(StatusChange).where(StatusChange.client_id == client_id)
    if before is not None:
        statement = statement.where(
            tuple_(StatusChange.at, _CHANGE_ITEM_ID)
            < tuple_(literal(before[0]), literal(before[1]))
        )
    statement = statement.order_by(StatusChange.at.desc(), _CHANGE_ITEM_ID.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def stats(session: AsyncSession) -> list[tuple[str, str | None, int, Decimal]]:
    statement = select(
        Client.status, Client.tier, func.count(), func.coalesce(func.sum(Client.value), 0)
    ).group_by(Client.status, Client.tier)
    return [(s, t, int(n), Decimal(v)) for s, t, n, v in (await session.execute(statement))]


async def erase(
    session: AsyncSession, client_id: str, requested_by: str, events_deleted: int, now: datetime
) -> None:
    """Delete the client, its status history and its losses in the reasons report's tally;
    keep an audit row without personal data."""
    await session.execute(delete(StatusChange).where(StatusChange.client_id == client_id))
    # app.reports' table (reports sits above clients, so by name): a tally row names the client
    await session.execute(text("DELETE FROM loss_tally WHERE client_id = :id"), {"id": client_id})
    await session.execute(delete(Client).where(Client.client_id == client_id))
    session.add(
        Erasure(
            client_id_sha256=hashlib.sha256(client_id.encode()).hexdigest(),
            events_deleted=events_deleted,
            requested_by=requested_by,
            erased_at=now,
        )
    )
    await session.flush()


async def clients_behind(session: AsyncSession, version: int) -> int:
    """Clients last evaluated under an older policy version."""
    statement = select(func.count()).select_from(Client).where(Client.policy_version < version)
    return int(await session.scalar(statement) or 0)


# --- facts versions: the worker's upgrade_facts ------------------------------------------------


def _old_facts(version: int) -> Any:
    """`facts_version < version` as the partial index ix_client_facts_version spells it (a
    literal) when `version` is this code's FACTS_VERSION, so that the index serves it."""
    if version == FACTS_VERSION:
        return text(OLD_FACTS)
    return Client.facts_version < version


async def lock_old_facts(session: AsyncSession, version: int, limit: int) -> list[ClientRow]:
    """Clients whose stored facts are older than `version`, skipping rows another worker holds.
    Their facts are left out: the caller re-folds them from the events."""
    columns = [column for column in ATTRIBUTE_COLUMNS if column.key != "facts"]
    statement = (
        select(*columns).where(_old_facts(version)).limit(limit).with_for_update(skip_locked=True)
    )
    return _rows(await session.execute(statement))


async def clients_with_old_facts(session: AsyncSession, version: int) -> int:
    """How many clients still hold facts older than `version` (an index range count)."""
    statement = select(func.count()).select_from(Client).where(_old_facts(version))
    return int(await session.scalar(statement) or 0)


async def count_by_status_and_decision(
    session: AsyncSession, client_ids: Sequence[str]
) -> list[tuple[str, str | None, int]]:
    """How many of `client_ids` are in each (status, decision): what `winback demo` reports.
    One array parameter (`= any(...)`), so any number of ids fits in one statement."""
    statement = (
        select(Client.status, Client.decision, func.count())
        .where(Client.client_id == func.any(bindparam("client_ids", list(client_ids))))
        .group_by(Client.status, Client.decision)
    )
    return [(status, decision, int(n)) for status, decision, n in await session.execute(statement)]


# --- p_return from evidence: finished campaigns' treatment members ----------------------------
#
# `campaign_member` belongs to app.campaigns, a layer above this one; it is read here by name so
# that the recovery-plan endpoint (in this package) can pass the observed rates to the planner.
# The partial index ix_campaign_member_evidence (market, tier) INCLUDE (cycles_since_lost,
# returned, campaign_id) WHERE returned IS NOT NULL AND NOT holdout makes this an index-only scan
# over the similar members. The band is the p_return band: width_bucket over its bounds.

_OBSERVED_RETURNS = """
SELECT tier, market,
       CASE WHEN cycles_since_lost IS NULL THEN NULL
            ELSE width_bucket(cycles_since_lost, CAST(:bounds AS float8[])) END AS band,
       count(*) AS members,
       count(*) FILTER (WHERE returned) AS returned,
       count(DISTINCT campaign_id) AS campaigns
FROM campaign_member
WHERE returned IS NOT NULL AND NOT holdout {only}
GROUP BY 1, 2, 3
"""


async def observed_returns(
    session: AsyncSession,
    bounds: Sequence[float],
    only: tuple[str | None, str] | None = None,
    closed_by: datetime | None = None,
) -> list[tuple[str | None, str, int | None, int, int, int]]:
    """(tier, market, band, members, returned, campaigns) of the treatment members of closed
    campaigns whose outcome was recorded; `only=(tier, market)` keeps one kind of client;
    `closed_by` keeps the campaigns closed by then (a plan `as_of` a past moment)."""
    parameters: dict[str, Any] = {"bounds": list(bounds)}
    only_sql = ""
    if only is not None:
        tier, market = only
        only_sql = "AND market = :market AND " + ("tier = :tier" if tier else "tier IS NULL")
        parameters.update(market=market, tier=tier)
    if closed_by is not None:
        only_sql += " AND campaign_id IN (SELECT id FROM campaign WHERE closed_at <= :closed_by)"
        parameters["closed_by"] = closed_by
    statement = text(_OBSERVED_RETURNS.format(only=only_sql))
    rows = await session.execute(statement, parameters)
    return [
        (tier, market, band, int(members), int(returned), int(campaigns))
        for tier, market, band, members, returned, campaigns in rows
    ]


# --- the bulk path: `winback import` (app/imports) ----------------------------------------------

# Create the clients a chunk of imported events names (as `lock_or_create` would) and mark every
# one's facts as behind its events: facts_version 0, and 0 as the version inside the facts JSON
# too, so that a write-path update in between (which stores the JSON's version) keeps the mark.
# A row already marked is left alone (but locked, as ON CONFLICT DO UPDATE locks every row it
# meets); rows are taken in client_id order, so concurrent writers never deadlock.
_MARK_STALE = """
    INSERT INTO client AS c (client_id, market, facts, facts_version, status, cycle_days,
                             cycle_source, policy_version, evaluated_at)
    SELECT id, $2, $3::jsonb, 0, $4, $5, $6, $7, $8 FROM unnest($1::text[]) AS id ORDER BY id
    ON CONFLICT (client_id) DO UPDATE
        SET facts_version = 0,
            facts = CASE WHEN c.facts ? 'version' THEN jsonb_set(c.facts, '{version}', '0')
                         ELSE c.facts END
        WHERE c.facts_version <> 0 OR c.facts -> 'version' <> '0'::jsonb
"""
_ATTRIBUTES_OF = """
    SELECT client_id, name, email, phone, market, manager_id, tags, advocate, problem_client,
           do_not_contact, attributes, attribute_times
    FROM client WHERE client_id = ANY($1::text[]) ORDER BY client_id
"""


async def mark_stale(
    session: AsyncSession, client_ids: Sequence[str], new_row: Mapping[str, Any]
) -> None:
    """Create the missing clients from `new_row` (market, facts as JSON text, status,
    cycle_days, cycle_source, policy_version, evaluated_at) and mark all their facts stale."""
    if not client_ids:
        return
    raw = await driver(session)
    await raw.execute(
        _MARK_STALE,
        sorted(client_ids),
        new_row["market"],
        new_row["facts"],
        new_row["status"],
        new_row["cycle_days"],
        new_row["cycle_source"],
        new_row["policy_version"],
        new_row["evaluated_at"],
    )


async def attributes_of(session: AsyncSession, client_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The attributes and their stamps of clients this transaction holds (after `mark_stale`)."""
    raw = await driver(session)
    return [dict(row) for row in await raw.fetch(_ATTRIBUTES_OF, list(client_ids))]


async def lock_stale_facts(
    session: AsyncSession, version: int, after: str, limit: int, skip_locked: bool = False
) -> list[ClientRow]:
    """The next clients (client_id order, after `after`) whose facts are behind their events or
    of an older fold, locked (with `skip_locked`, rows another transaction holds are passed
    over); `evaluated` tells whether any status was ever recorded for the client (a client the
    bulk path created has none: its first change is from no status)."""
    columns = [column for column in ATTRIBUTE_COLUMNS if column.key != "facts"]
    evaluated = (
        select(literal(1)).where(StatusChange.client_id == Client.client_id).exists()
    ).label("evaluated")
    statement = (
        select(*columns, evaluated)
        .where(_old_facts(version), Client.client_id > after)
        .order_by(Client.client_id)
        .limit(limit)
        .with_for_update(of=Client, skip_locked=skip_locked)
    )
    return _rows(await session.execute(statement))
