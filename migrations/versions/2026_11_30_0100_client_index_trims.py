"""two indexes of `client` that every write paid for and little read: the GIN index on
`signals`, and an entry per client in ix_client_facts_version

- ix_client_signals (GIN): a `signal=` list in value order reads that signal's partial index
  (ix_client_signal_*), in another order the sort's index; campaign segments test "any of
  these signals" as the partial indexes' predicates. A GIN entry was written on every write of
  a client (its pending list flushed inside some writer's request).
- ix_client_facts_version holds only the clients whose facts are behind this code's fold
  (FACTS_VERSION 2), in client_id order, as the worker's upgrade and the bulk path's re-fold
  walk them; a current client's write adds no entry.

On a large live table, build ix_client_facts_version_next by hand first with CREATE INDEX
CONCURRENTLY (same definition); IF NOT EXISTS then makes the statement a no-op.

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

FACTS_VERSION = 2  # app.churn.facts.FACTS_VERSION when this migration was written


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_client_facts_version_next ON client (client_id) "
        f"WHERE facts_version < {FACTS_VERSION}"
    )
    op.execute("DROP INDEX IF EXISTS ix_client_facts_version")
    op.execute("ALTER INDEX ix_client_facts_version_next RENAME TO ix_client_facts_version")
    op.execute("DROP INDEX IF EXISTS ix_client_signals")


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.execute("CREATE INDEX IF NOT EXISTS ix_client_signals ON client USING gin (signals)")
    op.execute("DROP INDEX IF EXISTS ix_client_facts_version")
    op.execute("CREATE INDEX ix_client_facts_version ON client (facts_version)")
