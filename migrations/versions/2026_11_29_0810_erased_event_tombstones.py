"""tombstones of erased events: a replayed webhook of an erased client stores nothing

Revision ID: 2026_11_29_0810
Revises: 2026_11_29_0800
Create Date: 2026-11-29 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_29_0810"
down_revision: str | None = "2026_11_29_0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    # The SHA-256 of each erased event's id, nothing else: no client id, no body, no time of
    # the event (the erasure table already records when and by whom).
    op.create_table(
        "erased_event",
        sa.Column("id_sha256", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_sha256", name="pk_erased_event"),
    )
    # Every insert into `event` (API, batch, PATCH, demo, later import and platform webhooks)
    # skips an erased id here, so no write path can bring an erased client back, and the hot path
    # pays one index probe in the server instead of a round trip.
    op.execute(
        """
        CREATE FUNCTION event_skip_erased() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM erased_event
                       WHERE id_sha256 = encode(sha256(convert_to(NEW.id, 'UTF8')), 'hex')) THEN
                RETURN NULL;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER event_skip_erased BEFORE INSERT ON event "
        "FOR EACH ROW EXECUTE FUNCTION event_skip_erased()"
    )


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.execute("DROP TRIGGER event_skip_erased ON event")
    op.execute("DROP FUNCTION event_skip_erased()")
    op.drop_table("erased_event")
