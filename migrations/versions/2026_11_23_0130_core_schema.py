"""core schema: clients, events, status changes, policy, population stats, api keys, erasures

Revision ID: 2026_11_23_0130
Revises:
Create Date: 2026-11-23 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "2026_11_23_0130"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")

    op.create_table(
        "client",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("email", sa.Text()),
        sa.Column("phone", sa.Text()),
        sa.Column("market", sa.String(8), nullable=False),
        sa.Column("manager_id", sa.String(128)),
        sa.Column("tags", pg.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("advocate", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("problem_client", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("do_not_contact", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("attributes", pg.JSONB(), server_default="{}", nullable=False),
        sa.Column("attribute_times", pg.JSONB(), server_default="{}", nullable=False),
        sa.Column("facts", pg.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_since", TS),
        sa.Column("signals", pg.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("tier", sa.String(1)),
        sa.Column("decision", sa.String(32)),
        sa.Column("value", sa.Numeric(20, 2), server_default="0", nullable=False),
        sa.Column("lifetime_revenue", sa.Numeric(20, 2), server_default="0", nullable=False),
        sa.Column("orders_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_order_at", TS),
        sa.Column("last_order_at", TS),
        sa.Column("cycle_days", sa.Float(), nullable=False),
        sa.Column("cycle_source", sa.String(8), nullable=False),
        sa.Column("expected_next_order_at", TS),
        sa.Column("lost_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_lost_at", TS),
        sa.Column("recovered_at", TS),
        sa.Column("in_watch", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("next_review_at", TS),
        sa.Column("policy_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("evaluated_at", TS, nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_client"),
    )
    op.create_index(
        "ix_client_next_review_at",
        "client",
        ["next_review_at"],
        postgresql_where=sa.text("next_review_at IS NOT NULL"),
    )
    op.create_index("ix_client_policy_version", "client", ["policy_version"])
    op.create_index(
        "ix_client_status_value",
        "client",
        ["status", sa.text("value DESC"), sa.text("client_id DESC")],
    )
    op.create_index(
        "ix_client_status_last_order",
        "client",
        [
            "status",
            sa.text("coalesce(last_order_at, '-infinity'::timestamptz) DESC"),
            sa.text("client_id DESC"),
        ],
    )
    op.create_index(
        "ix_client_status_overdue",
        "client",
        [
            "status",
            sa.text("coalesce(expected_next_order_at, 'infinity'::timestamptz)"),
            "client_id",
        ],
    )
    op.create_index("ix_client_value", "client", [sa.text("value DESC"), sa.text("client_id DESC")])
    op.create_index(
        "ix_client_tier_value", "client", ["tier", sa.text("value DESC"), sa.text("client_id DESC")]
    )
    op.create_index(
        "ix_client_manager_value",
        "client",
        ["manager_id", sa.text("value DESC"), sa.text("client_id DESC")],
    )
    op.create_index(
        "ix_client_decision_value",
        "client",
        ["decision", sa.text("value DESC"), sa.text("client_id DESC")],
    )
    op.create_index("ix_client_signals", "client", ["signals"], postgresql_using="gin")

    op.create_table(
        "event",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("body", pg.JSONB(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event"),
    )
    op.create_index("ix_event_client_occurred", "event", ["client_id", "occurred_at", "id"])

    op.create_table(
        "status_change",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("signals", pg.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("recorded_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "id", name="pk_status_change"),
    )
    op.create_index("ix_status_change_client_at", "status_change", ["client_id", "at"])
    op.create_index("ix_status_change_at", "status_change", ["at"])

    op.create_table(
        "erasure",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("client_id_sha256", sa.String(64), nullable=False),
        sa.Column("events_deleted", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(64)),
        sa.Column("erased_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_erasure"),
    )

    op.create_table(
        "api_key",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", pg.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_api_key"),
        sa.UniqueConstraint("key_sha256", name="uq_api_key_key_sha256"),
    )

    op.create_table(
        "policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("body", pg.JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_policy"),
    )
    op.create_table(
        "population_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tier_a_min_value", sa.Numeric(20, 2)),
        sa.Column("tier_b_min_value", sa.Numeric(20, 2)),
        sa.Column("clients_with_orders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("market_cycles", pg.JSONB(), server_default="{}", nullable=False),
        sa.Column("refreshed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_population_stats"),
    )


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    for table in ("population_stats", "policy", "api_key", "erasure", "status_change", "event"):
        op.drop_table(table)
    op.drop_table("client")  # its indexes go with it
