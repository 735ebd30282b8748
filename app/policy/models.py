"""The deployment's single policy row, and the population figures the worker refreshes."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class PolicyRow(Base):
    __tablename__ = "policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(64))


class PopulationStats(Base):
    """Tier cut points (value thresholds) and market cycles, refreshed set-based by the worker."""

    __tablename__ = "population_stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    # per ranking (a market, or "all"): {"b2b": {"a_min": "20000.00", "b_min": "500.00"}, ...}
    tier_thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    clients_with_orders: Mapped[int] = mapped_column(Integer, server_default="0")
    # {"b2b": {"median_cycle_days": 31.0, "clients": 412}, ...}
    market_cycles: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
