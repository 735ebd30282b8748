"""The reports' indexes on other packages' tables: the status history and the client rows
(app.clients), the events (app.events). They are created by the campaigns migration
(2026_11_29_1000; ix_client_reports widened by 2026_11_29_1160) and declared here so that the
models match the migrations."""

from sqlalchemy import Index, text

from app.clients.models import Client, StatusChange
from app.events.models import Event

# The changes that move the base of the churn report (into or out of active/at_risk/recovered)
# and every loss and return, by client and time, with what the reports read from them: the
# churn report merge-joins it with ix_client_reports, both in client_id order, index-only.
# reports.repository.MOVES is the same predicate.
BASE = "('active', 'at_risk', 'recovered')"  # the statuses of a client one can still lose
MOVES_PREDICATE = (
    f"to_status IN ('lost', 'recovered') "
    f"OR (to_status IN {BASE}) <> coalesce(from_status IN {BASE}, false)"
)
STATUS_CHANGE_MOVES = Index(
    "ix_status_change_moves",
    StatusChange.client_id,
    StatusChange.at,
    postgresql_include=["from_status", "to_status", "signals"],
    postgresql_where=text(MOVES_PREDICATE),
)

# What the reports read of every client (its group, value, status, last order), narrow enough to
# be read whole in a few milliseconds where the client rows (with their facts) take a hundred.
CLIENT_REPORTS = Index(
    "ix_client_reports",
    Client.client_id,
    postgresql_include=[
        "status",
        "tier",
        "market",
        "manager_id",
        "value",
        "last_order_at",
        "first_order_at",
    ],
)

# The events that carry a reason code (a small share of all events): the reasons report reads a
# lost client's recorded reasons through it. The same predicate text as reports.repository.
REASON_EVENT_TYPES = ("contact.logged", "request.lost", "client.churned", "feedback.received")
REASON_EVENTS_PREDICATE = (
    "type IN (" + ", ".join(f"'{kind}'" for kind in REASON_EVENT_TYPES) + ") "
    "AND (body -> 'data') ? 'reason_code'"
)
EVENT_REASONS = Index(
    "ix_event_reasons",
    Event.client_id,
    Event.occurred_at,
    Event.id,
    postgresql_where=text(REASON_EVENTS_PREDICATE),
)
