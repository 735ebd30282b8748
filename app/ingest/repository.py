"""The write path's first statement: store a request's new events and lock (or create) their
clients, in one round trip.

It inserts the events whose id is new (as the bulk path's `events.repository.insert_staged`
does), and locks their clients or creates them (as `clients.repository.lock_or_create` does,
with one difference: an existing client is locked with `FOR UPDATE`, a row lock, instead of that
statement's no-op upsert, a new row version and WAL on every write). Only the clients
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

# What both forms answer: the clients locked, the clients created, and a last row with the ids of
# the events inserted.
_ANSWER = f"""
    SELECT {_RETURNED}, false AS inserted, NULL::text[] AS new_events FROM locked
    UNION ALL
    SELECT {_RETURNED}, true, NULL FROM created
    UNION ALL
    SELECT {_NULLS}, NULL, (SELECT coalesce(array_agg(id), '{{}}') FROM new_event)
"""

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
    {_ANSWER}
"""


# The same for one event (the single-event write, the hot path), with scalar parameters: a
# statement over arrays gets a custom plan at every execution (PostgreSQL cannot cost a generic
# plan for arrays of unknown length, so it keeps re-planning: ~0.8 ms of the database's CPU per
# event), one with scalars settles on its generic plan after five.
_RECORD_AND_LOCK_ONE = f"""
    WITH new_event AS (
        INSERT INTO event (id, client_id, type, occurred_at, body, body_sha256)
        VALUES ($1, $2, $3, $4::timestamptz, $5::jsonb, $6)
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    ), locked AS (
        SELECT {_RETURNED} FROM client
        WHERE client_id = $2 AND EXISTS (SELECT FROM new_event)
        FOR UPDATE
    ), created AS (
        INSERT INTO client (client_id, market, facts, status, cycle_days, cycle_source,
                            policy_version, evaluated_at)
        SELECT $2, $7, $8::jsonb, $9, $10::float8, $11, $12::int, $13::timestamptz
        WHERE EXISTS (SELECT FROM new_event) AND NOT EXISTS (SELECT FROM locked)
        ON CONFLICT (client_id) DO NOTHING
        RETURNING {_RETURNED}
    )
    {_ANSWER}
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
    raw = await driver(session)
    if len(events) == 1:
        [event] = events
        [client] = [row for row in new_clients if row["client_id"] == event["client_id"]]
        result = await raw.fetch(
            _RECORD_AND_LOCK_ONE,
            *(event[name] for name in ("id", "client_id", "type", "occurred_at")),
            dumps(event["body"]),
            event["body_sha256"],
            *(
                json_text(client[name]) if name == "facts" else client[name]
                for name in NEW_CLIENT_COLUMNS[1:]
            ),
        )
        return _unpack(result)
    columns = [[row[name] for row in new_clients] for name in NEW_CLIENT_COLUMNS]
    columns[2] = [json_text(value) for value in columns[2]]
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
    return _unpack(result)


def _unpack(result: Sequence[Any]) -> tuple[set[str], dict[str, ClientRow]]:
    *clients, last = result
    rows: dict[str, ClientRow] = {}
    for record in clients:
        row = dict(record)
        del row["new_events"]
        rows[row["client_id"]] = row  # type: ignore[assignment]
    return set(last["new_events"]), rows
