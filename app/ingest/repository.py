"""The write path's first statement: store a request's new events and lock (or create) their
clients, in one round trip.

It does what `events.repository.insert_new` then `clients.repository.lock_or_create` do, with
one difference in how a client is locked: an existing client is locked with `FOR UPDATE` (a row
lock) instead of the no-op upsert (a new row version, and WAL, on every write). Only the clients
of events inserted now are locked: a request that only repeats events locks nothing.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client
from app.clients.repository import ATTRIBUTE_COLUMNS, NEW_CLIENT_COLUMNS, json_text
from app.clients.rows import ClientRow
from app.db import driver
from app.kit.jsontext import dumps

_RETURNED = ", ".join(column.key for column in ATTRIBUTE_COLUMNS)
_DIALECT = postgresql.dialect()
# the last row carries the inserted event ids; its client columns are typed NULLs
_NULLS = ", ".join(
    f"CAST(NULL AS {Client.__table__.c[column.key].type.compile(dialect=_DIALECT)})"
    for column in ATTRIBUTE_COLUMNS
)

# Events in id order and clients in client_id order (existing ones locked first, then the new
# ones created), so two requests wait for each other, never deadlock on each other's rows.
_RECORD_AND_LOCK = f"""
    WITH new_event AS (
        INSERT INTO event (id, client_id, type, occurred_at, body, body_sha256)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                             $5::jsonb[], $6::text[]) ORDER BY 1
        ON CONFLICT (id) DO NOTHING
        RETURNING id, client_id
    ), locked AS (
        SELECT {_RETURNED} FROM client
        WHERE client_id IN (SELECT client_id FROM new_event)
        ORDER BY client_id
        FOR UPDATE
    ), created AS (
        INSERT INTO client (client_id, market, facts, status, cycle_days, cycle_source,
                            policy_version, evaluated_at)
        SELECT * FROM unnest($7::text[], $8::text[], $9::jsonb[], $10::text[], $11::float8[],
                             $12::text[], $13::int[], $14::timestamptz[])
             AS n(client_id, market, facts, status, cycle_days, cycle_source, policy_version,
                  evaluated_at)
        WHERE n.client_id IN (SELECT client_id FROM new_event)
          AND n.client_id NOT IN (SELECT client_id FROM locked)
        ORDER BY 1
        ON CONFLICT (client_id) DO NOTHING
        RETURNING {_RETURNED}
    )
    SELECT {_RETURNED}, false AS inserted, NULL::text[] AS new_events FROM locked
    UNION ALL
    SELECT {_RETURNED}, true, NULL FROM created
    UNION ALL
    SELECT {_NULLS}, NULL, (SELECT coalesce(array_agg(id), '{{}}') FROM new_event)
"""


async def record_and_lock(
    session: AsyncSession,
    events: Sequence[Mapping[str, Any]],
    new_clients: Sequence[Mapping[str, Any]],
) -> tuple[set[str], dict[str, ClientRow]]:
    """Insert the events whose id is new (id, client_id, type, occurred_at, body, body_sha256)
    and lock their clients, creating the missing ones from `new_clients` (NEW_CLIENT_COLUMNS,
    one per client of `events`). Returns the ids inserted and the locked rows by client id.

    A client another transaction created after this statement's snapshot is not returned (the
    insert found it, the lock did not see it): the caller locks those in a second statement."""
    if not events:
        return set(), {}
    columns = [[row[name] for row in new_clients] for name in NEW_CLIENT_COLUMNS]
    columns[2] = [json_text(value) for value in columns[2]]
    raw = await driver(session)
    result = await raw.fetch(
        _RECORD_AND_LOCK,
        [row["id"] for row in events],
        [row["client_id"] for row in events],
        [row["type"] for row in events],
        [row["occurred_at"] for row in events],
        [dumps(row["body"]) for row in events],
        [row["body_sha256"] for row in events],
        *columns,
    )
    *clients, last = result
    rows: dict[str, ClientRow] = {}
    for record in clients:
        row = dict(record)
        del row["new_events"]
        rows[row["client_id"]] = row  # type: ignore[assignment]
    return set(last["new_events"]), rows
