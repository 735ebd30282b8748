"""Events as received: policy checks, canonical bodies, and recording (idempotent by id).

The events package validates, dedupes and records; it knows nothing of client state. What the
recorded events do to their clients is `app.clients.service.apply_events`, and
`app.ingest.service.ingest` runs the two in one transaction for every source (API, PATCH, demo,
and later platform webhooks and import).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.events import repository
from app.events.schemas import EnvelopeBase, OrderPlaced, event_adapter
from app.kit.problems import ProblemError, invalid
from app.policy.schemas import Policy

OutcomeKind = Literal["accepted", "duplicate", "conflict"]


@dataclass
class Outcome:
    """What became of one event of a request, by its index in the request."""

    index: int
    id: str
    client_id: str
    kind: OutcomeKind


@dataclass(frozen=True)
class AcceptedEvent:
    """An event recorded now: its validated envelope and the canonical body that was stored."""

    envelope: EnvelopeBase
    body: dict[str, Any]


@dataclass
class Recorded:
    outcomes: list[Outcome]
    # the events recorded now, by client, in time order (occurred_at, id)
    accepted: dict[str, list[AcceptedEvent]] = field(default_factory=dict)


def check(envelope: EnvelopeBase, policy: Policy, now: datetime) -> ProblemError | None:
    """The rules that need the policy and the clock (SPEC §2)."""
    if envelope.occurred_at > now + policy.max_future_skew:
        return invalid(
            "occurred_at",
            f"is more than {policy.max_future_skew_seconds:g} s in the future",
            "future_timestamp",
        )
    data = getattr(envelope, "data", None)
    if isinstance(envelope, OrderPlaced):
        currency = envelope.data.currency
        if currency and currency != policy.currency and envelope.data.amount_in_base is None:
            return invalid(
                "data.currency",
                f"{currency} differs from the policy currency {policy.currency}; "
                "send amount_in_base as well",
                "currency_mismatch",
            )
    reason = getattr(data, "reason_code", None)
    if reason is not None and reason not in policy.reason_codes:
        return invalid("data.reason_code", f"unknown reason code {reason!r}", "unknown_reason")
    return None


def _canonical(value: Any) -> Any:
    """Values as the idempotency check compares them: a decimal by its value, not its text
    (`"10.0"` and `"10.00"` are the same amount)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def digest_of(envelope: EnvelopeBase) -> str:
    """The SHA-256 the idempotency check compares: same event id and same digest = a duplicate."""
    canonical = _canonical(envelope.model_dump(mode="python", exclude_unset=True))
    canonical["type"] = envelope.type  # type: ignore[attr-defined]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_body(envelope: EnvelopeBase) -> tuple[dict[str, Any], str]:
    """The body stored (as sent, validated, in UTC) and its digest."""
    body = envelope.model_dump(mode="json", exclude_unset=True)
    body["type"] = envelope.type  # type: ignore[attr-defined]
    return body, digest_of(envelope)


def _same_event(stored_body: dict[str, Any], digest: str) -> bool:
    """Rows stored before digests compared decimals by value hold another digest for the same
    event: compare by re-reading the stored body (only on a mismatch, which is rare)."""
    try:
        return digest_of(event_adapter.validate_python(stored_body)) == digest
    except ValueError:
        return False


@dataclass
class Prepared:
    """A request's events ready to store: the rows to insert (first of each id), and the
    outcomes already known (an id repeated within the request)."""

    rows: list[dict[str, Any]]
    items: list[tuple[int, EnvelopeBase, dict[str, Any], str]]  # index, envelope, body, digest
    outcomes: dict[int, Outcome]


def prepare(envelopes: list[tuple[int, EnvelopeBase]]) -> Prepared:
    """Canonical bodies and digests; the same id twice in one request is judged against its
    first occurrence."""
    items: list[tuple[int, EnvelopeBase, dict[str, Any], str]] = []
    first_by_id: dict[str, str] = {}
    outcomes: dict[int, Outcome] = {}
    for index, envelope in envelopes:
        body, digest = canonical_body(envelope)
        earlier = first_by_id.get(envelope.id)
        if earlier is not None:  # the same id twice in one request: judge it against the first
            kind: OutcomeKind = "duplicate" if earlier == digest else "conflict"
            outcomes[index] = Outcome(index, envelope.id, envelope.client_id, kind)
            continue
        first_by_id[envelope.id] = digest
        items.append((index, envelope, body, digest))
    rows = [
        {
            "id": envelope.id,
            "client_id": envelope.client_id,
            "type": body["type"],
            "occurred_at": envelope.occurred_at,
            "body": body,
            "body_sha256": digest,
        }
        for _, envelope, body, digest in items
    ]
    return Prepared(rows, items, outcomes)


async def judge(session: AsyncSession, prepared: Prepared, inserted: set[str]) -> Recorded:
    """What became of each event once the new ones (`inserted`) are stored: accepted, or a
    duplicate or a conflict of the event stored under its id."""
    items = prepared.items
    outcomes = dict(prepared.outcomes)
    known = await repository.hashes(session, [e.id for _, e, _, _ in items if e.id not in inserted])
    mismatched = [e.id for _, e, _, d in items if known.get(e.id) not in (None, d)]
    stored_bodies = await repository.bodies(session, mismatched) if mismatched else {}
    accepted: dict[str, list[AcceptedEvent]] = defaultdict(list)
    for index, envelope, body, digest in items:
        if envelope.id in inserted:
            outcomes[index] = Outcome(index, envelope.id, envelope.client_id, "accepted")
            accepted[envelope.client_id].append(AcceptedEvent(envelope, body))
            continue
        stored = known.get(envelope.id)
        # not inserted and not stored: the id belongs to an erased client (the tombstone
        # trigger skipped it), so the replay is a duplicate that stores nothing
        same = stored in (digest, None) or _same_event(stored_bodies[envelope.id], digest)
        kind: OutcomeKind = "duplicate" if same else "conflict"
        outcomes[index] = Outcome(index, envelope.id, envelope.client_id, kind)
    for found in accepted.values():
        found.sort(key=lambda item: (item.envelope.occurred_at, item.envelope.id))
    return Recorded([outcomes[i] for i in sorted(outcomes)], dict(accepted))
