"""client totals as numeric(30,2): no amount the API accepts can overflow them

Revision ID: 2026_11_29_0910
Revises: 2026_11_29_0900
Create Date: 2026-11-29 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_29_0910"
down_revision: str | None = "2026_11_29_0900"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("value", "lifetime_revenue")


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    # An order is at most 999,999,999,999.9999 (app.domain.MAX_AMOUNT); numeric(20,2) overflowed
    # after 10,000 such orders. numeric(30,2) holds 10^16 of them. This rewrites the table and its
    # indexes on `value`: on a large live table, plan a maintenance window.
    for column in COLUMNS:
        op.alter_column("client", column, type_=sa.Numeric(30, 2), existing_type=sa.Numeric(20, 2))


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    for column in COLUMNS:
        op.alter_column("client", column, type_=sa.Numeric(20, 2), existing_type=sa.Numeric(30, 2))
