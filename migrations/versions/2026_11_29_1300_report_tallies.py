"""report tallies: the churn report's figures by day and group, and each loss with its leading
reason, made by the worker, so the reports read a few thousand rows (churn) or the losses of
their window (reasons) instead of the whole history

Revision ID: 2026_11_29_1300
Revises: 2026_11_29_1200
Create Date: 2026-11-29 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_29_1300"
down_revision: str | None = "2026_11_29_1200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
# app.reports.models.REASON_EVENTS_PREDICATE when this migration was written
REASON_EVENTS_PREDICATE = (
    "type IN ('contact.logged', 'request.lost', 'client.churned', 'feedback.received') "
    "AND (body -> 'data') ? 'reason_code'"
)


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    # The tallies are UNLOGGED: derived data the worker re-makes every minute, written without
    # WAL (a tally of 100,000 rows a minute would be gigabytes of WAL a day). A crash empties
    # all three tables together, and an empty state row means "no tally": the reports read the
    # history until the worker makes the next one.
    op.create_table(
        "churn_tally",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        # 'all', 'tier', 'manager' or 'market'; grp the group's value (NULL: none, or 'all')
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("grp", sa.String(128), nullable=True),
        # the UTC day of the changes; NULL: the clients in the base when the tally was made
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("lost", sa.Integer(), nullable=False),
        sa.Column("lost_value", sa.Numeric(), nullable=False),
        sa.Column("recovered", sa.Integer(), nullable=False),
        sa.Column("recovered_value", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_churn_tally")),
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        "ix_churn_tally_dimension_day",
        "churn_tally",
        ["dimension", "day"],
        postgresql_include=["grp", "delta", "lost", "lost_value", "recovered", "recovered_value"],
    )
    op.create_table(
        "loss_tally",
        # one row per change into `lost`, with what the reasons report reads of it
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("lost_at", TS, nullable=False),
        sa.Column("next_lost_at", TS, nullable=True),  # the client's next loss, if any
        sa.Column("recorded_code", sa.String(64), nullable=True),
        sa.Column("signal", sa.String(32), nullable=True),
        sa.Column("market", sa.String(8), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loss_tally")),
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        "ix_loss_tally_lost_at",
        "loss_tally",
        ["lost_at"],
        postgresql_include=[
            "next_lost_at",
            "recorded_code",
            "signal",
            "market",
            "value",
            "client_id",
        ],
    )
    op.create_index("ix_loss_tally_client_id", "loss_tally", ["client_id"])  # erasure
    # the status changes recorded since a tally (id > its last): a BRIN index, as small and cheap
    # to keep as an index gets, is enough for a range at the end of an append-mostly table
    op.create_index("ix_status_change_id", "status_change", ["id"], postgresql_using="brin")
    # the reason events received since a tally (the reasons report reads their clients anew)
    op.create_index(
        "ix_event_reasons_received",
        "event",
        ["received_at"],
        postgresql_where=sa.text(REASON_EVENTS_PREDICATE),
    )
    op.create_table(
        "report_tally_state",
        sa.Column("id", sa.Integer(), nullable=False),  # always 1: one row
        sa.Column("refreshed_at", TS, nullable=False),
        # every status_change row up to this id (as the refresh's snapshot saw them) is tallied
        sa.Column("through_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_tally_state")),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.drop_table("report_tally_state")
    op.drop_index("ix_event_reasons_received", table_name="event")
    op.drop_index("ix_status_change_id", table_name="status_change")
    op.drop_index("ix_loss_tally_client_id", table_name="loss_tally")
    op.drop_index("ix_loss_tally_lost_at", table_name="loss_tally")
    op.drop_table("loss_tally")
    op.drop_index("ix_churn_tally_dimension_day", table_name="churn_tally")
    op.drop_table("churn_tally")
