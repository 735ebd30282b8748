"""Client state: turning facts + attributes + policy snapshot into the stored columns, and reads.

`assess` is the one place the shell calls the pure core for a client; the write path, the sweeper
and the policy re-evaluation all go through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.churn.engine import ClientState, evaluate
from app.churn.facts import ClientFacts, EventRecord, from_json, summarize
from app.clients import repository
from app.clients.schemas import ClientRead, SignalRead
from app.events import repository as events_repository
from app.kit import metrics
from app.plans import ClientProfile, decide
from app.policy.service import Snapshot
from app.tiers import assign

ATTRIBUTE_FIELDS = (
    "name",
    "email",
    "phone",
    "market",
    "manager_id",
    "tags",
    "advocate",
    "problem_client",
    "do_not_contact",
    "attributes",
)


# What an evaluation writes; a write also stores attributes and facts.
STATE_COLUMNS = (
    "status",
    "status_since",
    "signals",
    "tier",
    "decision",
    "value",
    "lifetime_revenue",
    "orders_count",
    "first_order_at",
    "last_order_at",
    "cycle_days",
    "cycle_source",
    "expected_next_order_at",
    "lost_count",
    "last_lost_at",
    "recovered_at",
    "in_watch",
    "next_review_at",
    "policy_version",
    "evaluated_at",
)
WRITE_COLUMNS = (*STATE_COLUMNS, *ATTRIBUTE_FIELDS, "attribute_times", "facts")


@dataclass(frozen=True)
class Assessment:
    state: ClientState
    tier: str | None
    decision: str | None
    columns: dict[str, Any]


def profile_of(row: Mapping[str, Any], tier: str | None) -> ClientProfile:
    return ClientProfile(
        client_id=row["client_id"],
        name=row.get("name"),
        market=row["market"],
        manager_id=row.get("manager_id"),
        advocate=bool(row.get("advocate")),
        problem_client=bool(row.get("problem_client")),
        do_not_contact=bool(row.get("do_not_contact")),
        tier=tier,  # type: ignore[arg-type]
    )


def assess(
    row: Mapping[str, Any], facts: ClientFacts, snapshot: Snapshot, now: datetime
) -> Assessment:
    """Evaluate one client (row = its attributes) and return the columns to store."""
    policy = snapshot.policy
    state = evaluate(facts, policy, now, snapshot.market_cycle(row["market"]))
    tier = assign(state.value, snapshot.thresholds(row["market"])) if state.orders_count else None
    decision, _ = decide(profile_of(row, tier), state, facts, policy)
    columns = {
        "status": state.status,
        "status_since": state.status_since,
        "signals": state.signal_codes,
        "tier": tier,
        "decision": decision,
        "value": state.value,
        "lifetime_revenue": state.lifetime_revenue,
        "orders_count": state.orders_count,
        "first_order_at": state.first_order_at,
        "last_order_at": state.last_order_at,
        "cycle_days": state.cycle_days,
        "cycle_source": state.cycle_source,
        "expected_next_order_at": state.expected_next_order_at,
        "lost_count": state.lost_count,
        "last_lost_at": state.last_lost_at,
        "recovered_at": state.recovered_at,
        "in_watch": state.in_watch,
        "next_review_at": state.next_review_at,
        "policy_version": snapshot.version,
        "evaluated_at": now,
    }
    return Assessment(state, tier, decision, columns)


def status_change_row(
    client_id: str, old_status: str | None, assessment: Assessment, now: datetime
) -> dict[str, Any] | None:
    """A status_change row when the status moved, dated when it moved (business time)."""
    new_status = assessment.state.status
    if old_status == new_status:
        return None
    return {
        "client_id": client_id,
        "from_status": old_status,
        "to_status": new_status,
        "at": assessment.state.status_since or now,
        "signals": assessment.state.signal_codes,
    }


# --- attributes: last writer wins per field, by (business time, event id) ---------------------


def merge_attributes(
    row: Mapping[str, Any],
    times: Mapping[str, str],
    upsert: Mapping[str, Any],
    stamp: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Apply an attribute upsert stamped `stamp` ("<iso time>|<event id>") field by field, keeping
    a field when a later stamp already wrote it. Order-independent: the largest stamp wins."""
    changes: dict[str, Any] = {}
    new_times = dict(times)
    for name, value in upsert.items():
        if name not in ATTRIBUTE_FIELDS:
            continue
        if new_times.get(name, "") > stamp:
            continue
        new_times[name] = stamp
        changes[name] = value
    return changes, new_times


def stamp_of(occurred_at: datetime, event_id: str) -> str:
    return f"{occurred_at.isoformat()}|{event_id}"


def manager_change(body: Mapping[str, Any]) -> str | None:
    """The manager an event's attribute upsert sets: the id, "" for cleared, None for untouched."""
    client = body.get("client") or {}
    if "manager_id" not in client:
        return None
    return client["manager_id"] or ""


def record_of(body: Mapping[str, Any], occurred_at: datetime) -> EventRecord:
    return EventRecord(body["id"], body["type"], occurred_at, body.get("data") or {})


def facts_from_events(events: Sequence[tuple[Mapping[str, Any], datetime]]) -> ClientFacts:
    return summarize((record_of(body, at), manager_change(body)) for body, at in events)


def facts_of(row: Mapping[str, Any]) -> ClientFacts:
    raw = row.get("facts")
    return from_json(raw) if raw else ClientFacts()


async def state_as_of(
    session: AsyncSession, row: Mapping[str, Any], snapshot: Snapshot, as_of: datetime
) -> tuple[ClientFacts, Assessment]:
    """The client as it stood at `as_of`: its events with occurred_at <= as_of, evaluated then."""
    events = await events_repository.bodies_for_client(session, row["client_id"], until=as_of)
    facts = facts_from_events(events)
    return facts, assess(row, facts, snapshot, as_of)


def row_attributes(client: Any) -> dict[str, Any]:
    """The attribute mapping `assess` needs, from an ORM Client."""
    return {"client_id": client.client_id, **{f: getattr(client, f) for f in ATTRIBUTE_FIELDS}}


# ClientRead fields taken from ClientState as they are (the rest are set in read_model).
_STATE_READ_FIELDS = tuple(
    name
    for name in ClientRead.model_fields
    if name in ClientState.__dataclass_fields__
    and name not in ("signals", "days_since_last_order", "overdue_ratio")
)


def read_model(client: Any, assessment: Assessment, as_of: datetime) -> ClientRead:
    state = assessment.state
    return ClientRead(
        **row_attributes(client),
        **{name: getattr(state, name) for name in _STATE_READ_FIELDS},
        as_of=as_of,
        signals=[SignalRead(code=s.code, since=s.since, detail=s.detail) for s in state.signals],
        tier=assessment.tier,  # type: ignore[arg-type]
        decision=assessment.decision,
        days_since_last_order=None
        if state.days_since_last_order is None
        else round(state.days_since_last_order, 2),
        overdue_ratio=None if state.overdue_ratio is None else round(state.overdue_ratio, 3),
    )


async def current(
    session: AsyncSession, client: Any, snapshot: Snapshot, now: datetime, as_of: datetime | None
) -> tuple[ClientFacts, Assessment, datetime]:
    """The client evaluated now (from its stored facts) or as it stood at `as_of`."""
    if as_of is None or as_of >= now:
        facts = facts_of({"facts": client.facts})
        return facts, assess(row_attributes(client), facts, snapshot, now), now
    facts, assessment = await state_as_of(session, row_attributes(client), snapshot, as_of)
    return facts, assessment, as_of


async def reevaluate(
    session: AsyncSession, rows: list[dict[str, Any]], snapshot: Snapshot, now: datetime
) -> list[dict[str, Any]]:
    """Re-evaluate locked client rows from their stored facts (the sweeper, policy changes).

    Returns the status changes recorded."""
    updates = []
    changes = []
    for row in rows:
        assessment = assess(row, facts_of(row), snapshot, now)
        updates.append({"client_id": row["client_id"], **assessment.columns})
        change = status_change_row(row["client_id"], row["status"], assessment, now)
        if change:
            changes.append(change)
    await store(session, STATE_COLUMNS, updates, changes)
    return changes


async def store(
    session: AsyncSession,
    columns: tuple[str, ...],
    updates: list[dict[str, Any]],
    changes: list[dict[str, Any]],
) -> None:
    """Write evaluated clients and their status changes (the write path and the worker alike)."""
    await repository.update_many(session, columns, updates)
    await repository.record_status_changes(session, changes)
    for change in changes:  # counted when written; a rolled-back transaction may over-count
        metrics.STATUS_CHANGES.labels(change["to_status"]).inc()
