"""The client row: attributes, the folded facts, and the evaluated state used by lists."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.churn.facts import FACTS_VERSION
from app.db import Base
from app.domain import SIGNAL_CODES, Decision, Market, Status, Tier

TS = DateTime(timezone=True)

# What the reports read of every client (its group, value, status, last order): the primary
# key includes them, so the reports read them index-only, narrow enough to be read whole in a few
# milliseconds where the client rows (with their facts) take a hundred.
REPORTED = (
    "status",
    "tier",
    "market",
    "manager_id",
    "value",
    "last_order_at",
    "first_order_at",
)

# The list sorts' expressions, spelled once: the indexes below are built on them and the list
# queries (app.clients.repository) order by them, which is what lets an index give the order.
# Clients without a key sort last: no order, no expected order, no score (-1).
LAST_ORDER = "coalesce(last_order_at, '-infinity'::timestamptz)"
NEXT_ORDER = "coalesce(expected_next_order_at, 'infinity'::timestamptz)"
RISK = "coalesce(churn_risk, -1)"
CLV = "coalesce(predicted_clv, -1)"
# Clients whose stored facts are older than this code's fold, spelled with the version as a
# literal, as the partial index ix_client_facts_version and the queries for them both spell it
# (a parameter would hide from PostgreSQL that the index covers the query). A new FACTS_VERSION
# needs a migration that rebuilds that index (tests/clients/test_indexes.py checks they agree).
OLD_FACTS = f"facts_version < {FACTS_VERSION}"


def has_signal(signal: str) -> str:
    """The condition of the signal's partial index, and of a list filtered by it: spelled the
    same, with the signal as a literal, so that PostgreSQL can prove the index covers the query
    (a parameter would hide it). Only a known signal code is ever spelled into SQL."""
    if signal not in SIGNAL_CODES:
        raise ValueError(f"unknown signal {signal!r}")
    return f"signals @> ARRAY['{signal}']::text[]"


class Client(Base):
    __tablename__ = "client"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # attributes (SPEC §1); attribute_times keeps, per field, the business time of the last write
    name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    market: Mapped[Market] = mapped_column(String(8))
    manager_id: Mapped[str | None] = mapped_column(String(128))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    advocate: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    problem_client: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    do_not_contact: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    attribute_times: Mapped[dict[str, str]] = mapped_column(JSONB, server_default="{}")

    # the fold of the client's events (app.churn.facts), so evaluation needs no event scan
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # the fold version of `facts` (app.churn.facts.FACTS_VERSION when current); the worker's
    # upgrade_facts re-folds older rows from their events. Never above the facts' own version.
    facts_version: Mapped[int] = mapped_column(Integer, server_default="1")

    # evaluated state, refreshed on every write and by the sweeper; lists read these columns
    status: Mapped[Status] = mapped_column(String(16))
    status_since: Mapped[datetime | None] = mapped_column(TS)
    signals: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    tier: Mapped[Tier | None] = mapped_column(String(1))
    decision: Mapped[Decision | None] = mapped_column(String(32))
    value: Mapped[Decimal] = mapped_column(Numeric(30, 2), server_default="0")
    lifetime_revenue: Mapped[Decimal] = mapped_column(Numeric(30, 2), server_default="0")
    orders_count: Mapped[int] = mapped_column(Integer, server_default="0")
    first_order_at: Mapped[datetime | None] = mapped_column(TS)
    last_order_at: Mapped[datetime | None] = mapped_column(TS)
    cycle_days: Mapped[float] = mapped_column(Float)
    cycle_source: Mapped[str] = mapped_column(String(8))
    expected_next_order_at: Mapped[datetime | None] = mapped_column(TS)
    lost_count: Mapped[int] = mapped_column(Integer, server_default="0")
    last_lost_at: Mapped[datetime | None] = mapped_column(TS)
    recovered_at: Mapped[datetime | None] = mapped_column(TS)
    in_watch: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    next_review_at: Mapped[datetime | None] = mapped_column(TS)
    policy_version: Mapped[int] = mapped_column(Integer, server_default="0")
    evaluated_at: Mapped[datetime] = mapped_column(TS)
    # the population model's scores, computed with the fit `model_fit_id` (app.churn.scores)
    purchase_days: Mapped[int] = mapped_column(Integer, server_default="0")
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_orders_90d: Mapped[float | None] = mapped_column(Float)
    predicted_clv: Mapped[Decimal | None] = mapped_column(Numeric(30, 2))
    predicted_next_order_at: Mapped[datetime | None] = mapped_column(TS)
    rfm: Mapped[str | None] = mapped_column(String(3))
    xyz: Mapped[str | None] = mapped_column(String(1))
    churn_risk: Mapped[float | None] = mapped_column(Float)
    model_fit_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())

    __table_args__ = (
        # The key also carries what the reports read of every client (their merge join reads it
        # index-only, in client_id order): one index where two took an entry on every write.
        PrimaryKeyConstraint("client_id", name="pk_client", postgresql_include=list(REPORTED)),
        # the sweeper: clients due, cheapest first
        Index(
            "ix_client_next_review_at",
            "next_review_at",
            postgresql_where=text("next_review_at IS NOT NULL"),
        ),
        Index("ix_client_policy_version", "policy_version"),
        # the worker's upgrade_facts and the bulk path's re-fold, in client_id order: only the
        # clients whose facts are behind have an entry (a write of a current one adds none)
        Index(
            "ix_client_facts_version",
            "client_id",
            postgresql_where=text(OLD_FACTS),
        ),
        # lists: (filter, sort key, client_id) so keyset pages are index range scans
        Index(
            "ix_client_status_value",
            "status",
            literal_column("value DESC"),
            literal_column("client_id DESC"),
        ),
        Index(
            "ix_client_status_last_order",
            "status",
            literal_column(f"{LAST_ORDER} DESC"),
            literal_column("client_id DESC"),
        ),
        Index(
            "ix_client_status_overdue",
            "status",
            literal_column(NEXT_ORDER),
            "client_id",
            "market",  # tested inside the index: a market filter fetches no other market's rows
        ),
        # signal= lists in value order: a small index per signal (the GIN index gives no order)
        *(
            Index(
                f"ix_client_signal_{signal}",
                literal_column("value DESC"),
                literal_column("client_id DESC"),
                postgresql_where=text(has_signal(signal)),
            )
            for signal in SIGNAL_CODES
        ),
        Index("ix_client_value", literal_column("value DESC"), literal_column("client_id DESC")),
        Index(
            "ix_client_last_order",
            literal_column(f"{LAST_ORDER} DESC"),
            literal_column("client_id DESC"),
        ),
        Index(
            "ix_client_overdue",
            literal_column(NEXT_ORDER),
            "client_id",
        ),
        Index(
            "ix_client_tier_value",
            "tier",
            literal_column("value DESC"),
            literal_column("client_id DESC"),
        ),
        Index(
            "ix_client_manager_value",
            "manager_id",
            literal_column("value DESC"),
            literal_column("client_id DESC"),
            "status",  # tested inside the index, as market is in ix_client_status_overdue
            # a list asks for one manager; a client without one (most of a B2C shop) costs
            # no entry
            postgresql_where=text("manager_id IS NOT NULL"),
        ),
        Index(
            "ix_client_decision_value",
            "decision",
            literal_column("value DESC"),
            literal_column("client_id DESC"),
        ),
        # lists by churn risk (all, or one status) and by predicted CLV
        Index(
            "ix_client_risk",
            literal_column(f"{RISK} DESC"),
            literal_column("client_id DESC"),
        ),
        Index(
            "ix_client_status_risk",
            "status",
            literal_column(f"{RISK} DESC"),
            literal_column("client_id DESC"),
        ),
        Index(
            "ix_client_clv",
            literal_column(f"{CLV} DESC"),
            literal_column("client_id DESC"),
        ),
    )


class StatusChange(Base):
    """Each change of status (SPEC §4): for timelines, reports and outgoing webhooks."""

    __tablename__ = "status_change"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    from_status: Mapped[Status | None] = mapped_column(String(16))
    to_status: Mapped[Status] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(TS)
    signals: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    recorded_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())

    __table_args__ = (
        Index("ix_status_change_client_at", "client_id", "at"),
        Index("ix_status_change_at", "at"),  # reports by period
    )


class Erasure(Base):
    """What is left of an erased client: proof that it was erased, no personal data."""

    __tablename__ = "erasure"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    client_id_sha256: Mapped[str] = mapped_column(String(64))
    events_deleted: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    erased_at: Mapped[datetime] = mapped_column(TS)
