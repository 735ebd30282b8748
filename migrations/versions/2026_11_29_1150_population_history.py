"""population figures history: the figures in force at a past moment, for `as_of` reads

Revision ID: 2026_11_29_1150
Revises: 2026_11_29_1100
Create Date: 2026-11-29 11:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_11_29_1150"
down_revision: str | None = "2026_11_29_1100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
FIGURES = ("tier_thresholds", "market_cycles", "rfm_cuts", "repeat_gaps")


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    op.create_table(
        "population_history",
        # one row per hour of refreshes: the last refresh of that hour's figures
        sa.Column("hour", TS, nullable=False),
        sa.Column("refreshed_at", TS, nullable=False),
        *(
            sa.Column(name, postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False)
            for name in FIGURES
        ),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_population_history")),
    )
    op.create_index("ix_population_history_refreshed_at", "population_history", ["refreshed_at"])
    # the figures in force now were in force since their refresh
    columns = ", ".join(FIGURES)
    op.execute(
        f"INSERT INTO population_history (hour, refreshed_at, {columns}) "
        f"SELECT date_trunc('hour', refreshed_at, 'UTC'), refreshed_at, {columns} "
        "FROM population_stats"
    )


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.drop_index("ix_population_history_refreshed_at", table_name="population_history")
    op.drop_table("population_history")
