"""A campaign and its members: a segment snapshotted with each member's plan at that moment.

A member row keeps what the plan said when the campaign started (decision, first step, offer,
owner role, p_return) and the client's tier, market, status, value and lapse then; contact fields
(name, email, phone, manager) are read from the client row when the list is exported, so a CRM
gets the current ones. `returned` and `recovered_revenue` stay NULL until the campaign is closed
after its attribution window: then they are the member's outcome, and the treatment members' rows
are the evidence the recovery plan's `p_return` learns from (docs/campaigns.md).
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

TS = DateTime(timezone=True)


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    segment: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the filter as it was given
    holdout_pct: Mapped[float] = mapped_column(Float)
    attribution_days: Mapped[int] = mapped_column(Integer)
    include_in_other_campaigns: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))  # running | closed
    started_at: Mapped[datetime] = mapped_column(TS)
    closed_at: Mapped[datetime | None] = mapped_column(TS)
    # true once the members' outcomes were recorded at close (the window had ended)
    outcomes_recorded: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_by: Mapped[str | None] = mapped_column(String(64))
    policy_version: Mapped[int] = mapped_column(Integer)
    # the snapshot's totals, so the list needs no scan of the members
    treatment_count: Mapped[int] = mapped_column(Integer)
    holdout_count: Mapped[int] = mapped_column(Integer)
    treatment_value: Mapped[Decimal] = mapped_column(Numeric(30, 2))
    holdout_value: Mapped[Decimal] = mapped_column(Numeric(30, 2))
    expected_value: Mapped[Decimal] = mapped_column(Numeric(30, 2))  # the treatment's plans

    __table_args__ = (
        CheckConstraint("status IN ('running', 'closed')", name="status"),
        CheckConstraint("holdout_pct >= 0 AND holdout_pct <= 50", name="holdout_pct"),
        CheckConstraint("attribution_days >= 1", name="attribution_days"),
        # the list, newest first (keyset)
        Index("ix_campaign_started", literal_column("started_at DESC"), literal_column("id DESC")),
    )


class CampaignMember(Base):
    __tablename__ = "campaign_member"

    campaign_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    # erasing a client (DELETE FROM client) removes it from every campaign as well
    client_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("client.client_id", ondelete="CASCADE"), primary_key=True
    )
    holdout: Mapped[bool] = mapped_column(Boolean)
    # the client at the snapshot
    status: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str | None] = mapped_column(String(1))
    market: Mapped[str] = mapped_column(String(8))
    value: Mapped[Decimal] = mapped_column(Numeric(30, 2))
    cycles_since_lost: Mapped[float | None] = mapped_column(Float)  # None: not lost
    # its plan at the snapshot
    decision: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(8))
    owner_role: Mapped[str] = mapped_column(String(16))
    first_step_day: Mapped[int | None] = mapped_column(Integer)
    first_step_channel: Mapped[str | None] = mapped_column(String(16))
    first_step_action: Mapped[str | None] = mapped_column(String(64))
    offer: Mapped[str | None] = mapped_column(Text)  # a one-line summary
    p_return: Mapped[float] = mapped_column(Float)
    expected_value: Mapped[Decimal] = mapped_column(Numeric(30, 2))
    # the outcome, recorded when the campaign is closed after its attribution window
    returned: Mapped[bool | None] = mapped_column(Boolean)
    recovered_revenue: Mapped[Decimal | None] = mapped_column(Numeric(30, 2))

    __table_args__ = (
        # members by group, keyset on client_id (the export)
        Index("ix_campaign_member_group", "campaign_id", "holdout", "client_id"),
        # "already in a running campaign", and the cascade of a client's erasure
        Index("ix_campaign_member_client_id", "client_id"),
        # p_return from evidence: finished treatment members like a client (tier, market)
        Index(
            "ix_campaign_member_evidence",
            "market",
            "tier",
            postgresql_include=["cycles_since_lost", "returned", "campaign_id"],
            postgresql_where=text("returned IS NOT NULL AND NOT holdout"),
        ),
    )
