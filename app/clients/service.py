"""Client state: the one home of what events do to a client, and of reading it back.

`apply_events` is the write path for every source (API, batch, PATCH, demo, platform webhooks
and import): it locks or creates the clients, folds the new events into their facts (or re-folds
from the stored events when one arrives late), merges attributes, calls the pure core (`assess`)
and stores the result. `store` is the one place where evaluated state, status changes and the
outgoing webhook events they cause (`client.status_changed`, `client.tier_changed`: the outbox)
are written, in the caller's transaction: the write path, the sweeper, policy re-evaluation, the
facts upgrade and import all end there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.churn.engine import ClientState, clamp_cycle, evaluate
from app.churn.facts import (
    FACTS_VERSION,
    ClientFacts,
    EventRecord,
    apply,
    from_json,
    summarize,
    to_json,
)
from app.churn.scores import Scores, score_states
from app.clients import repository
from app.clients.models import Client
from app.clients.rows import (
    ATTRIBUTE_FIELDS,
    STATE_COLUMNS,
    WRITE_COLUMNS,
    ClientAttributesRow,
    ClientRow,
    StateColumns,
    StatusChangeRow,
)
from app.clients.schemas import (
    ClientPage,
    ClientRead,
    ClientSummary,
    SignalRead,
    Stats,
    StatsCell,
    TimelineItem,
    TimelinePage,
)
from app.domain import Market, Status, Tier
from app.events import repository as events_repository
from app.events.service import AcceptedEvent
from app.kit import csv, metrics, pagination
from app.kit.jsontext import dumps
from app.kit.problems import invalid, not_found
from app.plans import ClientProfile, decision_rule
from app.plans.economics import ObservedReturns, ReturnEvidence, band_bounds
from app.policy.schemas import Policy
from app.policy.service import Snapshot
from app.population import service as population
from app.tiers import assign
from app.webhooks import service as webhooks
from app.webhooks.schemas import ClientStatusChanged, ClientTierChanged

__all__ = ["ATTRIBUTE_FIELDS", "STATE_COLUMNS", "WRITE_COLUMNS"]


@dataclass(frozen=True)
class Assessment:
    state: ClientState
    tier: str | None
    decision: str | None
    columns: StateColumns
    scores: Scores


def profile_of(row: ClientAttributesRow, tier: str | None) -> ClientProfile:
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


def evaluate_client(
    row: ClientAttributesRow, facts: ClientFacts, snapshot: Snapshot, now: datetime
) -> ClientState:
    """The churn engine for one client with its market's population figures."""
    market = row["market"]
    return evaluate(
        facts, snapshot.policy, now, snapshot.market_cycle(market), snapshot.repeat_gaps(market)
    )


def assess(
    row: ClientAttributesRow, facts: ClientFacts, snapshot: Snapshot, now: datetime
) -> Assessment:
    """Evaluate one client (row = its attributes) and return the columns to store."""
    return assess_many([(row, facts)], snapshot, now)[0]


def assess_many(
    clients: Sequence[tuple[ClientAttributesRow, ClientFacts]], snapshot: Snapshot, now: datetime
) -> list[Assessment]:
    """`assess` for several clients: each evaluated on its own, their model scores computed in
    one vectorised call (app.churn.scores), so a batch costs little more than one client."""
    states = [evaluate_client(row, facts, snapshot, now) for row, facts in clients]
    scores = score_states(states, snapshot.model, snapshot.policy, now)
    return [
        _assessment(row, facts, state, found, snapshot, now)
        for (row, facts), state, found in zip(clients, states, scores, strict=True)
    ]


def _assessment(
    row: ClientAttributesRow,
    facts: ClientFacts,
    state: ClientState,
    scores: Scores,
    snapshot: Snapshot,
    now: datetime,
) -> Assessment:
    policy = snapshot.policy
    tier = assign(state.value, snapshot.thresholds(row["market"])) if state.orders_count else None
    decision, _ = decision_rule(profile_of(row, tier), state, facts, policy)
    columns: StateColumns = {
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
        "purchase_days": state.purchase_days,
        "p_alive": scores.p_alive,
        "expected_orders_90d": scores.expected_orders_90d,
        "predicted_clv": scores.predicted_clv,
        "predicted_next_order_at": scores.predicted_next_order_at,
        "rfm": scores.rfm,
        "xyz": scores.xyz,
        "churn_risk": scores.churn_risk,
        "model_fit_id": scores.model_fit_id,
    }
    return Assessment(state, tier, decision, columns, scores)


def status_change_row(
    client_id: str, old_status: Status | None, assessment: Assessment, now: datetime
) -> StatusChangeRow | None:
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


@dataclass
class Moves:
    """What a write changes that is recorded beside the state: status changes (the history) and
    the outgoing webhook events (the outbox), stored by `store` in the same transaction."""

    status_changes: list[StatusChangeRow] = field(default_factory=list)
    outgoing: list[webhooks.Outgoing] = field(default_factory=list)

    def add(
        self,
        row: ClientAttributesRow,
        old_status: Status | None,
        old_tier: Tier | None,
        assessment: Assessment,
        now: datetime,
    ) -> None:
        """The client was `old_status` / `old_tier` (None: never evaluated) and is now
        `assessment`: record what moved."""
        client_id = row["client_id"]
        state = assessment.state
        change = status_change_row(client_id, old_status, assessment, now)
        if change is not None:
            self.status_changes.append(change)
            data = ClientStatusChanged.model_validate(
                {
                    "client_id": client_id,
                    "from": old_status,
                    "to": state.status,
                    "at": change["at"],
                    "signals": state.signal_codes,
                    "tier": assessment.tier,
                    "value": state.value,
                    "market": row["market"],
                    "manager_id": row.get("manager_id"),
                    "decision": assessment.decision,
                }
            )
            self.outgoing.append(webhooks.outgoing("client.status_changed", data, now, client_id))
        if assessment.tier != old_tier:
            moved = ClientTierChanged.model_validate(
                {
                    "client_id": client_id,
                    "from": old_tier,
                    "to": assessment.tier,
                    "value": state.value,
                    "status": state.status,
                    "market": row["market"],
                }
            )
            self.outgoing.append(webhooks.outgoing("client.tier_changed", moved, now, client_id))


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


def apply_upserts(
    row: Any,
    times: Mapping[str, str],
    upserts: Iterable[tuple[datetime, str, Mapping[str, Any] | None]],
) -> dict[str, str]:
    """Merge events' attribute upserts (occurred_at, event id, upsert or None) into `row` in
    place, field by field as `merge_attributes` decides; returns the new field times. The write
    path, the bulk path and `as_of` reads all merge this way."""
    new_times = dict(times)
    for occurred_at, event_id, upsert in upserts:
        if upsert:
            changed, new_times = merge_attributes(
                row, new_times, upsert, stamp_of(occurred_at, event_id)
            )
            row.update(changed)
    return new_times


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


# --- the write path -----------------------------------------------------------------------------

EMPTY_FACTS = dumps(to_json(ClientFacts()))  # serialised once per process, not once per new client


@dataclass(frozen=True)
class ClientOutcome:
    """A client's state after a write, as the answer to the sender reports it."""

    status: str
    tier: str | None
    signals: list[str]


def new_client_rows(
    client_ids: Iterable[str], snapshot: Snapshot, now: datetime
) -> list[dict[str, Any]]:
    """The row each of these clients starts with if the write creates it
    (repository.NEW_CLIENT_COLUMNS)."""
    policy = snapshot.policy
    cycle_days = clamp_cycle(policy.default_cycle_days, policy)
    return [
        {
            "client_id": client_id,
            "market": policy.market,
            "facts": EMPTY_FACTS,
            "status": "prospect",
            "cycle_days": cycle_days,
            "cycle_source": "default",
            "policy_version": snapshot.version,
            "evaluated_at": now,
        }
        for client_id in client_ids
    ]


async def _fold(
    session: AsyncSession,
    rows: Mapping[str, ClientRow],
    accepted: Mapping[str, Sequence[AcceptedEvent]],
) -> dict[str, ClientFacts]:
    """Each client's facts with its new events: applied in place when they all sort after what
    the facts have seen (the common case), else re-folded from every stored event."""
    folded: dict[str, ClientFacts] = {}
    refold: list[str] = []
    for client_id, items in accepted.items():
        facts = facts_of(rows[client_id])
        first = items[0]
        if facts.follows(record_of(first.body, first.envelope.occurred_at)):
            for item in items:
                apply(
                    facts,
                    record_of(item.body, item.envelope.occurred_at),
                    manager_change(item.body),
                )
            folded[client_id] = facts
        else:
            refold.append(client_id)
    if refold:
        history = await events_repository.bodies_for_clients(session, refold)
        for client_id in refold:
            folded[client_id] = facts_from_events(history[client_id])
    return folded


async def apply_events(
    session: AsyncSession,
    accepted: Mapping[str, Sequence[AcceptedEvent]],
    snapshot: Snapshot,
    now: datetime,
    locked: Mapping[str, ClientRow] | None = None,
) -> dict[str, ClientOutcome]:
    """What newly recorded events do to their clients (events by client, in time order): lock or
    create the clients, fold, merge attributes, evaluate, store. Never commits. `locked`: rows
    the caller has already locked (app.ingest locks them with the events' insert); the others
    are locked here."""
    if not accepted:
        return {}
    rows = dict(locked or {})
    missing = [client_id for client_id in accepted if client_id not in rows]
    if missing:
        rows |= await repository.lock_or_create(session, new_client_rows(missing, snapshot, now))
    folded = await _fold(session, rows, accepted)
    updates: list[dict[str, Any]] = []
    moves = Moves()
    outcomes: dict[str, ClientOutcome] = {}
    all_times: dict[str, dict[str, str]] = {}
    for client_id, items in accepted.items():
        row = rows[client_id]
        all_times[client_id] = apply_upserts(
            row,
            row["attribute_times"] or {},
            ((i.envelope.occurred_at, i.envelope.id, i.body.get("client")) for i in items),
        )
    assessed = assess_many(
        [(rows[client_id], folded[client_id]) for client_id in accepted], snapshot, now
    )
    for client_id, assessment in zip(accepted, assessed, strict=True):
        row = rows[client_id]
        times = all_times[client_id]
        if row.get("inserted"):
            moves.add(row, None, None, assessment, now)
        else:
            moves.add(row, row["status"], row["tier"], assessment, now)
        updates.append(
            {
                **row,
                "attribute_times": times,
                "facts": to_json(folded[client_id]),
                # the fold version these facts are complete for: an old row that only got an
                # incremental event keeps its old version, so the upgrade job still re-folds it
                "facts_version": folded[client_id].version,
                **assessment.columns,
            }
        )
        state = assessment.state
        outcomes[client_id] = ClientOutcome(state.status, assessment.tier, state.signal_codes)
    await store(session, WRITE_COLUMNS, updates, moves)
    return outcomes


async def outcomes_of(session: AsyncSession, client_ids: Sequence[str]) -> dict[str, ClientOutcome]:
    """The stored state of clients a request did not change (it only repeated their events)."""
    return {
        client_id: ClientOutcome(status, tier, list(signals or []))
        for client_id, status, tier, signals in await repository.states(session, client_ids)
    }


# --- reads -------------------------------------------------------------------------------------


def attributes_as_of(
    client_id: str, events: Sequence[tuple[Mapping[str, Any], datetime]], market: Market
) -> ClientAttributesRow:
    """A client's attributes from its events' upserts (PATCH is stored as one): the write path's
    merge, field by field, latest stamp wins. `market` is the one a new client starts with."""
    row = ClientAttributesRow(
        client_id=client_id,
        name=None,
        email=None,
        phone=None,
        market=market,
        manager_id=None,
        tags=[],
        advocate=False,
        problem_client=False,
        do_not_contact=False,
        attributes={},
    )
    apply_upserts(row, {}, ((at, body["id"], body.get("client")) for body, at in events))
    return row


async def state_as_of(
    session: AsyncSession, client_id: str, snapshot: Snapshot, as_of: datetime
) -> tuple[ClientAttributesRow, ClientFacts, Assessment]:
    """The client as it stood at `as_of`, seeing nothing later: its events with occurred_at <=
    as_of (facts and attributes), evaluated then with the population figures and the model fit
    in force then (none before the first refresh or fit)."""
    events = await events_repository.bodies_for_client(session, client_id, until=as_of)
    facts = facts_from_events(events)
    attributes = attributes_as_of(client_id, events, snapshot.policy.market)
    policy = snapshot.policy
    then = snapshot.with_figures(
        await population.in_force(session, as_of, policy.market_cycle_min_clients)
    )
    return attributes, facts, assess(attributes, facts, then, as_of)


def row_attributes(client: Client) -> ClientAttributesRow:
    """The attribute mapping `assess` needs, from an ORM Client."""
    return ClientAttributesRow(
        client_id=client.client_id,
        name=client.name,
        email=client.email,
        phone=client.phone,
        market=client.market,
        manager_id=client.manager_id,
        tags=client.tags,
        advocate=client.advocate,
        problem_client=client.problem_client,
        do_not_contact=client.do_not_contact,
        attributes=client.attributes,
    )


# ClientRead fields taken from ClientState as they are (the rest are set in read_model).
_STATE_READ_FIELDS = tuple(
    name
    for name in ClientRead.model_fields
    if name in ClientState.__dataclass_fields__
    and name not in ("signals", "days_since_last_order", "overdue_ratio")
)


def read_model(
    client: Client,
    assessment: Assessment,
    as_of: datetime,
    attributes: ClientAttributesRow | None = None,
) -> ClientRead:
    """The client as the API shows it: its attributes (today's, or `attributes` as of a past
    moment), its evaluated state and scores."""
    state = assessment.state
    scores = assessment.scores
    return ClientRead(
        **(attributes or row_attributes(client)),
        **{name: getattr(state, name) for name in _STATE_READ_FIELDS},
        p_alive=scores.p_alive,
        expected_orders_90d=scores.expected_orders_90d,
        predicted_clv=scores.predicted_clv,
        predicted_next_order_at=scores.predicted_next_order_at,
        rfm=scores.rfm,
        xyz=scores.xyz,  # type: ignore[arg-type]
        churn_risk=scores.churn_risk,
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
    session: AsyncSession, client: Client, snapshot: Snapshot, now: datetime, as_of: datetime | None
) -> tuple[ClientAttributesRow, ClientFacts, Assessment, datetime]:
    """The client evaluated now (from its stored facts) or as it stood at `as_of`."""
    if as_of is None or as_of >= now:
        facts = facts_of({"facts": client.facts})
        attributes = row_attributes(client)
        return attributes, facts, assess(attributes, facts, snapshot, now), now
    attributes, facts, assessment = await state_as_of(session, client.client_id, snapshot, as_of)
    return attributes, facts, assessment, as_of


async def client_or_404(session: AsyncSession, client_id: str) -> Client:
    client = await repository.get(session, client_id)
    if client is None:
        raise not_found(f"client {client_id!r}")
    return client


@dataclass(frozen=True)
class EvaluatedClient:
    client: Client
    facts: ClientFacts
    assessment: Assessment
    moment: datetime  # now, or the as_of it was evaluated at
    attributes: ClientAttributesRow  # today's, or as of that moment

    def profile(self) -> ClientProfile:
        return profile_of(self.attributes, self.assessment.tier)

    def read_model(self) -> ClientRead:
        return read_model(self.client, self.assessment, self.moment, self.attributes)


async def evaluated_client(
    session: AsyncSession,
    client_id: str,
    snapshot: Snapshot,
    now: datetime,
    as_of: datetime | None,
) -> EvaluatedClient:
    """The client (404 if unknown) evaluated now, or as of a past moment (422 if future)."""
    if as_of is not None and as_of > now:
        raise invalid("as_of", "must not be in the future", "future_as_of")
    client = await client_or_404(session, client_id)
    attributes, facts, assessment, moment = await current(session, client, snapshot, now, as_of)
    return EvaluatedClient(client, facts, assessment, moment, attributes)


# --- lists -------------------------------------------------------------------------------------

CSV_PAGE = 1000


def _after(cursor: str | None, sort: str) -> tuple[str, str] | None:
    if cursor is None:
        return None
    cursor_sort, key_text, client_id = pagination.decode(cursor, 3)
    if cursor_sort != sort:
        raise invalid("cursor", f"was issued for sort={cursor_sort}, not {sort}", "invalid_cursor")
    if not isinstance(key_text, str) or not isinstance(client_id, str):
        raise pagination.bad_cursor()
    if not repository.is_sort_key(sort, key_text):
        raise pagination.bad_cursor()
    return key_text, client_id


async def list_page(
    session: AsyncSession,
    where: repository.ClientFilter,
    sort: str,
    cursor: str | None,
    limit: int,
) -> ClientPage:
    rows = await repository.list_page(session, where, sort, _after(cursor, sort), limit + 1)
    next_cursor = None
    if len(rows) > limit:
        next_cursor = pagination.encode([sort, *repository.cursor_key(rows[limit - 1], sort)])
    # one validation of the whole page (pydantic's core walks the rows, not Python)
    return ClientPage.model_validate({"items": rows[:limit], "next_cursor": next_cursor})


async def list_csv(
    sessionmaker: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    where: repository.ClientFilter,
    sort: str,
    cursor: str | None,
) -> AsyncIterator[str]:
    """Every matching client from the cursor on, as CSV. It reads in its own session, which
    lives as long as the response streams (the request's session ends with the endpoint)."""
    after = _after(cursor, sort)  # a bad cursor is a 422 before anything is sent

    async def pages() -> AsyncIterator[list[list[Any]]]:
        nonlocal after
        async with sessionmaker() as session:
            while True:
                rows = await repository.list_page(session, where, sort, after, CSV_PAGE)
                yield [_csv_row(row) for row in rows]
                if len(rows) < CSV_PAGE:
                    return
                after = repository.cursor_key(rows[-1], sort)

    return csv.rows_to_text(CSV_COLUMNS, pages())


CSV_COLUMNS = (
    "client_id",
    "name",
    "email",
    "phone",
    "market",
    "manager_id",
    "status",
    "tier",
    "decision",
    "value",
    "orders_count",
    "last_order_at",
    "expected_next_order_at",
    "signals",
    "lost_count",
    # the population model's scores (docs/models.md), after the columns CRMs already map
    "churn_risk",
    "p_alive",
    "predicted_clv",
    "rfm",
    "xyz",
)


def _csv_row(row: Mapping[str, Any]) -> list[Any]:
    summary = ClientSummary.model_validate(row).model_dump(mode="json")
    summary["signals"] = ";".join(summary["signals"])
    for score in ("churn_risk", "p_alive"):  # probabilities: four places are what a CRM shows
        if summary[score] is not None:
            summary[score] = round(summary[score], 4)
    return [summary[column] for column in CSV_COLUMNS]


# --- timeline, stats, erasure --------------------------------------------------------------------


async def timeline(
    session: AsyncSession, client_id: str, cursor: str | None, limit: int
) -> TimelinePage:
    """Events and status changes, newest first: each read from its own index, merged here."""
    await client_or_404(session, client_id)
    before = pagination.decode_moment_key(cursor)
    events = await events_repository.page_for_client(session, client_id, before, limit + 1)
    changes = await repository.status_changes_page(session, client_id, before, limit + 1)
    merged = [
        TimelineItem(
            kind="event",
            at=e.occurred_at,
            id=e.id,
            type=e.type,
            data=e.body.get("data") or {},
            client=e.body.get("client"),
        )
        for e in events
    ] + [
        TimelineItem(
            kind="status_change",
            at=c.at,
            id=repository.status_change_item_id(c.id),
            type="status_change",
            data={"from": c.from_status, "to": c.to_status, "signals": c.signals},
        )
        for c in changes
    ]
    merged.sort(key=lambda item: (item.at, item.id), reverse=True)
    page = merged[:limit]
    next_cursor = None
    if len(merged) > limit:
        next_cursor = pagination.encode([page[-1].at.isoformat(), page[-1].id])
    return TimelinePage(items=page, next_cursor=next_cursor)


async def stats(session: AsyncSession) -> Stats:
    cells = await repository.stats(session)
    by_status: dict[str, int] = {}
    for status_name, _tier, count, _value in cells:
        by_status[status_name] = by_status.get(status_name, 0) + count
    return Stats(
        clients=sum(by_status.values()),
        by_status=by_status,
        by_status_and_tier=[
            StatsCell(status=s, tier=t, clients=n, value=v)  # type: ignore[arg-type]
            for s, t, n, v in sorted(cells, key=lambda c: (c[0], c[1] or "~"))
        ],
        value_at_risk=sum((v for s, _, _, v in cells if s == "at_risk"), Decimal(0)),
        value_lost=sum((v for s, _, _, v in cells if s == "lost"), Decimal(0)),
    )


async def erase(session: AsyncSession, client_id: str, requested_by: str, now: datetime) -> int:
    """Erasure: the client's events (their ids kept as hashes), status history and row go; an
    audit row without personal data stays. Returns the number of events deleted."""
    await client_or_404(session, client_id)
    deleted = await events_repository.erase_for_client(session, client_id, now)
    await repository.erase(session, client_id, requested_by, deleted, now)
    await webhooks.forget_client(session, client_id)  # its events leave the outbox too
    return deleted


async def reevaluation_pending(session: AsyncSession, version: int) -> int:
    """Clients not yet evaluated under this policy version (the worker is on its way)."""
    return await repository.clients_behind(session, version)


# --- the worker's re-evaluations and the one place state is written ----------------------------


async def reevaluate_due(
    session: AsyncSession, snapshot: Snapshot, now: datetime, limit: int
) -> list[str]:
    """One sweep batch: clients whose next_review_at has come (rows other workers hold are
    skipped), re-evaluated at `now`. Returns their ids."""
    rows = await repository.lock_due(session, now, limit)
    await reevaluate(session, rows, snapshot, now)
    return [row["client_id"] for row in rows]


async def reevaluate_stale_policy(
    session: AsyncSession, snapshot: Snapshot, now: datetime, limit: int
) -> int:
    """One batch of clients evaluated under an older policy version, brought to this one."""
    rows = await repository.lock_stale_policy(session, snapshot.version, limit)
    await reevaluate(session, rows, snapshot, now)
    return len(rows)


async def upgrade_facts(
    session: AsyncSession, rows: list[ClientRow], snapshot: Snapshot, now: datetime
) -> None:
    """Locked clients whose stored facts are of an older fold version: re-fold them from their
    events (the truth), store facts and version, and re-evaluate them."""
    history = await events_repository.bodies_for_clients(session, [r["client_id"] for r in rows])
    upgraded = []
    for row in rows:
        facts = facts_from_events(history[row["client_id"]])
        row["facts"] = to_json(facts)
        upgraded.append(
            {"client_id": row["client_id"], "facts": row["facts"], "facts_version": facts.version}
        )
    await repository.update_many(session, ("facts", "facts_version"), upgraded)
    await reevaluate(session, rows, snapshot, now)  # from the facts the rows now hold


async def reevaluate(
    session: AsyncSession, rows: list[ClientRow], snapshot: Snapshot, now: datetime
) -> list[StatusChangeRow]:
    """Re-evaluate locked client rows from their stored facts (the sweeper, policy changes).

    Returns the status changes recorded."""
    updates = []
    moves = Moves()
    assessed = assess_many([(row, facts_of(row)) for row in rows], snapshot, now)
    for row, assessment in zip(rows, assessed, strict=True):
        updates.append({"client_id": row["client_id"], **assessment.columns})
        moves.add(row, row["status"], row["tier"], assessment, now)
    await store(session, STATE_COLUMNS, updates, moves)
    return moves.status_changes


async def store(
    session: AsyncSession,
    columns: tuple[str, ...],
    updates: list[dict[str, Any]],
    moves: Moves,
) -> None:
    """Write evaluated clients, their status changes and the webhook events they cause (the
    write path and the worker alike), in the caller's transaction: one statement for one
    client (the common write), else one for each kind."""
    if len(updates) == 1 and len(moves.status_changes) <= 1:
        change = moves.status_changes[0] if moves.status_changes else None
        outbox = [event.row() for event in moves.outgoing]
        await repository.store_one(session, columns, updates[0], change, outbox)
    else:
        await repository.update_many(session, columns, updates)
        await repository.record_status_changes(session, moves.status_changes)
        await webhooks.enqueue(session, moves.outgoing)
    for change in moves.status_changes:  # counted when written; a rollback may over-count
        metrics.STATUS_CHANGES.labels(change["to_status"]).inc()


# --- p_return from evidence ----------------------------------------------------------------------


async def return_evidence(
    session: AsyncSession,
    policy: Policy,
    only: tuple[Tier | None, Market] | None = None,
    as_of: datetime | None = None,
) -> ReturnEvidence:
    """The observed win-back rates of closed campaigns' treatment members, by (tier, market,
    lapse band), for `plans.plan(..., evidence=...)`: all kinds, or `only` one (the kind of the
    client a plan is for); with `as_of`, only campaigns closed by then. The planner uses a rate
    once 30 members stand behind it."""
    rows = await repository.observed_returns(session, band_bounds(policy), only, as_of)
    return {
        (tier, market, band): ObservedReturns(members, returned, campaigns)  # type: ignore[misc]
        for tier, market, band, members, returned, campaigns in rows
    }


# --- the bulk path (`winback import`): events recorded in chunks, then each client folded once --

STALE_FACTS = '{"version": 0}'  # the facts of a client the bulk path created, not yet folded
# What a re-fold stores: the facts, their fold version and the evaluated state. Attributes were
# merged and stored with the events (`mark_for_refold`).
REFOLD_COLUMNS: tuple[str, ...] = ("facts", "facts_version", *STATE_COLUMNS)

# An accepted event as the bulk path hands it over: (occurred_at, event id, attribute upsert).
BulkEvent = tuple[datetime, str, Mapping[str, Any] | None]


async def mark_for_refold(
    session: AsyncSession,
    accepted: Mapping[str, Sequence[BulkEvent]],
    snapshot: Snapshot,
    now: datetime,
) -> None:
    """The first half of the bulk path, in the transaction that recorded the events (by client):
    create the clients that do not exist (as the write path does), merge the attribute upserts
    (last writer wins per field, by business time, as the write path does), and mark each
    client's facts as behind its events (facts_version 0). `refold_stale` then re-folds every
    marked client once from all its stored events, however many chunks named it; should the
    import stop before, the worker's facts upgrade re-folds them (the mark is the same as an
    older fold's). Never commits."""
    if not accepted:
        return
    template = {**new_client_rows([""], snapshot, now)[0], "facts": STALE_FACTS}
    await repository.mark_stale(session, list(accepted), template)
    upserted = sorted(c for c, items in accepted.items() if any(item[2] for item in items))
    if not upserted:
        return
    updates = []
    for row in await repository.attributes_of(session, upserted):
        before = dict(row["attribute_times"] or {})
        times = apply_upserts(row, before, accepted[row["client_id"]])
        if times != before:
            updates.append({**row, "attribute_times": times})
    await repository.update_many(session, (*ATTRIBUTE_FIELDS, "attribute_times"), updates)


async def refold_stale(
    session: AsyncSession,
    snapshot: Snapshot,
    now: datetime,
    after: str,
    limit: int,
    skip_locked: bool = False,
) -> list[str]:
    """The second half of the bulk path, one batch: the next clients (in client_id order after
    `after`) whose facts are behind their events, locked (with `skip_locked`, those another
    transaction holds are passed over), each re-folded from all its stored events, assessed and
    stored as the write path stores a client (`store`, with the status change; from no status
    for a client never evaluated, like a new client on the write path).
    Clients of an older fold version are upgraded on the way, as the worker would. Returns the
    ids done; empty when none is left after `after`. Never commits."""
    rows = await repository.lock_stale_facts(session, FACTS_VERSION, after, limit, skip_locked)
    if not rows:
        return []
    client_ids = [row["client_id"] for row in rows]
    history = await events_repository.bodies_of_clients(session, client_ids)
    updates: list[dict[str, Any]] = []
    moves = Moves()
    folded = [facts_from_events(history[row["client_id"]]) for row in rows]
    assessed = assess_many(list(zip(rows, folded, strict=True)), snapshot, now)
    for row, facts, assessment in zip(rows, folded, assessed, strict=True):
        client_id = row["client_id"]
        if dict.get(row, "evaluated"):  # type: ignore[call-overload]
            moves.add(row, row["status"], row["tier"], assessment, now)
        else:
            moves.add(row, None, None, assessment, now)
        updates.append(
            {
                "client_id": client_id,
                "facts": to_json(facts),
                "facts_version": facts.version,
                **assessment.columns,
            }
        )
    await store(session, REFOLD_COLUMNS, updates, moves)
    return client_ids
