"""The reports' indexes on other packages' tables: the status history (app.clients) and the
events (app.events), created by the campaigns migration (2026_11_29_1000) and the tallies'
(2026_11_29_1300), declared here so that the models match the migrations; and the reports' own
tables, the tallies the worker makes (2026_11_29_1300). What they read of every client is in its
primary key (app.clients.models.REPORTED)."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, DateTime, Identity, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.clients.models import StatusChange
from app.db import Base
from app.events.models import Event

# The changes that move the base of the churn report (into or out of active/at_risk/recovered)
# and every loss and return, by client and time, with what the reports read from them: the
# churn report merge-joins it with the client key (pk_client, which includes what the reports
# read: app.clients.models.REPORTED), both in client_id order, index-only.
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


class ChurnTally(Base):
    """The churn report's figures by UTC day and group, made from the whole status history by
    the worker (`refresh_tallies`): the report sums a few thousand of these rows and adds the
    status changes recorded since (`ReportTallyState.through_id`) from the history itself."""

    __tablename__ = "churn_tally"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(8))  # all, tier, manager, market
    grp: Mapped[str | None] = mapped_column(String(128))
    day: Mapped[date | None] = mapped_column(Date)  # None: the base when the tally was made
    delta: Mapped[int] = mapped_column(Integer)
    lost: Mapped[int] = mapped_column(Integer)
    lost_value: Mapped[Decimal] = mapped_column(Numeric)
    recovered: Mapped[int] = mapped_column(Integer)
    recovered_value: Mapped[Decimal] = mapped_column(Numeric)

    __table_args__ = (
        Index(
            "ix_churn_tally_dimension_day",
            "dimension",
            "day",
            postgresql_include=[
                "grp",
                "delta",
                "lost",
                "lost_value",
                "recovered",
                "recovered_value",
            ],
        ),
        {"prefixes": ["UNLOGGED"]},  # derived, re-made every minute: no WAL (the migration)
    )


class LossTally(Base):
    """Each loss (a change into `lost`) with its leading reason as the reasons report reads it,
    made with the churn tally: the report reads the losses of its window from here, and the
    clients whose reasons may have changed since (a loss, a return, a reason given) from the
    history itself."""

    __tablename__ = "loss_tally"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    lost_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_lost_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_code: Mapped[str | None] = mapped_column(String(64))
    signal: Mapped[str | None] = mapped_column(String(32))
    market: Mapped[str] = mapped_column(String(8))
    value: Mapped[Decimal] = mapped_column(Numeric)

    __table_args__ = (
        Index(
            "ix_loss_tally_lost_at",
            "lost_at",
            postgresql_include=[
                "next_lost_at",
                "recorded_code",
                "signal",
                "market",
                "value",
                "client_id",
            ],
        ),
        Index("ix_loss_tally_client_id", "client_id"),
        {"prefixes": ["UNLOGGED"]},  # derived, re-made every minute: no WAL (the migration)
    )


# The status changes recorded since a tally (id past its last): BRIN, the cheapest index to keep
# on the write path, for a range at the end of an append-mostly table.
STATUS_CHANGE_ID = Index("ix_status_change_id", StatusChange.id, postgresql_using="brin")

# The reason events received since a tally: the reasons report reads their clients anew.
EVENT_REASONS_RECEIVED = Index(
    "ix_event_reasons_received",
    Event.received_at,
    postgresql_where=text(REASON_EVENTS_PREDICATE),
)


class ReportTallyState(Base):
    """When the tally was made, and the last status_change id it holds (one row, id 1)."""

    __tablename__ = "report_tally_state"
    __table_args__ = {"prefixes": ["UNLOGGED"]}  # emptied by a crash with the tallies it describes

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    through_id: Mapped[int] = mapped_column(BigInteger)
