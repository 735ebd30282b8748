"""What PostgreSQL can store: text without NUL characters or unpaired surrogates, JSON of bounded
depth, moments within timestamptz's and the business's range. Checked at the edge, so a value
the database would refuse is a 422 naming the field, never a 500."""

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_JSON_DEPTH = 8
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain an unpaired surrogate (\\ud800-\\udfff)") from None
    return value


def check_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def check_json(value: Any, depth: int = 0) -> Any:
    """Every key and string inside, to any depth, is storable text; nesting is bounded."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"must not nest deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN or Infinity (Python's parser takes them; PostgreSQL's jsonb refuses)
        raise ValueError("must hold only finite numbers (no NaN or Infinity)")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(str(key))
            check_json(item, depth + 1)
    elif isinstance(value, Sequence) and not isinstance(value, bytes):
        for item in value:
            check_json(item, depth + 1)
    return value


def iso_moment_input(value: Any) -> Any:
    """A moment must be sent as ISO 8601 text with a date (`2026-03-01T10:00:00Z`): a number
    or a bare `"0"` would otherwise be read as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError(
            "must be an ISO 8601 date-time with a time zone, e.g. 2026-03-01T10:00:00Z"
        )
    return value


def utc_moment(value: datetime) -> datetime:
    """The moment in UTC, from 1970 on (the year-1 and year-9999 edges overflow the conversion)."""
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if moment < EARLIEST:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    return moment


def not_a_boolean(value: Any) -> Any:
    """A number field must not take true/false: pydantic would read `false` as 0."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value
