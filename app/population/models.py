"""The population figures row, refreshed set-based by the worker, and the model fits."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Identity, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

TS = DateTime(timezone=True)


class PopulationStats(Base):
    """Tier cut points (value thresholds per ranking), market cycles, RFM cut points and the
    repeat-gap quantiles of one- and two-time buyers' lines."""

    __tablename__ = "population_stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    # per ranking (a market, or "all"): {"b2b": {"a_min": "20000.00", "b_min": "500.00"}, ...}
    tier_thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    clients_with_orders: Mapped[int] = mapped_column(Integer, server_default="0")
    # {"b2b": {"median_cycle_days": 31.0, "clients": 412}, ...}
    market_cycles: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # {"recency_days": [4 cuts], "frequency": [...], "monetary": [...], "n": 1200} (RfmCuts)
    rfm_cuts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # {"b2c": {"after_first": {"n": 940, "values": [99 quantiles]}, "after_second": {...}}}
    repeat_gaps: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    refreshed_at: Mapped[datetime] = mapped_column(TS)


class PopulationHistory(Base):
    """The figures of the last refresh of each hour, kept: an `as_of` read evaluates a client
    with the figures in force then (the latest refreshed at or before it), never later ones."""

    __tablename__ = "population_history"

    hour: Mapped[datetime] = mapped_column(TS, primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column(TS)
    tier_thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    market_cycles: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    rfm_cuts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    repeat_gaps: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")

    __table_args__ = (Index("ix_population_history_refreshed_at", "refreshed_at"),)


class ModelFitRow(Base):
    """One fit of the purchase (MBG/NBD) and spend (Gamma-Gamma) models; the latest is current,
    the older ones say which parameters were in force when (`as_of` reads)."""

    __tablename__ = "model_fit"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    fitted_at: Mapped[datetime] = mapped_column(TS)
    as_of: Mapped[datetime] = mapped_column(TS)  # the history it was fitted on ends here
    variant: Mapped[str] = mapped_column(String(16))
    # {"purchase": {"variant", "unit_days", "r", "alpha", "a", "b"}, "spend": {"p", "q", "gamma"}}
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    n: Mapped[int] = mapped_column(Integer)
    log_likelihood: Mapped[float | None] = mapped_column(Float)
    converged: Mapped[bool] = mapped_column(Boolean)
    iterations: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    spend_n: Mapped[int] = mapped_column(Integer)
    spend_log_likelihood: Mapped[float | None] = mapped_column(Float)
    spend_converged: Mapped[bool] = mapped_column(Boolean)
    spend_fallback_reason: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")

    __table_args__ = (Index("ix_model_fit_fitted_at", "fitted_at"),)
