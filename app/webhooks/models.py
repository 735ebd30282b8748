"""Outgoing webhooks: endpoints, the outbox of events, deliveries and their attempts.

- `webhook_endpoint`: where to send which event types, and the signing secret, encrypted at rest
  (AES-GCM, app.kit.secrets) with the previous one while a rotation overlaps.
- `webhook_event`: the outbox. A row is written by the change that causes it, in the same
  transaction (a client's status or tier moving, a campaign created), when some endpoint
  subscribes to its type; `body` is the exact JSON sent, `webhook_id` the `webhook-id` header,
  the same for every attempt, endpoint and replay. Written once, never updated (until retention
  or erasure deletes it).
- `webhook_queue`: the events not dispatched yet, one narrow row each, written with the event
  (by the trigger `webhook_event_queued`, so whatever writes an outbox row queues it);
  a worker leases rows (`lease_until`, not indexed, so the lease is a HOT update), sends, then
  deletes them in the statement that records the deliveries.
- `webhook_delivery`: one event to one endpoint: pending with its next attempt, delivered, or
  failed (attempts used up, or the endpoint disabled). Made by the worker once the event's first
  attempt is over (already delivered in the common case), or pending by a replay or a test ping.
- `webhook_attempt`: each try, for the delivery log: when, outcome, status code, duration,
  error, the start of the answer.
"""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

TS = DateTime(timezone=True)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoint"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(Boolean)
    # why and when it was disabled: "disabled by an admin", "410 Gone", "failing for 5 days"
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(TS)
    # the first failed attempt since the last delivered one (NULL while deliveries succeed)
    failing_since: Mapped[datetime | None] = mapped_column(TS)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(TS)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(TS)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (
        Index("ix_webhook_endpoint_created", "created_at", "id"),  # the list, keyset
    )


class WebhookEvent(Base):
    __tablename__ = "webhook_event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(
        String(64), server_default=text("'msg_' || replace(gen_random_uuid()::text, '-', '')")
    )
    type: Mapped[str] = mapped_column(String(64))
    # the client it is about (erasure deletes its events); NULL for campaign events
    client_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TS)
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_webhook_event_created_at", "created_at"),  # replay, retention
        Index(
            "ix_webhook_event_client_id",
            "client_id",
            postgresql_where=text("client_id IS NOT NULL"),
        ),
    )


class WebhookQueue(Base):
    """An event not dispatched yet (no foreign key: erasure deletes the rows it must)."""

    __tablename__ = "webhook_queue"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # a worker sends it until then; NULL: never taken
    lease_until: Mapped[datetime | None] = mapped_column(TS)

    # room on each page for the lease's new row version: the update stays HOT
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)


class WebhookDelivery(Base):
    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_event.id", ondelete="CASCADE")
    )
    endpoint_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    origin: Mapped[str] = mapped_column(String(8))  # event | replay | test
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # pending: when it is due (pushed ahead by the lease while a worker sends it)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    # why it failed: its attempts were used up, or its endpoint was disabled
    failure: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        CheckConstraint("origin IN ('event', 'replay', 'test')", name="origin"),
        # what is due, per endpoint (the worker's claim; the backlog reads it whole: only
        # retries, replays and test pings are ever pending)
        Index(
            "ix_webhook_delivery_endpoint_due",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_delivery_endpoint", "endpoint_id", "id"),  # the log, newest first
        Index("ix_webhook_delivery_event_id", "event_id"),  # cascades from the outbox
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempt"

    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_delivery.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempted_at: Mapped[datetime] = mapped_column(TS)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)  # the answer's first characters
