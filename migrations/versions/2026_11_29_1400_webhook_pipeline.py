"""webhook pipeline: a queue of undispatched events the worker leases, the outbox written once

The outbox row (`webhook_event`) is no longer updated: what is left to dispatch is a narrow row in
`webhook_queue`, written with the event (by a trigger, so every writer's rows are queued), leased
by a worker (a HOT update: `lease_until` is in no index, and the pages keep room for it) and
deleted when the event's deliveries are recorded. The deliveries are made after their first
attempt (delivered, in the common case, so they never enter the pending indexes), and the
backlog reads the per-endpoint index of pending deliveries, so the second one goes.

Revision ID: 2026_11_29_1400
Revises: 2026_11_29_1300
Create Date: 2026-11-29 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_29_1400"
down_revision: str | None = "2026_11_29_1300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    op.create_table(
        "webhook_queue",
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_webhook_queue"),
        postgresql_with={"fillfactor": 50},
    )
    # Every outbox row is queued by the database itself, whoever writes it: an API process of
    # the previous release still running during a rolling deploy writes outbox rows without a
    # queue row, and they would never be sent.
    op.execute(
        """
        CREATE FUNCTION webhook_event_queue() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO webhook_queue (event_id) VALUES (NEW.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER webhook_event_queued AFTER INSERT ON webhook_event "
        "FOR EACH ROW EXECUTE FUNCTION webhook_event_queue()"
    )
    # what the previous worker had not dispatched yet is queued (sent again if it was in flight)
    op.execute(
        "INSERT INTO webhook_queue (event_id) "
        "SELECT id FROM webhook_event WHERE dispatched_at IS NULL"
    )
    op.drop_index("ix_webhook_event_undispatched", table_name="webhook_event")
    op.drop_column("webhook_event", "dispatched_at")
    op.drop_index("ix_webhook_delivery_due", table_name="webhook_delivery")


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.execute("DROP TRIGGER webhook_event_queued ON webhook_event")
    op.execute("DROP FUNCTION webhook_event_queue()")
    op.create_index(
        "ix_webhook_delivery_due",
        "webhook_delivery",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.add_column("webhook_event", sa.Column("dispatched_at", TS, nullable=True))
    op.execute(
        "UPDATE webhook_event e SET dispatched_at = e.created_at "
        "WHERE NOT EXISTS (SELECT 1 FROM webhook_queue q WHERE q.event_id = e.id)"
    )
    op.create_index(
        "ix_webhook_event_undispatched",
        "webhook_event",
        ["id"],
        postgresql_where=sa.text("dispatched_at IS NULL"),
    )
    op.drop_table("webhook_queue")
