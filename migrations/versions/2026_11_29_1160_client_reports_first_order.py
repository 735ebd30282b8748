"""ix_client_reports also carries first_order_at: the churn report counts a late history's
clients from their first order, read index-only like the rest

Revision ID: 2026_11_29_1160
Revises: 2026_11_29_1150
Create Date: 2026-11-29 11:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_11_29_1160"
down_revision: str | None = "2026_11_29_1150"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "status, tier, market, manager_id, value, last_order_at"


def _replace(include: str) -> None:
    # Built under another name, then swapped: the reports keep an index while it builds. On a
    # large live table, build ix_client_reports_next by hand first with CREATE INDEX
    # CONCURRENTLY (same definition); IF NOT EXISTS then makes that statement a no-op.
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_client_reports_next ON client (client_id) "
        f"INCLUDE ({include})"
    )
    op.execute("DROP INDEX IF EXISTS ix_client_reports")
    op.execute("ALTER INDEX ix_client_reports_next RENAME TO ix_client_reports")


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    _replace(f"{COLUMNS}, first_order_at")


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    _replace(COLUMNS)
