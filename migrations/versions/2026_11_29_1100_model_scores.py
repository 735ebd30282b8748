"""population model: model_fit, RFM cut points and repeat gaps, per-client scores and churn risk

Revision ID: 2026_11_29_1100
Revises: 2026_11_29_1000
Create Date: 2026-11-29 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_11_29_1100"
down_revision: str | None = "2026_11_29_1000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
SCORE_COLUMNS = (
    ("p_alive", sa.Float()),
    ("expected_orders_90d", sa.Float()),
    ("predicted_clv", sa.Numeric(30, 2)),
    ("predicted_next_order_at", TS),
    ("rfm", sa.String(3)),
    ("xyz", sa.String(1)),
    ("churn_risk", sa.Float()),
    ("model_fit_id", sa.BigInteger()),
)
# On a large live table, create these by hand first with CREATE INDEX CONCURRENTLY (same names
# and expressions); IF NOT EXISTS then makes these statements no-ops.
INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_client_risk "
    "ON client (coalesce(churn_risk, -1) DESC, client_id DESC)",
    "CREATE INDEX IF NOT EXISTS ix_client_status_risk "
    "ON client (status, coalesce(churn_risk, -1) DESC, client_id DESC)",
    "CREATE INDEX IF NOT EXISTS ix_client_clv "
    "ON client (coalesce(predicted_clv, -1) DESC, client_id DESC)",
)


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    op.create_table(
        "model_fit",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("fitted_at", TS, nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("variant", sa.String(16), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("log_likelihood", sa.Float(), nullable=True),
        sa.Column("converged", sa.Boolean(), nullable=False),
        sa.Column("iterations", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("fallback_reason", sa.Text(), nullable=True),
        sa.Column("spend_n", sa.Integer(), nullable=False),
        sa.Column("spend_log_likelihood", sa.Float(), nullable=True),
        sa.Column("spend_converged", sa.Boolean(), nullable=False),
        sa.Column("spend_fallback_reason", sa.Text(), nullable=True),
        sa.Column("warnings", postgresql.JSONB(), server_default=sa.text("'[]'"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_fit")),
    )
    op.create_index("ix_model_fit_fitted_at", "model_fit", ["fitted_at"])
    for name in ("rfm_cuts", "repeat_gaps"):
        op.add_column(
            "population_stats",
            sa.Column(name, postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False),
        )
    # Nullable columns and a constant default: catalog-only, no table rewrite. Existing clients
    # get their scores (and purchase_days) when the worker's first refit marks them for
    # re-scoring; until then they have none and sort last by risk and CLV.
    op.add_column(
        "client",
        sa.Column("purchase_days", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    for name, type_ in SCORE_COLUMNS:
        op.add_column("client", sa.Column(name, type_, nullable=True))
    for statement in INDEXES:
        op.execute(statement)


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    for name in ("ix_client_clv", "ix_client_status_risk", "ix_client_risk"):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for name, _ in reversed(SCORE_COLUMNS):
        op.drop_column("client", name)
    op.drop_column("client", "purchase_days")
    op.drop_column("population_stats", "repeat_gaps")
    op.drop_column("population_stats", "rfm_cuts")
    op.drop_index("ix_model_fit_fitted_at", table_name="model_fit")
    op.drop_table("model_fit")
