"""campaigns and their members (segment snapshots with plans, holdouts, outcomes)

Revision ID: 2026_11_29_1000
Revises: 2026_11_29_0910
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_11_29_1000"
down_revision: str | None = "2026_11_29_0910"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    op.create_table(
        "campaign",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("segment", postgresql.JSONB(), nullable=False),
        sa.Column("holdout_pct", sa.Float(), nullable=False),
        sa.Column("attribution_days", sa.Integer(), nullable=False),
        sa.Column("include_in_other_campaigns", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "outcomes_recorded", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("treatment_count", sa.Integer(), nullable=False),
        sa.Column("holdout_count", sa.Integer(), nullable=False),
        sa.Column("treatment_value", sa.Numeric(30, 2), nullable=False),
        sa.Column("holdout_value", sa.Numeric(30, 2), nullable=False),
        sa.Column("expected_value", sa.Numeric(30, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaign"),
        sa.CheckConstraint("status IN ('running', 'closed')", name="ck_campaign_status"),
        sa.CheckConstraint(
            "holdout_pct >= 0 AND holdout_pct <= 50", name="ck_campaign_holdout_pct"
        ),
        sa.CheckConstraint("attribution_days >= 1", name="ck_campaign_attribution_days"),
    )
    op.create_index(
        "ix_campaign_started",
        "campaign",
        [sa.literal_column("started_at DESC"), sa.literal_column("id DESC")],
    )
    op.create_table(
        "campaign_member",
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(1), nullable=True),
        sa.Column("market", sa.String(8), nullable=False),
        sa.Column("value", sa.Numeric(30, 2), nullable=False),
        sa.Column("cycles_since_lost", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("owner_role", sa.String(16), nullable=False),
        sa.Column("first_step_day", sa.Integer(), nullable=True),
        sa.Column("first_step_channel", sa.String(16), nullable=True),
        sa.Column("first_step_action", sa.String(64), nullable=True),
        sa.Column("offer", sa.Text(), nullable=True),
        sa.Column("p_return", sa.Float(), nullable=False),
        sa.Column("expected_value", sa.Numeric(30, 2), nullable=False),
        sa.Column("returned", sa.Boolean(), nullable=True),
        sa.Column("recovered_revenue", sa.Numeric(30, 2), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "client_id", name="pk_campaign_member"),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name="fk_campaign_member_campaign_id_campaign",
            ondelete="CASCADE",
        ),
        # An erasure deletes the client row: its memberships go with it.
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.client_id"],
            name="fk_campaign_member_client_id_client",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_campaign_member_group", "campaign_member", ["campaign_id", "holdout", "client_id"]
    )
    op.create_index("ix_campaign_member_client_id", "campaign_member", ["client_id"])
    op.create_index(
        "ix_campaign_member_evidence",
        "campaign_member",
        ["market", "tier"],
        postgresql_include=["cycles_since_lost", "returned", "campaign_id"],
        postgresql_where=sa.text("returned IS NOT NULL AND NOT holdout"),
    )

    # The reports' indexes (app/reports/models.py). On large live tables, create them by hand
    # first with CREATE INDEX CONCURRENTLY (same names and definitions); IF NOT EXISTS then makes
    # these no-ops.
    # - the status changes that move the churn report's base (into or out of active/at_risk/
    #   recovered) and every loss and return, by client and time;
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_status_change_moves ON status_change (client_id, at) "
        "INCLUDE (from_status, to_status, signals) "
        "WHERE to_status IN ('lost', 'recovered') "
        "OR (to_status IN ('active', 'at_risk', 'recovered')) "
        "<> coalesce(from_status IN ('active', 'at_risk', 'recovered'), false)"
    )
    # - what the reports read of every client, a narrow copy of a wide row (one more index for
    #   each client write to maintain);
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_client_reports ON client (client_id) "
        "INCLUDE (status, tier, market, manager_id, value, last_order_at)"
    )
    # - the events that carry a reason code, by client and time (a small share of the events).
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_event_reasons ON event (client_id, occurred_at, id) "
        "WHERE type IN ('contact.logged', 'request.lost', 'client.churned', 'feedback.received') "
        "AND (body -> 'data') ? 'reason_code'"
    )


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.execute("DROP INDEX IF EXISTS ix_event_reasons")
    op.execute("DROP INDEX IF EXISTS ix_client_reports")
    op.execute("DROP INDEX IF EXISTS ix_status_change_moves")
    op.drop_table("campaign_member")
    op.drop_table("campaign")
