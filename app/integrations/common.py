"""What the platform mappings share: the translation they return and small pure helpers.

No I/O. A mapping returns envelope dicts (validated later, exactly like a posted event) and the
items it skipped with a reason, so the endpoint can count and log them.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

SkipReason = Literal["ignored", "unattributed", "rejected"]


@dataclass(frozen=True)
class Known:
    """A stored `order.placed` a webhook refers to without naming its client (a Shopify
    refund, a WooCommerce deletion): who the client is, when it was placed, in what currency."""

    client_id: str
    occurred_at: datetime
    currency: str | None


@dataclass(frozen=True)
class Skipped:
    reason: SkipReason
    detail: str


@dataclass
class Translation:
    """One delivery's events (envelope dicts, in the order they were derived) and skips."""

    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, reason: SkipReason, detail: str) -> "Translation":
        self.skipped.append(Skipped(reason, detail))
        return self


def parse_json(body: bytes) -> Any:
    """JSON with exact numbers: integers stay Python ints (ids above 2**53 keep every digit),
    decimals become Decimal, never float. Raises ValueError on malformed input."""
    return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def exact_id(value: Any) -> str | None:
    """A platform id as text, digit for digit: an int, or a string of digits. Anything else
    (a float that lost digits, a bool, a blank) is not an id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


def email_key(value: Any) -> str | None:
    """An email as part of a client id: trimmed and lowercase (`Ann@Example.com ` and
    `ann@example.com` are one client); None when there is none."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email if "@" in email else None


def text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def full_name(first: Any, last: Any) -> str | None:
    return text(" ".join(part for part in (text(first), text(last)) if part))


def attributes(**values: Any) -> dict[str, Any]:
    """Client attributes that have a value: an absent field never clears a stored one (webhook
    payloads may leave out protected customer fields)."""
    return {key: value for key, value in values.items() if value is not None}


def money(value: Any) -> str | None:
    """Money as the platform wrote it (a decimal string stays the same string, so the event
    body is the same for every delivery); None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return str(value).strip() if amount.is_finite() else None


def utc_text(value: Any, assume_utc: bool = False) -> str | None:
    """An ISO 8601 moment as UTC text (`2026-03-01T15:00:00Z`). A moment without a zone is
    None unless `assume_utc` (WooCommerce's `*_gmt` fields are UTC without saying so)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        if not assume_utc:
            return None
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{moment.microsecond:06d}Z" if moment.microsecond else "Z"
    )


def stamp(value: str) -> str:
    """A UTC moment (from `utc_text`) as a compact part of an event id: 20260301T150000Z."""
    return value.replace("-", "").replace(":", "")
