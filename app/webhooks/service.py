"""Outgoing webhooks (SPEC §9): endpoints and their secrets, the outbox, test pings, replays and
the delivery log. Sending is the worker's (app.webhooks.delivery).

The outbox is written by the change that causes an event, in its transaction (`enqueue`): a
client's status or tier moving (`app.clients.service.store`, the one place client state is
written: the write path, the sweeper, policy re-evaluation, import) and a campaign created. A
change rolled back leaves no row; a committed one leaves one the worker finds even if the process
died right after the commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.kit import pagination
from app.kit.problems import ProblemError, invalid, not_found
from app.webhooks import repository, signing
from app.webhooks.crypto import seal
from app.webhooks.models import WebhookEndpoint
from app.webhooks.schemas import (
    TEST_EVENT,
    AttemptRead,
    DeliveryPage,
    DeliveryRead,
    EndpointCreate,
    EndpointCreated,
    EndpointPage,
    EndpointPatch,
    EndpointRead,
    Payload,
    ReplayStarted,
    SecretRotated,
    TestSent,
    WebhookTest,
)
from app.webhooks.ssrf import Guard


def guard_of(settings: Settings) -> Guard:
    """Where webhooks may go: WINBACK_WEBHOOK_ALLOW_HTTP, WINBACK_WEBHOOK_ALLOWED_NETWORKS."""
    return Guard(settings.webhook_allow_http, settings.webhook_allowed_networks)


# --- the outbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """An outbox row: the event's type, the client it is about (None for a campaign), when,
    and the exact body every attempt sends."""

    type: str
    client_id: str | None
    created_at: datetime
    body: str

    def row(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "client_id": self.client_id,
            "created_at": self.created_at,
            "body": self.body,
        }


def body_of(event_type: str, data: BaseModel | dict[str, Any], now: datetime) -> str:
    """`{"type", "timestamp", "data"}` as compact JSON (the bytes signed and sent)."""
    payload = Payload(type=event_type, timestamp=now, data=data)
    return payload.model_dump_json(by_alias=True)


def outgoing(
    event_type: str, data: BaseModel | dict[str, Any], now: datetime, client_id: str | None = None
) -> Outgoing:
    return Outgoing(event_type, client_id, now, body_of(event_type, data, now))


async def enqueue(session: AsyncSession, events: Sequence[Outgoing]) -> None:
    """Write these events to the outbox in the caller's transaction (never commits). Types no
    endpoint subscribes to are not recorded."""
    await repository.enqueue(session, [event.row() for event in events])


async def forget_client(session: AsyncSession, client_id: str) -> None:
    """Erasure: the client's events leave the outbox, delivered or not."""
    await repository.forget_client(session, client_id)


# --- endpoints ----------------------------------------------------------------------------------


def new_id() -> str:
    return f"we_{secrets.token_hex(8)}"


def _check_url(url: str, guard: Guard) -> None:
    why = guard.url_refusal(url)
    if why:
        raise invalid("url", why, "url_refused")


def read_model(endpoint: WebhookEndpoint) -> EndpointRead:
    return EndpointRead.model_validate(endpoint, from_attributes=True)


async def endpoint_or_404(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await repository.get(session, endpoint_id)
    if endpoint is None:
        raise not_found(f"webhook endpoint {endpoint_id!r}")
    return endpoint


async def create(
    session: AsyncSession,
    body: EndpointCreate,
    guard: Guard,
    key: bytes,
    now: datetime,
    created_by: str | None,
) -> EndpointCreated:
    """Register an endpoint with a new secret, returned this once (stored sealed)."""
    _check_url(body.url, guard)
    endpoint_id = new_id()
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        url=body.url,
        description=body.description,
        event_types=list(body.event_types),
        enabled=True,
        secret_sealed=seal(key, secret, endpoint_id),
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, endpoint)
    return EndpointCreated(**read_model(endpoint).model_dump(), secret=secret)


async def list_page(session: AsyncSession, cursor: str | None, limit: int) -> EndpointPage:
    rows = await repository.page(session, pagination.decode_moment_key(cursor), limit + 1)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = pagination.encode([last.created_at.isoformat(), last.id])
    return EndpointPage(items=[read_model(row) for row in rows[:limit]], next_cursor=next_cursor)


async def get(session: AsyncSession, endpoint_id: str) -> EndpointRead:
    return read_model(await endpoint_or_404(session, endpoint_id))


async def update(
    session: AsyncSession, endpoint_id: str, patch: EndpointPatch, guard: Guard, now: datetime
) -> EndpointRead:
    endpoint = await endpoint_or_404(session, endpoint_id)
    given = patch.model_fields_set
    for name in ("url", "event_types", "enabled"):
        if name in given and getattr(patch, name) is None:
            raise invalid(name, "must not be null", "null_value")
    if patch.url is not None and patch.url != endpoint.url:
        _check_url(patch.url, guard)
        endpoint.url = patch.url
    if patch.event_types is not None:
        endpoint.event_types = list(patch.event_types)
    if "description" in given:
        endpoint.description = patch.description
    if patch.enabled is not None and patch.enabled != endpoint.enabled:
        endpoint.enabled = patch.enabled
        if patch.enabled:  # a fresh start: what failed before does not count against it
            endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
        else:
            endpoint.disabled_reason, endpoint.disabled_at = "disabled by an admin", now
    endpoint.updated_at = now
    await session.flush()
    if not endpoint.enabled:  # what was waiting for it is not sent: replay it after enabling
        await repository.fail_pending(session, [endpoint.id], "endpoint disabled", now)
    return read_model(endpoint)


async def delete(session: AsyncSession, endpoint_id: str) -> None:
    await repository.remove(session, await endpoint_or_404(session, endpoint_id))


async def rotate_secret(
    session: AsyncSession,
    endpoint_id: str,
    overlap_seconds: float,
    key: bytes,
    now: datetime,
) -> SecretRotated:
    """A new secret (returned once); the current one keeps signing beside it for
    `overlap_seconds`, so receivers can switch without losing a message. A rotation during an
    overlap ends the older secret's."""
    endpoint = await endpoint_or_404(session, endpoint_id)
    secret = signing.new_secret()
    if overlap_seconds > 0:
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap_seconds)
    else:
        endpoint.previous_secret_sealed = endpoint.previous_secret_expires_at = None
    endpoint.secret_sealed = seal(key, secret, endpoint.id)
    endpoint.secret_rotated_at = endpoint.updated_at = now
    await session.flush()
    expires = endpoint.previous_secret_expires_at
    return SecretRotated(id=endpoint.id, secret=secret, previous_secret_expires_at=expires)


async def send_test(session: AsyncSession, endpoint_id: str, now: datetime) -> TestSent:
    """Queue a `webhook.test` message to this endpoint alone (enabled or not), signed and
    retried like any other; the worker sends it at once."""
    endpoint = await endpoint_or_404(session, endpoint_id)
    data = WebhookTest(endpoint_id=endpoint.id, message="a test message from winback")
    body = body_of(TEST_EVENT, data, now)
    delivery = await repository.add_test(session, endpoint.id, body, now)
    page = await repository.deliveries_page(session, endpoint.id, None, delivery.id + 1, 1)
    return TestSent(delivery=_delivery(page[0], []))


async def replay(
    session: AsyncSession, endpoint_id: str, since: datetime, now: datetime
) -> ReplayStarted:
    """Send again every recorded event of the endpoint's types since `since` (same webhook-ids:
    a receiver that keeps the ids it has seen skips what it already has)."""
    endpoint = await endpoint_or_404(session, endpoint_id)
    if not endpoint.enabled:
        raise ProblemError(
            409,
            "Conflict",
            f"webhook endpoint {endpoint_id!r} is disabled: enable it (PATCH enabled: true), "
            "then replay",
            slug="endpoint-disabled",
        )
    if since > now:
        raise invalid("since", "must not be in the future", "future_since")
    count = await repository.replay(session, endpoint.id, endpoint.event_types, since, now)
    return ReplayStarted(endpoint_id=endpoint.id, since=since, deliveries=count)


# --- the delivery log -----------------------------------------------------------------------------


def _delivery(row: dict[str, Any], attempts: Sequence[Any]) -> DeliveryRead:
    return DeliveryRead(
        id=row["id"],
        webhook_id=row["webhook_id"],
        event_type=row["event_type"],
        origin=row["origin"],
        status=row["status"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
        finished_at=row["finished_at"],
        failure=row["failure"],
        attempts=[
            AttemptRead(
                number=a.number,
                at=a.attempted_at,
                outcome=a.outcome,
                status_code=a.status_code,
                duration_ms=a.duration_ms,
                error=a.error,
                response=a.response,
            )
            for a in attempts
        ],
    )


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    [last] = pagination.decode(cursor, 1)
    if isinstance(last, bool) or not isinstance(last, int):
        raise pagination.bad_cursor()
    return last


async def deliveries_page(
    session: AsyncSession, endpoint_id: str, status: str | None, cursor: str | None, limit: int
) -> DeliveryPage:
    """The endpoint's deliveries, newest first, each with its attempts."""
    before = _before(cursor)
    await endpoint_or_404(session, endpoint_id)
    rows = await repository.deliveries_page(session, endpoint_id, status, before, limit + 1)
    page = rows[:limit]
    attempts = await repository.attempts_of(session, [row["id"] for row in page])
    next_cursor = pagination.encode([page[-1]["id"]]) if len(rows) > limit else None
    items = [_delivery(row, attempts[row["id"]]) for row in page]
    return DeliveryPage(items=items, next_cursor=next_cursor)
