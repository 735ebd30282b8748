"""The population figures row, refreshed set-based by the worker."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class PopulationStats(Base):
    """Tier cut points (value thresholds per ranking) and market cycles."""

    __tablename__ = "population_stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    # per ranking (a market, or "all"): {"b2b": {"a_min": "20000.00", "b_min": "500.00"}, ...}
    tier_thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    clients_with_orders: Mapped[int] = mapped_column(Integer, server_default="0")
    # {"b2b": {"median_cycle_days": 31.0, "clients": 412}, ...}
    market_cycles: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
