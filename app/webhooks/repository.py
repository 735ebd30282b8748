"""SQL for outgoing webhooks: endpoints, the outbox, the worker's claims and the delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

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
# subscribes to are recorded; with no endpoint at all the statement writes nothing.
_ENQUEUE = text(
    """
    INSERT INTO webhook_event (type, client_id, created_at, body)
    SELECT e.type, e.client_id, e.created_at, e.body
    FROM unnest(CAST(:types AS text[]), CAST(:client_ids AS text[]),
                CAST(:created AS timestamptz[]), CAST(:bodies AS text[]))
         AS e(type, client_id, created_at, body)
    WHERE EXISTS (SELECT 1 FROM webhook_endpoint w WHERE e.type = ANY (w.event_types))
    """
)


async def enqueue(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Outbox rows (type, client_id, created_at, body) in the caller's transaction: one
    statement, whatever their number."""
    if not rows:
        return
    await session.execute(
        _ENQUEUE,
        {
            "types": [row["type"] for row in rows],
            "client_ids": [row["client_id"] for row in rows],
            "created": [row["created_at"] for row in rows],
            "bodies": [row["body"] for row in rows],
        },
    )


async def forget_client(session: AsyncSession, client_id: str) -> None:
    """Erasure: the client's events leave the outbox, with their deliveries and attempts."""
    await session.execute(delete(WebhookEvent).where(WebhookEvent.client_id == client_id))


# --- the worker ---------------------------------------------------------------------------------

# New outbox rows, a delivery per enabled endpoint subscribed to the type now, marked dispatched.
_DISPATCH = text(
    """
    WITH batch AS (
        SELECT id, type FROM webhook_event WHERE dispatched_at IS NULL
        ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
    ), made AS (
        INSERT INTO webhook_delivery
            (event_id, endpoint_id, origin, status, attempts, next_attempt_at, created_at)
        SELECT b.id, w.id, 'event', 'pending', 0, :now, :now
        FROM batch b JOIN webhook_endpoint w ON w.enabled AND b.type = ANY (w.event_types)
        ORDER BY b.id, w.id
        RETURNING 1
    ), marked AS (
        UPDATE webhook_event e SET dispatched_at = :now FROM batch b WHERE e.id = b.id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM marked) AS events, (SELECT count(*) FROM made) AS deliveries
    """
)


async def dispatch(session: AsyncSession, now: datetime, limit: int) -> tuple[int, int]:
    """One batch of undispatched outbox rows (rows other workers hold are skipped); returns
    (events dispatched, deliveries made)."""
    events, deliveries = (await session.execute(_DISPATCH, {"now": now, "limit": limit})).one()
    return int(events), int(deliveries)


@dataclass(frozen=True)
class Claim:
    """A delivery a worker holds until `lease_until`: what it needs to sign and send it."""

    delivery_id: int
    attempts: int  # made before this one
    webhook_id: str
    event_type: str
    body: str
    endpoint_id: str
    url: str
    secret_sealed: bytes
    previous_secret_sealed: bytes | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None  # the endpoint's, when claimed


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
    SELECT c.id AS delivery_id, c.attempts, e.webhook_id, e.type AS event_type, e.body,
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
    """What one attempt came to, as the log records it."""

    delivery_id: int
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


async def record(session: AsyncSession, results: Sequence[Result]) -> set[int]:
    """Log these attempts and move their deliveries on; returns the delivery ids recorded."""
    if not results:
        return set()
    parameters = {
        "ids": [r.delivery_id for r in results],
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
    return {row[0] for row in await session.execute(_RECORD, parameters)}


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
    """A ping for one endpoint: an outbox row nobody else is sent (already dispatched) and one
    delivery, due now."""
    event = WebhookEvent(
        webhook_id=f"msg_{uuid.uuid4().hex}",  # the column default's form, known before flush
        type="webhook.test",
        client_id=None,
        created_at=now,
        body=body,
        dispatched_at=now,
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

_BACKLOG = text(
    """
    SELECT (SELECT count(*) FROM webhook_delivery
            WHERE status = 'pending' AND next_attempt_at <= :now) AS due,
           (SELECT min(next_attempt_at) FROM webhook_delivery
            WHERE status = 'pending' AND next_attempt_at <= :now) AS oldest_due,
           (SELECT count(*) FROM webhook_event WHERE dispatched_at IS NULL) AS undispatched,
           (SELECT min(created_at) FROM webhook_event WHERE dispatched_at IS NULL)
               AS oldest_undispatched,
           (SELECT count(*) FROM webhook_delivery
            WHERE status = 'pending' AND next_attempt_at > :now) AS scheduled
    """
)
_OLDEST = text(
    """
    SELECT least(
        (SELECT min(next_attempt_at) FROM webhook_delivery
         WHERE status = 'pending' AND next_attempt_at <= :now),
        (SELECT min(created_at) FROM webhook_event WHERE dispatched_at IS NULL))
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
    """When the oldest message waiting to be sent became due (two index probes)."""
    moment: datetime | None = await session.scalar(_OLDEST, {"now": now})
    return moment


_PURGE = text(
    """
    DELETE FROM webhook_event WHERE id IN (
        SELECT e.id FROM webhook_event e
        WHERE e.created_at < :before AND e.dispatched_at IS NOT NULL
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
