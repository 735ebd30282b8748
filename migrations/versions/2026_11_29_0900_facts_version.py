"""client.facts_version: the fold version of the stored facts, for the worker's upgrade_facts

Revision ID: 2026_11_29_0900
Revises: 2026_11_29_0810
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_29_0900"
down_revision: str | None = "2026_11_29_0810"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Never wait long for a lock on a live table: fail fast and retry the deploy instead.
    op.execute("SET lock_timeout = '5s'")
    # Every row stored so far holds the positional facts of version 1. A constant default is
    # catalog-only (no table rewrite). 1 stays the default: a row is never marked newer than its
    # facts, at worst older, which costs the worker's upgrade_facts one needless re-fold.
    op.add_column(
        "client",
        sa.Column("facts_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    # upgrade_facts and the count of clients left look up `facts_version < current`.
    # On a large live table, create it by hand first with CREATE INDEX CONCURRENTLY (same name
    # and column); IF NOT EXISTS then makes this a no-op.
    op.execute("CREATE INDEX IF NOT EXISTS ix_client_facts_version ON client (facts_version)")


# The named facts (version 2 and later, see app/churn/facts.py) back in the positional form of
# version 1, so the code from before this revision can read every row again. The facts of later
# versions that version 1 does not know are dropped; run this before rolling the code back.
TO_POSITIONAL = """
UPDATE client SET facts = jsonb_build_object(
    'o', coalesce((
        SELECT jsonb_agg(jsonb_build_array(
                   e->'order_id', e->'placed_at', coalesce(e->'amount', '"0"'), e->'margin',
                   coalesce(e->'refunded', '"0"'), coalesce(e->'cancelled', 'false'))
               ORDER BY n)
        FROM jsonb_array_elements(facts->'orders') WITH ORDINALITY AS item(e, n)), '[]'),
    'r', coalesce((
        SELECT jsonb_agg(jsonb_build_array(
                   e->'request_id', e->'created_at', e->'channel', e->'outcome', e->'closed_at',
                   e->'order_id', e->'reason_code')
               ORDER BY n)
        FROM jsonb_array_elements(facts->'requests') WITH ORDINALITY AS item(e, n)), '[]'),
    'f', coalesce((
        SELECT jsonb_agg(jsonb_build_array(
                   e->'feedback_id', e->'received_at', e->'kind', e->'score', e->'order_id',
                   e->'amount_at_issue', e->'reason_code', e->'resolved_at')
               ORDER BY n)
        FROM jsonb_array_elements(facts->'feedback') WITH ORDINALITY AS item(e, n)), '[]'),
    'ch', coalesce(facts->'churn_notices', '[]'),
    'rs', coalesce((
        SELECT jsonb_agg(jsonb_build_array(e->'at', e->'code', e->'source', e->'ref') ORDER BY n)
        FROM jsonb_array_elements(facts->'reasons') WITH ORDINALITY AS item(e, n)), '[]'),
    'ua', coalesce(facts->'unanswered_contact_times', '[]'),
    'lc', facts->'last_contact_at',
    'lr', facts->'last_response_at',
    'lm', facts->'last_contact_manager_id',
    'm', coalesce((
        SELECT jsonb_agg(jsonb_build_array(e->'at', e->'manager_id') ORDER BY n)
        FROM jsonb_array_elements(facts->'managers') WITH ORDINALITY AS item(e, n)), '[]'),
    'fe', facts->'first_event_at',
    'lk', CASE WHEN facts ? 'last_key'
               THEN jsonb_build_array(facts->'last_key'->'occurred_at', facts->'last_key'->'id')
          END,
    'n', coalesce(facts->'events_applied', '0')
)
WHERE facts ? 'version'
"""


def downgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.execute(TO_POSITIONAL)
    op.execute("DROP INDEX IF EXISTS ix_client_facts_version")
    op.drop_column("client", "facts_version")
