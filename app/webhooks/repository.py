"""SQL for outgoing webhooks: endpoints, the outbox, the worker's claims and the delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

# --- endpoints ----------------------------------------------------------------------------------


async def get(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id)


async def add(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    session.add(endpoint)
    await session.flush()


async def remove(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint; its deliveries and their attempts go with it (ON DELETE CASCADE)."""
    await session.delete(endpoint)
    await session.flush()


async def page(
    session: AsyncSession, after: tuple[datetime, str] | None, limit: int
) -> list[WebhookEndpoint]:
    """Oldest first, keyset on (created_at, id)."""
    statement = select(WebhookEndpoint)
    if after is not None:
        statement = statement.where(
            tuple_(WebhookEndpoint.created_at, WebhookEndpoint.id) > tuple_(*after)
        )
    statement = statement.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id).limit(limit)
    return list((await session.execute(statement)).scalars())


# --- the outbox: written by the change that causes it -------------------------------------------


# Only types some endpoint (enabled or not: a disabled one can be re-enabled and replayed)
# subscribes to are recorded; with no endpoint at all the statement writes nothing. Each event is
# queued for the worker by the trigger `webhook_event_queued` (migration 2026_11_29_1400), in the
# same statement: a narrow row, so the event itself is never updated, and queued whoever writes
# it (an API process of the previous release during a rolling deploy too).
def outbox_ctes(first: int, count: int | None = None) -> str:
    """The outbox insert as a CTE of a larger statement: the write path adds it to the
    statement that stores the client, so a change and its webhook events cost one round trip.
    Its parameters from $first on: `count` rows of four scalars (`outbox_values`), or, without
    `count`, four arrays (`outbox_arrays`). Scalars for the single write (a statement over
    arrays is re-planned at every execution), arrays for many rows."""
    if count is None:
        source = (
            f"unnest(${first}::text[], ${first + 1}::text[], ${first + 2}::timestamptz[], "
            f"${first + 3}::text[])"
        )
    else:
        numbers = range(first, first + 4 * count, 4)
        source = (
            "(VALUES "
            + ", ".join(
                f"(${n}::text, ${n + 1}::text, ${n + 2}::timestamptz, ${n + 3}::text)"
                for n in numbers
            )
            + ")"
        )
    return f"""made AS (
        INSERT INTO webhook_event (type, client_id, created_at, body)
        SELECT e.type, e.client_id, e.created_at, e.body
        FROM {source} AS e(type, client_id, created_at, body)
        WHERE EXISTS (SELECT 1 FROM webhook_endpoint w WHERE e.type = ANY (w.event_types))
    )"""


def outbox_arrays(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The parameters of `outbox_ctes` over arrays (type, client_id, created_at, body)."""
    return [
        [row["type"] for row in rows],
        [row["client_id"] for row in rows],
        [row["created_at"] for row in rows],
        [row["body"] for row in rows],
    ]


def outbox_values(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The parameters of `outbox_ctes(first, len(rows))`, row after row."""
    return [row[name] for row in rows for name in ("type", "client_id", "created_at", "body")]


_ENQUEUE = f"WITH {outbox_ctes(1)} SELECT 1"


async def enqueue(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Outbox rows (type, client_id, created_at, body) in the caller's transaction: one
    statement, whatever their number."""
    if not rows:
        return
    raw = await driver(session)
    await raw.execute(_ENQUEUE, *outbox_arrays(rows))


_FORGET = text(
    """
    WITH gone AS (DELETE FROM webhook_event WHERE client_id = :client_id RETURNING id)
    DELETE FROM webhook_queue q USING gone WHERE q.event_id = gone.id
    """
)


async def forget_client(session: AsyncSession, client_id: str) -> None:
    """Erasure: the client's events leave the outbox (and the queue), with their deliveries and
    attempts."""
    await session.execute(_FORGET, {"client_id": client_id})


# --- the worker ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A message a worker holds until its lease ends: what it needs to sign and send it. Either a
    delivery (a retry, a replay, a test ping: `delivery_id`) or an event taken from the queue for
    one of its endpoints (`delivery_id` None: the delivery is made when the result is recorded)."""

    delivery_id: int | None
    attempts: int  # made before this one
    event_id: int
    webhook_id: str
    event_type: str
    body: str
    endpoint_id: str
    url: str
    secret_sealed: bytes
    previous_secret_sealed: bytes | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None  # the endpoint's, when claimed


# Queued events, oldest first, skipping rows other workers hold, leased until `lease_until` (a
# HOT update of a narrow row), with the enabled endpoints subscribed to each now (none: the event
# is recorded at once, sent to no one). A worker that dies before recording leaves them queued,
# taken again when the lease ends: sent again, with the same webhook-id.
_LEASE = text(
    """
    WITH leased AS (
        UPDATE webhook_queue q SET lease_until = :lease_until
        FROM (SELECT event_id FROM webhook_queue
              WHERE lease_until IS NULL OR lease_until <= :now
              ORDER BY event_id LIMIT :limit FOR UPDATE SKIP LOCKED) pick
        WHERE q.event_id = pick.event_id
        RETURNING q.event_id
    )
    SELECT l.event_id, e.webhook_id, e.type AS event_type, e.body, w.id AS endpoint_id, w.url,
           w.secret_sealed, w.previous_secret_sealed, w.previous_secret_expires_at,
           w.failing_since
    FROM leased l
    LEFT JOIN webhook_event e ON e.id = l.event_id
    LEFT JOIN webhook_endpoint w ON w.enabled AND e.type = ANY (w.event_types)
    ORDER BY l.event_id, w.id
    """
)


async def lease(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> dict[int, list[Claim]]:
    """Up to `limit` queued events, leased until `lease_until`: each with a claim per enabled
    endpoint subscribed to its type (an empty list: nobody to send it to)."""
    parameters = {"now": now, "lease_until": lease_until, "limit": limit}
    leased: dict[int, list[Claim]] = {}
    for row in (await session.execute(_LEASE, parameters)).mappings():
        claims = leased.setdefault(row["event_id"], [])
        if row["endpoint_id"] is not None:
            claims.append(Claim(delivery_id=None, attempts=0, **row))
    return leased


# Due deliveries, oldest first, at most `room` per endpoint (a worker's cap minus what it already
# has in flight there, so one slow endpoint never holds every sending slot), skipping rows other
# workers hold: the claim pushes their next attempt to the end of the lease and commits, so no
# other worker takes them while this one sends. A worker that dies before recording the result
# leaves them due again when the lease ends: they are sent again, with the same webhook-id.
_CLAIM = text(
    """
    WITH room AS (
        SELECT * FROM unnest(CAST(:room_ids AS text[]), CAST(:rooms AS int[]))
            AS r(endpoint_id, room)
    ), candidates AS (
        SELECT d.id, d.next_attempt_at
        FROM webhook_endpoint w
        LEFT JOIN room r ON r.endpoint_id = w.id
        CROSS JOIN LATERAL (
            SELECT id, next_attempt_at FROM webhook_delivery
            WHERE endpoint_id = w.id AND status = 'pending' AND next_attempt_at <= :now
            ORDER BY next_attempt_at LIMIT coalesce(r.room, :per_endpoint)
        ) d
        ORDER BY d.next_attempt_at LIMIT :limit
    ), due AS (
        SELECT id FROM webhook_delivery
        WHERE id IN (SELECT id FROM candidates) AND status = 'pending' AND next_attempt_at <= :now
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE webhook_delivery d SET next_attempt_at = :lease_until FROM due WHERE d.id = due.id
        RETURNING d.id, d.attempts, d.event_id, d.endpoint_id
    )
    SELECT c.id AS delivery_id, c.attempts, c.event_id, e.webhook_id, e.type AS event_type, e.body,
           w.id AS endpoint_id, w.url, w.secret_sealed, w.previous_secret_sealed,
           w.previous_secret_expires_at, w.failing_since
    FROM claimed c
    JOIN webhook_event e ON e.id = c.event_id
    JOIN webhook_endpoint w ON w.id = c.endpoint_id
    """
)


async def claim(
    session: AsyncSession,
    now: datetime,
    lease_until: datetime,
    limit: int,
    per_endpoint: int,
    room: Mapping[str, int] | None = None,
) -> list[Claim]:
    """Up to `limit` due deliveries, leased until `lease_until`: at most `per_endpoint` for one
    endpoint, or its `room` when the caller already sends some there."""
    room = dict(room or {})
    parameters = {
        "now": now,
        "lease_until": lease_until,
        "limit": limit,
        "per_endpoint": per_endpoint,
        "room_ids": list(room),
        "rooms": [max(n, 0) for n in room.values()],
    }
    rows = (await session.execute(_CLAIM, parameters)).mappings()
    return [Claim(**row) for row in rows]


@dataclass(frozen=True)
class Result:
    """What one attempt came to, as the log records it (`number` 0: an event taken from the
    queue but not sent, its delivery left pending for the claim)."""

    delivery_id: int | None  # None: an event's first attempt, its delivery not made yet
    event_id: int
    endpoint_id: str
    number: int
    attempted_at: datetime
    outcome: str
    status_code: int | None
    duration_ms: float
    error: str | None
    response: str | None
    # what becomes of the delivery
    status: str  # pending | delivered | failed
    next_attempt_at: datetime | None
    failure: str | None


# The results of a group of attempts in one statement: each delivery moves on only if it is
# still at the attempt this result is for (a worker whose lease ran out and whose delivery
# another worker took over records nothing twice), and the attempt is logged.
_RECORD = text(
    """
    WITH r AS (
        SELECT * FROM unnest(
            CAST(:ids AS bigint[]), CAST(:numbers AS int[]), CAST(:attempted AS timestamptz[]),
            CAST(:outcomes AS text[]), CAST(:codes AS int[]), CAST(:durations AS float8[]),
            CAST(:errors AS text[]), CAST(:responses AS text[]), CAST(:statuses AS text[]),
            CAST(:nexts AS timestamptz[]), CAST(:failures AS text[]))
        AS r(id, number, attempted_at, outcome, status_code, duration_ms, error, response,
             status, next_attempt_at, failure)
    ), moved AS (
        UPDATE webhook_delivery d
        SET attempts = r.number, status = r.status, next_attempt_at = r.next_attempt_at,
            failure = r.failure,
            finished_at = CASE WHEN r.status = 'pending' THEN NULL ELSE r.attempted_at END
        FROM r
        WHERE d.id = r.id AND d.attempts = r.number - 1 AND d.status = 'pending'
        RETURNING d.id
    )
    INSERT INTO webhook_attempt
        (delivery_id, number, attempted_at, outcome, status_code, duration_ms, error, response)
    SELECT r.id, r.number, r.attempted_at, r.outcome, r.status_code, r.duration_ms, r.error,
           r.response
    FROM r JOIN moved ON moved.id = r.id
    RETURNING delivery_id
    """
)


def _attempt_arrays(results: Sequence[Any]) -> dict[str, list[Any]]:
    """What the record statements take of each result, as arrays (one parameter each)."""
    return {
        "numbers": [r.number for r in results],
        "attempted": [r.attempted_at for r in results],
        "outcomes": [r.outcome for r in results],
        "codes": [r.status_code for r in results],
        "durations": [r.duration_ms for r in results],
        "errors": [r.error for r in results],
        "responses": [r.response for r in results],
        "statuses": [r.status for r in results],
        "nexts": [r.next_attempt_at for r in results],
        "failures": [r.failure for r in results],
    }


async def record(session: AsyncSession, results: Sequence[Result]) -> set[int]:
    """Log these attempts and move their deliveries on; returns the delivery ids recorded."""
    if not results:
        return set()
    parameters = {
        "ids": [r.delivery_id for r in results],
        **_attempt_arrays(results),
    }
    return {row[0] for row in await session.execute(_RECORD, parameters)}


# The events whose first attempts are over, in one statement: their queue rows are deleted (only
# the worker that deletes one records the event: a worker whose lease ran out and whose event
# another took over records nothing twice) and a delivery per endpoint is made as the attempt
# left it (delivered in the common case: it never enters the pending indexes), with its attempt
# logged; a message not sent is made pending, due now. An endpoint deleted meanwhile gets nothing;
# one disabled meanwhile gets its messages failed rather than pending.
_RECORD_EVENTS = text(
    """
    WITH r AS (
        SELECT * FROM unnest(
            CAST(:event_ids AS bigint[]), CAST(:endpoint_ids AS text[]), CAST(:numbers AS int[]),
            CAST(:attempted AS timestamptz[]), CAST(:outcomes AS text[]),
            CAST(:codes AS int[]), CAST(:durations AS float8[]), CAST(:errors AS text[]),
            CAST(:responses AS text[]), CAST(:statuses AS text[]),
            CAST(:nexts AS timestamptz[]), CAST(:failures AS text[]))
        AS r(event_id, endpoint_id, number, attempted_at, outcome, status_code, duration_ms,
             error, response, status, next_attempt_at, failure)
    ), done AS (
        DELETE FROM webhook_queue WHERE event_id = ANY (CAST(:events AS bigint[]))
        RETURNING event_id
    ), made AS (
        INSERT INTO webhook_delivery (event_id, endpoint_id, origin, status, attempts,
                                      next_attempt_at, created_at, finished_at, failure)
        SELECT r.event_id, r.endpoint_id, 'event', x.status, r.number,
               CASE WHEN x.status = 'pending' THEN r.next_attempt_at END, :now,
               CASE WHEN x.status <> 'pending' THEN coalesce(r.attempted_at, :now) END,
               x.failure
        FROM r
        JOIN done ON done.event_id = r.event_id
        JOIN webhook_endpoint w ON w.id = r.endpoint_id
        CROSS JOIN LATERAL (
            SELECT CASE WHEN r.status = 'pending' AND NOT w.enabled THEN 'failed'
                        ELSE r.status END AS status,
                   CASE WHEN r.status = 'pending' AND NOT w.enabled THEN
                            CASE WHEN w.disabled_reason IS NULL
                                      OR w.disabled_reason = 'disabled by an admin'
                                 THEN 'endpoint disabled'
                                 ELSE 'endpoint disabled: ' || w.disabled_reason END
                        ELSE r.failure END AS failure
        ) x
        ORDER BY r.event_id, r.endpoint_id
        RETURNING id, event_id, endpoint_id, attempts
    ), logged AS (
        INSERT INTO webhook_attempt (delivery_id, number, attempted_at, outcome, status_code,
                                     duration_ms, error, response)
        SELECT m.id, 1, r.attempted_at, r.outcome, r.status_code, r.duration_ms, r.error,
               r.response
        FROM made m JOIN r ON r.event_id = m.event_id AND r.endpoint_id = m.endpoint_id
        WHERE m.attempts = 1
    )
    SELECT event_id, endpoint_id FROM made WHERE attempts = 1
    """
)


async def record_events(
    session: AsyncSession, events: Sequence[int], results: Sequence[Result], now: datetime
) -> set[tuple[int, str]]:
    """Record these leased events: the deliveries of `results` (their first attempts, or
    `number` 0 for a message not sent), and the events out of the queue. Returns the (event,
    endpoint) pairs whose attempt was logged."""
    if not events:
        return set()
    parameters = {
        "events": list(events),
        "now": now,
        "event_ids": [r.event_id for r in results],
        "endpoint_ids": [r.endpoint_id for r in results],
        **_attempt_arrays(results),
    }
    rows = await session.execute(_RECORD_EVENTS, parameters)
    return {(int(event_id), str(endpoint_id)) for event_id, endpoint_id in rows}


_REACHABLE = text(
    """
    UPDATE webhook_endpoint SET failing_since = NULL
    WHERE id = ANY (CAST(:ids AS text[])) AND failing_since IS NOT NULL
    """
)
_FAILING = text(
    """
    UPDATE webhook_endpoint SET failing_since = :now
    WHERE id = ANY (CAST(:ids AS text[])) AND failing_since IS NULL
    """
)
_DISABLE = text(
    """
    UPDATE webhook_endpoint
    SET enabled = false, disabled_reason = :reason, disabled_at = :now, updated_at = :now
    WHERE id = ANY (CAST(:ids AS text[])) AND enabled
      AND (CAST(:failing_before AS timestamptz) IS NULL OR failing_since <= :failing_before)
    RETURNING id
    """
)
_FAIL_PENDING = text(
    """
    UPDATE webhook_delivery
    SET status = 'failed', next_attempt_at = NULL, finished_at = :now, failure = :failure
    WHERE endpoint_id = ANY (CAST(:ids AS text[])) AND status = 'pending'
    """
)


async def mark_reachable(session: AsyncSession, endpoint_ids: Sequence[str]) -> None:
    if endpoint_ids:
        await session.execute(_REACHABLE, {"ids": list(endpoint_ids)})


async def mark_failing(session: AsyncSession, endpoint_ids: Sequence[str], now: datetime) -> None:
    if endpoint_ids:
        await session.execute(_FAILING, {"ids": list(endpoint_ids), "now": now})


async def disable(
    session: AsyncSession,
    endpoint_ids: Sequence[str],
    reason: str,
    now: datetime,
    failing_before: datetime | None = None,
) -> list[str]:
    """Disable the enabled endpoints among these (with `failing_before`: only those failing
    since then or earlier); their pending deliveries fail. Returns the ids disabled."""
    if not endpoint_ids:
        return []
    parameters = {
        "ids": list(endpoint_ids),
        "reason": reason,
        "now": now,
        "failing_before": failing_before,
    }
    disabled = [row[0] for row in await session.execute(_DISABLE, parameters)]
    await fail_pending(session, disabled, f"endpoint disabled: {reason}", now)
    return disabled


async def fail_pending(
    session: AsyncSession, endpoint_ids: Sequence[str], failure: str, now: datetime
) -> None:
    if endpoint_ids:
        parameters = {"ids": list(endpoint_ids), "failure": failure, "now": now}
        await session.execute(_FAIL_PENDING, parameters)


# --- test pings and replays ---------------------------------------------------------------------


async def add_test(
    session: AsyncSession, endpoint_id: str, body: str, now: datetime
) -> WebhookDelivery:
    """A ping for one endpoint: an outbox row nobody else is sent (never queued) and one
    delivery, due now."""
    event = WebhookEvent(
        webhook_id=f"msg_{uuid.uuid4().hex}",  # the column default's form, known before flush
        type="webhook.test",
        client_id=None,
        created_at=now,
        body=body,
    )
    session.add(event)
    await session.flush()
    delivery = WebhookDelivery(
        event_id=event.id,
        endpoint_id=endpoint_id,
        origin="test",
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery


_REPLAY = text(
    """
    INSERT INTO webhook_delivery
        (event_id, endpoint_id, origin, status, attempts, next_attempt_at, created_at)
    SELECT e.id, :endpoint_id, 'replay', 'pending', 0, :now, :now
    FROM webhook_event e
    WHERE e.created_at >= :since AND e.type = ANY (CAST(:types AS text[]))
    ORDER BY e.id
    """
)


async def replay(
    session: AsyncSession,
    endpoint_id: str,
    event_types: Sequence[str],
    since: datetime,
    now: datetime,
) -> int:
    """A new delivery, due now, of every outbox event of these types recorded since `since`."""
    parameters = {"endpoint_id": endpoint_id, "types": list(event_types), "since": since}
    result = await session.execute(_REPLAY, {**parameters, "now": now})
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- the delivery log -----------------------------------------------------------------------------


async def deliveries_page(
    session: AsyncSession,
    endpoint_id: str,
    status: str | None,
    before: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first, keyset on the delivery id; with the event's type and webhook-id."""
    statement = (
        select(
            WebhookDelivery.id,
            WebhookEvent.webhook_id,
            WebhookEvent.type.label("event_type"),
            WebhookDelivery.origin,
            WebhookDelivery.status,
            WebhookDelivery.created_at,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.finished_at,
            WebhookDelivery.failure,
        )
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
    )
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    if before is not None:
        statement = statement.where(WebhookDelivery.id < before)
    statement = statement.order_by(WebhookDelivery.id.desc()).limit(limit)
    return [dict(row) for row in (await session.execute(statement)).mappings()]


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[int]
) -> dict[int, list[WebhookAttempt]]:
    out: dict[int, list[WebhookAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return out
    statement = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(list(delivery_ids)))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
    )
    for attempt in (await session.execute(statement)).scalars():
        out[attempt.delivery_id].append(attempt)
    return out


# --- operations: backlog, retention ---------------------------------------------------------------

# The pending deliveries are retries, replays and test pings only (an event's deliveries are made
# once its first attempt is over), so their per-endpoint index is read whole; the queue's oldest
# event is its lowest id (ids follow time closely enough for an age in seconds).
_BACKLOG = text(
    """
    SELECT (SELECT count(*) FROM webhook_delivery
            WHERE status = 'pending' AND next_attempt_at <= :now) AS due,
           (SELECT min(next_attempt_at) FROM webhook_delivery
            WHERE status = 'pending' AND next_attempt_at <= :now) AS oldest_due,
           (SELECT count(*) FROM webhook_queue) AS undispatched,
           (SELECT created_at FROM webhook_event
            WHERE id = (SELECT min(event_id) FROM webhook_queue)) AS oldest_undispatched,
           (SELECT count(*) FROM webhook_delivery
            WHERE status = 'pending' AND next_attempt_at > :now) AS scheduled
    """
)
_OLDEST = text(
    """
    SELECT least(
        (SELECT min(next_attempt_at) FROM webhook_delivery
         WHERE status = 'pending' AND next_attempt_at <= :now),
        (SELECT created_at FROM webhook_event
         WHERE id = (SELECT min(event_id) FROM webhook_queue)))
    """
)


@dataclass(frozen=True)
class Backlog:
    due: int  # deliveries due and not sent yet, plus events not dispatched yet
    oldest: datetime | None  # when the oldest of them became due
    scheduled: int  # pending deliveries waiting for a later attempt (retries)


async def backlog(session: AsyncSession, now: datetime) -> Backlog:
    due, oldest_due, undispatched, oldest_new, scheduled = (
        await session.execute(_BACKLOG, {"now": now})
    ).one()
    oldest = min((moment for moment in (oldest_due, oldest_new) if moment), default=None)
    return Backlog(int(due) + int(undispatched), oldest, int(scheduled))


async def oldest_due(session: AsyncSession, now: datetime) -> datetime | None:
    """When the oldest message waiting to be sent became due (a few index probes)."""
    moment: datetime | None = await session.scalar(_OLDEST, {"now": now})
    return moment


_PURGE = text(
    """
    DELETE FROM webhook_event WHERE id IN (
        SELECT e.id FROM webhook_event e
        WHERE e.created_at < :before
          AND NOT EXISTS (SELECT 1 FROM webhook_queue q WHERE q.event_id = e.id)
          AND NOT EXISTS (SELECT 1 FROM webhook_delivery d
                          WHERE d.event_id = e.id AND d.status = 'pending')
        ORDER BY e.created_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    """
)


async def purge(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to `limit` outbox events recorded before `before` whose deliveries are all
    finished, with their deliveries and attempts; returns how many."""
    result = await session.execute(_PURGE, {"before": before, "limit": limit})
    return int(result.rowcount)  # type: ignore[attr-defined]
