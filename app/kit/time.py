"""Time helpers. The clock is read only at the edges (endpoints, worker), never in the core."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def days_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds() / 86400.0


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
