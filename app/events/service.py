"""Ingest: validate against the policy, record, fold, evaluate, store, in the caller's transaction.

One code path serves `POST /v1/events` (a batch of one), `POST /v1/events/batch`, PATCH (a
server-made `client.updated`) and the demo loader. Per batch it issues a fixed number of
set-based statements whatever the number of clients: lock-or-create the clients, insert the events,
(re-read events of clients that need a re-fold), update the clients, record status changes.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.churn.engine import clamp_cycle
from app.churn.facts import ClientFacts, apply, to_json
from app.clients import repository as clients_repository
from app.clients.service import (
    WRITE_COLUMNS,
    assess,
    facts_from_events,
    facts_of,
    manager_change,
    merge_attributes,
    record_of,
    stamp_of,
    status_change_row,
    store,
)
from app.events import repository
from app.events.schemas import EnvelopeBase, OrderPlaced
from app.kit.problems import ProblemError, invalid
from app.policy.schemas import Policy
from app.policy.service import Snapshot

OutcomeKind = Literal["accepted", "duplicate", "conflict"]


@dataclass
class Outcome:
    index: int
    id: str
    client_id: str
    kind: OutcomeKind
    status: str | None = None
    tier: str | None = None
    signals: list[str] = field(default_factory=list)


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


def canonical_body(envelope: EnvelopeBase) -> tuple[dict[str, Any], str]:
    body = envelope.model_dump(mode="json", exclude_unset=True)
    body["type"] = envelope.type  # type: ignore[attr-defined]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return body, hashlib.sha256(text.encode()).hexdigest()


EMPTY_FACTS = to_json(ClientFacts())


def _new_client_row(client_id: str, snapshot: Snapshot, now: datetime) -> dict[str, Any]:
    policy = snapshot.policy
    return {
        "client_id": client_id,
        "market": policy.market,
        "facts": EMPTY_FACTS,
        "status": "prospect",
        "cycle_days": clamp_cycle(policy.default_cycle_days, policy),
        "cycle_source": "default",
        "policy_version": snapshot.version,
        "evaluated_at": now,
    }


async def ingest(
    session: AsyncSession,
    envelopes: list[tuple[int, EnvelopeBase]],
    snapshot: Snapshot,
    now: datetime,
) -> list[Outcome]:
    """Apply already-validated envelopes (with their batch index). Never commits."""
    if not envelopes:
        return []
    prepared: list[tuple[int, EnvelopeBase, dict[str, Any], str]] = []
    first_by_id: dict[str, tuple[int, str]] = {}
    outcomes: dict[int, Outcome] = {}
    for index, envelope in envelopes:
        body, digest = canonical_body(envelope)
        earlier = first_by_id.get(envelope.id)
        if earlier is not None:  # the same id twice in one batch: judge it against the first
            kind: OutcomeKind = "duplicate" if earlier[1] == digest else "conflict"
            outcomes[index] = Outcome(index, envelope.id, envelope.client_id, kind)
            continue
        first_by_id[envelope.id] = (index, digest)
        prepared.append((index, envelope, body, digest))

    client_ids = sorted({envelope.client_id for _, envelope, _, _ in prepared})
    rows = await clients_repository.lock_or_create(
        session, [_new_client_row(c, snapshot, now) for c in client_ids]
    )
    inserted = await repository.insert_new(
        session,
        [
            {
                "id": envelope.id,
                "client_id": envelope.client_id,
                "type": body["type"],
                "occurred_at": envelope.occurred_at,
                "body": body,
                "body_sha256": digest,
            }
            for _, envelope, body, digest in prepared
        ],
    )
    known = await repository.hashes(
        session, [e.id for _, e, _, _ in prepared if e.id not in inserted]
    )

    accepted: dict[str, list[tuple[EnvelopeBase, dict[str, Any]]]] = defaultdict(list)
    for index, envelope, body, digest in prepared:
        if envelope.id in inserted:
            outcomes[index] = Outcome(index, envelope.id, envelope.client_id, "accepted")
            accepted[envelope.client_id].append((envelope, body))
        else:
            stored = known.get(envelope.id)
            # not inserted and not stored: the id belongs to an erased client (the tombstone
            # trigger skipped it), so the replay is a duplicate that stores nothing
            kind = "duplicate" if stored in (digest, None) else "conflict"
            outcomes[index] = Outcome(index, envelope.id, envelope.client_id, kind)

    # A client created only for events that were then refused leaves no trace.
    await clients_repository.delete_many(
        session, [c for c in client_ids if rows[c]["inserted"] and c not in accepted]
    )

    folded: dict[str, ClientFacts] = {}
    refold: list[str] = []
    for client_id, items in accepted.items():
        facts = facts_of(rows[client_id])
        items.sort(key=lambda item: (item[0].occurred_at, item[0].id))
        if facts.follows(record_of(items[0][1], items[0][0].occurred_at)):
            for envelope, body in items:  # the common case: events arrive in time order
                apply(facts, record_of(body, envelope.occurred_at), manager_change(body))
            folded[client_id] = facts
        else:
            refold.append(client_id)
    if refold:
        history = await repository.bodies_for_clients(session, refold)
        for client_id in refold:
            folded[client_id] = facts_from_events(history[client_id])

    updates: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    states: dict[str, tuple[str, str | None, list[str]]] = {}
    for client_id, items in accepted.items():
        row = rows[client_id]
        times = dict(row["attribute_times"] or {})
        new_attributes: dict[str, Any] = {}
        for envelope, body in items:
            if body.get("client"):
                stamp = stamp_of(envelope.occurred_at, envelope.id)
                changed, times = merge_attributes(row, times, body["client"], stamp)
                new_attributes.update(changed)
        row.update(new_attributes)
        assessment = assess(row, folded[client_id], snapshot, now)
        change = status_change_row(
            client_id, None if row["inserted"] else row["status"], assessment, now
        )
        if change:
            changes.append(change)
        updates.append(
            {
                **row,
                "attribute_times": times,
                "facts": to_json(folded[client_id]),
                **assessment.columns,
            }
        )
        states[client_id] = (
            assessment.state.status,
            assessment.tier,
            assessment.state.signal_codes,
        )
    await store(session, WRITE_COLUMNS, updates, changes)

    for outcome in outcomes.values():
        if outcome.client_id in states:
            outcome.status, outcome.tier, outcome.signals = states[outcome.client_id]
        elif outcome.client_id in rows and not rows[outcome.client_id]["inserted"]:
            row = rows[outcome.client_id]
            outcome.status, outcome.tier, outcome.signals = (
                row["status"],
                row["tier"],
                list(row["signals"] or []),
            )
    return [outcomes[index] for index in sorted(outcomes)]
