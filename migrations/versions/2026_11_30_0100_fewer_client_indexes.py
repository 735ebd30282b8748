"""fewer indexes on `client`: every write of a client that is not a HOT update adds an entry to
each of them, and a client's evaluated state (status, value, dates) moves on most writes

Measured on a copy of the bench's 100,000 clients (10,000 rows updated, as the sweep updates
them): with only the primary key 0.22-0.30 s, with the 23 indexes 1.42-1.54 s, without the five
below that order all clients, the GIN index and the two version indexes 0.86-1.14 s.

- The lists over all clients (or several statuses) in value, last-order, overdue, risk and CLV
  order merge one range scan per status of the status indexes instead
  (app.clients.repository.list_page); ix_client_status_clv is new for the CLV order.
- ix_client_signals (GIN): the signal lists and campaign segments test each signal as its
  partial index ix_client_signal_* spells it.
- ix_client_facts_version holds only the clients whose facts are behind this code's fold
  (FACTS_VERSION 2), in client_id order, as the worker's upgrade and the bulk path's re-fold
  walk them; a current client's write adds no entry.

On a large live table, build ix_client_status_clv and ix_client_facts_version_next by hand first
with CREATE INDEX CONCURRENTLY (same definitions); IF NOT EXISTS then makes the statements no-ops.

Revision ID: 2026_11_30_0100
Revises: 2026_11_29_1500
Create Date: 2026-11-30 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_11_30_0100"
down_revision: str | None = "2026_11_29_1500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAST_ORDER = "coalesce(last_order_at, '-infinity'::timestamptz)"
NEXT_ORDER = "coalesce(expected_next_order_at, 'infinity'::timestamptz)"
RISK = "coalesce(churn_risk, -1)"
CLV = "coalesce(predicted_clv, -1)"
ALL_CLIENTS = {
    "ix_client_value": "value DESC, client_id DESC",
    "ix_client_last_order": f"{LAST_ORDER} DESC, client_id DESC",
    "ix_client_overdue": f"{NEXT_ORDER}, client_id",
    "ix_client_risk": f"{RISK} DESC, client_id DESC",
    "ix_client_clv": f"{CLV} DESC, client_id DESC",
}
FACTS_VERSION = 2  # app.churn.facts.FACTS_VERSION when this migration was written


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_client_status_clv ON client "
        f"(status, {CLV} DESC, client_id DESC)"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_client_facts_version_next ON client (client_id) "
        f"WHERE facts_version < {FACTS_VERSION}"
    )
    op.execute("DROP INDEX IF EXISTS ix_client_facts_version")
    op.execute("ALTER INDEX ix_client_facts_version_next RENAME TO ix_client_facts_version")
    op.execute("DROP INDEX IF EXISTS ix_client_signals")
    for name in ALL_CLIENTS:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    for name, columns in ALL_CLIENTS.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON client ({columns})")
    op.execute("CREATE INDEX IF NOT EXISTS ix_client_signals ON client USING gin (signals)")
    op.execute("DROP INDEX IF EXISTS ix_client_facts_version")
    op.execute("CREATE INDEX ix_client_facts_version ON client (facts_version)")
    op.execute("DROP INDEX IF EXISTS ix_client_status_clv")
