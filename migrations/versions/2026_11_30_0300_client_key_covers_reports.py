"""`client`'s primary key carries what the reports read of every client, and the manager index
holds only clients with a manager: two index entries fewer on most writes of a client

- pk_client (client_id) INCLUDE (status, tier, market, manager_id, value, last_order_at,
  first_order_at) replaces pk_client and ix_client_reports: both were keyed on client_id, and
  every write of a client that is not HOT (all of them that change its state) added an entry
  to each. The churn report's merge join now reads the key, index-only, in client_id order.
- ix_client_manager_value is partial (manager_id IS NOT NULL): a list filters by one manager
  (`manager_id = $1` implies it), and a client without a manager (most of a B2C shop) adds no
  entry.

The primary key is rebuilt: the foreign key of campaign_member is dropped and added again
around it. On a large live table, build pk_client_next and ix_client_manager_value_next by hand
first with CREATE UNIQUE INDEX CONCURRENTLY / CREATE INDEX CONCURRENTLY (same definitions); IF
NOT EXISTS then makes those statements no-ops, and what is left takes its lock for the time of
re-checking campaign_member's foreign key.

Revision ID: 2026_11_30_0300
Revises: 2026_11_30_0100
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_11_30_0300"
down_revision: str | None = "2026_11_30_0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORTED = "status, tier, market, manager_id, value, last_order_at, first_order_at"
MEMBER_FK = "fk_campaign_member_client_id_client"
MANAGER_KEY = "manager_id, value DESC, client_id DESC, status"


def _key(include: str | None) -> None:
    """Rebuild pk_client with these included columns (None: none)."""
    covered = f" INCLUDE ({include})" if include else ""
    op.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS pk_client_next ON client (client_id){covered}")
    op.execute(f"ALTER TABLE campaign_member DROP CONSTRAINT {MEMBER_FK}")
    op.execute("ALTER TABLE client DROP CONSTRAINT pk_client")
    op.execute("ALTER TABLE client ADD CONSTRAINT pk_client PRIMARY KEY USING INDEX pk_client_next")
    op.execute(
        f"ALTER TABLE campaign_member ADD CONSTRAINT {MEMBER_FK} FOREIGN KEY (client_id) "
        "REFERENCES client (client_id) ON DELETE CASCADE"
    )


def _manager_index(where: str) -> None:
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_client_manager_value_next ON client ({MANAGER_KEY}){where}"
    )
    op.execute("DROP INDEX IF EXISTS ix_client_manager_value")
    op.execute("ALTER INDEX ix_client_manager_value_next RENAME TO ix_client_manager_value")


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    _key(REPORTED)
    op.execute("DROP INDEX IF EXISTS ix_client_reports")
    _manager_index(" WHERE manager_id IS NOT NULL")


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    _manager_index("")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_client_reports ON client (client_id) INCLUDE ({REPORTED})"
    )
    _key(None)
