"""list filters at 1,000,000 clients: a partial index per signal in value order, and the market
checked inside the status-and-overdue index

`signal=` lists walked the value index and fetched every client to test its signals (1,818 rows
fetched for a page of 100 unresponsive clients, 76 per match for a signal 1.3 % carry); each
signal now has its own small index in value order. `status=...&market=...&sort=overdue_desc`
fetched 5,591 rows of the other market for a page: the market is a trailing key of
ix_client_status_overdue, so the index scan tests it without fetching the row; likewise the
status in ix_client_manager_value (one manager's at-risk clients: 293 rows fetched in vain).

Revision ID: 2026_11_29_1500
Revises: 2026_11_29_1400
Create Date: 2026-11-29 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_11_29_1500"
down_revision: str | None = "2026_11_29_1400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNALS = ("lapsed", "requests_not_converting", "unresponsive", "volume_drop", "dissatisfied")
OVERDUE = "coalesce(expected_next_order_at, 'infinity'::timestamptz)"


def _replace(name: str, columns: str) -> None:
    # Built under another name, then swapped: the lists keep an index while it builds. On a
    # large live table, build these by hand first with CREATE INDEX CONCURRENTLY (same names and
    # definitions); IF NOT EXISTS then makes the statements no-ops.
    op.execute(f"CREATE INDEX IF NOT EXISTS {name}_next ON client ({columns})")
    op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(f"ALTER INDEX {name}_next RENAME TO {name}")


def _trailing(market: str, status: str) -> None:
    _replace("ix_client_status_overdue", f"status, {OVERDUE}, client_id{market}")
    _replace("ix_client_manager_value", f"manager_id, value DESC, client_id DESC{status}")


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    for signal in SIGNALS:
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_client_signal_{signal} ON client "
            f"(value DESC, client_id DESC) WHERE signals @> ARRAY['{signal}']::text[]"
        )
    _trailing(", market", ", status")


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    _trailing("", "")
    for signal in SIGNALS:
        op.execute(f"DROP INDEX IF EXISTS ix_client_signal_{signal}")
