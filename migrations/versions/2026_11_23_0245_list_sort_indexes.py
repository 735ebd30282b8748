"""indexes for the unfiltered list sorts (last_order_desc, overdue_desc)

Revision ID: 2026_11_23_0245
Revises: 2026_11_23_0130
Create Date: 2026-11-23 02:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_11_23_0245"
down_revision: str | None = "2026_11_23_0130"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_client_last_order": (
        "(coalesce(last_order_at, '-infinity'::timestamptz) DESC, client_id DESC)"
    ),
    "ix_client_overdue": "(coalesce(expected_next_order_at, 'infinity'::timestamptz), client_id)",
}


def upgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    # On a large live table, create these by hand first with CREATE INDEX CONCURRENTLY (same
    # names and columns); IF NOT EXISTS then makes this migration a no-op.
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON client {columns}")


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
