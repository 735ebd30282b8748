"""tier cut points per ranking (each market, or all clients): population_stats.tier_thresholds

Revision ID: 2026_11_29_0800
Revises: 2026_11_23_0245
Create Date: 2026-11-29 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "2026_11_29_0800"
down_revision: str | None = "2026_11_23_0245"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    # {"b2b": {"a_min": "20000.00", "b_min": "500.00"}, "b2c": {...}} or {"all": {...}}.
    # The old global pair is not carried over: the worker recomputes every ranking on its first
    # round (it refreshes at once while no cut points of the policy's tier_scope are stored).
    op.add_column(
        "population_stats",
        sa.Column(
            "tier_thresholds", pg.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
    )
    op.drop_column("population_stats", "tier_a_min_value")
    op.drop_column("population_stats", "tier_b_min_value")


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.add_column("population_stats", sa.Column("tier_b_min_value", sa.Numeric(20, 2)))
    op.add_column("population_stats", sa.Column("tier_a_min_value", sa.Numeric(20, 2)))
    op.drop_column("population_stats", "tier_thresholds")
