"""SQL for clients and their status history."""

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Numeric,
    Select,
    Text,
    bindparam,
    cast,
    delete,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client, Erasure, StatusChange
from app.clients.rows import ClientRow, StatusChangeRow
from app.clients.schemas import ClientSummary

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
_LOCK_OR_CREATE = insert(_CLIENT)  # type: ignore[arg-type]
# A no-op update takes the row lock and lets RETURNING see existing rows.
_LOCK_OR_CREATE_STATEMENT = _LOCK_OR_CREATE.on_conflict_do_update(
    index_elements=["client_id"], set_={"client_id": _LOCK_OR_CREATE.excluded.client_id}
).returning(*ATTRIBUTE_COLUMNS, literal_column("(xmax = 0)").label("inserted"))


def _rows(result: Any) -> list[ClientRow]:
    return [ClientRow(**row) for row in result.mappings()]  # type: ignore[typeddict-item]


async def lock_or_create(
    session: AsyncSession, new_rows: Sequence[Mapping[str, Any]]
) -> dict[str, ClientRow]:
    """Lock the clients (creating the missing ones) in one statement, in client_id order so that
    concurrent writers never deadlock. Returns the rows with `inserted` telling new from old."""
    rows = sorted(new_rows, key=lambda row: row["client_id"])
    connection = await session.connection()
    result = await connection.execute(_LOCK_OR_CREATE_STATEMENT, rows)
    return {row["client_id"]: ClientRow(**row) for row in result.mappings()}  # type: ignore[typeddict-item]


async def lock_due(session: AsyncSession, now: datetime, limit: int) -> list[ClientRow]:
    """Clients whose next_review_at has come, skipping rows another worker holds."""
    statement = (
        select(*ATTRIBUTE_COLUMNS)
        .where(Client.next_review_at <= now)
        .order_by(Client.next_review_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return _rows(await session.execute(statement))


async def lock_stale_policy(session: AsyncSession, version: int, limit: int) -> list[ClientRow]:
    statement = (
        select(*ATTRIBUTE_COLUMNS)
        .where(Client.policy_version < version)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return _rows(await session.execute(statement))


@functools.cache
def _update_statement(columns: tuple[str, ...]) -> Any:
    table = _CLIENT
    return (
        update(table)  # type: ignore[arg-type]
        .where(table.c.client_id == bindparam("key_client_id"))
        .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns})
    )


async def update_many(
    session: AsyncSession, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> None:
    """UPDATE these columns of these clients: one cached statement, executemany."""
    if not rows:
        return
    parameters = [
        {"key_client_id": row["client_id"], **{f"new_{c}": row[c] for c in columns}} for row in rows
    ]
    connection = await session.connection()
    await connection.execute(_update_statement(columns), parameters)


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


_INSERT_STATUS_CHANGE = insert(StatusChange.__table__)  # type: ignore[arg-type]


async def record_status_changes(session: AsyncSession, rows: Sequence[StatusChangeRow]) -> None:
    if rows:
        connection = await session.connection()
        await connection.execute(_INSERT_STATUS_CHANGE, list(rows))


# --- reads -------------------------------------------------------------------------------------

_LAST_ORDER: ColumnElement[datetime] = literal_column(
    "coalesce(client.last_order_at, '-infinity'::timestamptz)"
)
_NEXT_ORDER: ColumnElement[datetime] = literal_column(
    "coalesce(client.expected_next_order_at, 'infinity'::timestamptz)"
)


@dataclass(frozen=True)
class ClientFilter:
    statuses: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    market: str | None = None
    manager_id: str | None = None
    signal: str | None = None
    decisions: tuple[str, ...] = ()
    min_value: Decimal | None = None


def _time_text(value: datetime | None, missing: str) -> str:
    return value.isoformat() if value else missing


def _time_bound(text: str) -> Any:
    if text not in ("infinity", "-infinity"):
        datetime.fromisoformat(text)  # ValueError for a cursor this API did not issue
    return cast(text, DateTime(timezone=True))


def _value_bound(text: str) -> Any:
    Decimal(text)  # InvalidOperation (a ValueError) for a cursor this API did not issue
    return cast(text, Numeric)


@dataclass(frozen=True)
class Sort:
    """A list order: its expression (with a matching index), direction, and how a row's key
    is written into a cursor and read back (client_id breaks ties in the same direction)."""

    expression: Any
    descending: bool
    key_text: Callable[[Mapping[str, Any]], str]
    bound: Callable[[str], Any]


SORTS: dict[str, Sort] = {
    "value_desc": Sort(Client.value, True, lambda row: str(row["value"]), _value_bound),
    "last_order_desc": Sort(
        _LAST_ORDER,
        True,
        lambda row: _time_text(row["last_order_at"], "-infinity"),
        _time_bound,
    ),
    "overdue_desc": Sort(
        _NEXT_ORDER,
        False,
        lambda row: _time_text(row["expected_next_order_at"], "infinity"),
        _time_bound,
    ),
}


def _where(statement: Select[Any], where: ClientFilter) -> Select[Any]:
    if where.statuses:
        statement = statement.where(Client.status.in_(where.statuses))
    if where.tiers:
        statement = statement.where(Client.tier.in_(where.tiers))
    if where.market:
        statement = statement.where(Client.market == where.market)
    if where.manager_id:
        statement = statement.where(Client.manager_id == where.manager_id)
    if where.signal:
        statement = statement.where(Client.signals.contains([where.signal]))
    if where.decisions:
        statement = statement.where(Client.decision.in_(where.decisions))
    if where.min_value is not None:
        statement = statement.where(Client.value >= where.min_value)
    return statement


# What a list row shows (the fields of ClientSummary); facts and attributes stay in the table.
SUMMARY_COLUMNS = tuple(getattr(Client, name) for name in ClientSummary.model_fields)


async def list_page(
    session: AsyncSession,
    where: ClientFilter,
    sort: str,
    after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One keyset page: rows strictly after `after` = (sort key as text, client_id).
    Raises ValueError when the sort key text cannot be a key of this sort."""
    order = SORTS[sort]
    statement: Select[Any] = _where(select(*SUMMARY_COLUMNS), where)
    if after is not None:
        key_text, client_id = after
        row_now = tuple_(order.expression, Client.client_id)
        row_after = tuple_(order.bound(key_text), literal(client_id))
        statement = statement.where(
            row_now < row_after if order.descending else row_now > row_after
        )
    if order.descending:
        statement = statement.order_by(order.expression.desc(), Client.client_id.desc())
    else:
        statement = statement.order_by(order.expression.asc(), Client.client_id.asc())
    return [dict(row) for row in (await session.execute(statement.limit(limit))).mappings()]


def is_sort_key(sort: str, key_text: str) -> bool:
    """Whether `key_text` can be a key of this sort (a cursor this API issued)."""
    try:
        SORTS[sort].bound(key_text)
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
    """Delete the client and its status history; keep an audit row without personal data."""
    await session.execute(delete(StatusChange).where(StatusChange.client_id == client_id))
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


async def lock_old_facts(session: AsyncSession, version: int, limit: int) -> list[ClientRow]:
    """Clients whose stored facts are older than `version`, skipping rows another worker holds.
    Their facts are left out: the caller re-folds them from the events."""
    columns = [column for column in ATTRIBUTE_COLUMNS if column.key != "facts"]
    statement = (
        select(*columns)
        .where(Client.facts_version < version)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return _rows(await session.execute(statement))


async def clients_with_old_facts(session: AsyncSession, version: int) -> int:
    """How many clients still hold facts older than `version` (an index range count)."""
    statement = select(func.count()).select_from(Client).where(Client.facts_version < version)
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
