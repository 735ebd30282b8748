"""One write path: record the events (events package), then apply them to their clients (clients
package), in the caller's transaction. Never commits. The events' insert and their clients' lock
are one statement (app.ingest.repository), and the client's new state with its status change and
webhook events another (`clients.service.store`): a single new event costs four round trips in
all, begin and commit included, as many as the minimal transactional ingest of SPEC §13."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.clients import service as clients_service
from app.events import service as events_service
from app.events.schemas import EnvelopeBase
from app.events.service import OutcomeKind
from app.ingest import repository
from app.policy.service import Snapshot


@dataclass
class IngestOutcome:
    """One event of a request: what became of it and its client's state afterwards."""

    index: int
    id: str
    client_id: str
    kind: OutcomeKind
    status: str | None = None
    tier: str | None = None
    signals: list[str] = field(default_factory=list)


async def ingest(
    session: AsyncSession,
    envelopes: list[tuple[int, EnvelopeBase]],
    snapshot: Snapshot,
    now: datetime,
) -> list[IngestOutcome]:
    """Apply validated envelopes (with their index in the request); outcomes in index order."""
    if not envelopes:
        return []
    prepared = events_service.prepare(envelopes)
    client_ids = dict.fromkeys(row["client_id"] for row in prepared.rows)
    inserted, locked = await repository.record_and_lock(
        session, prepared.rows, clients_service.new_client_rows(client_ids, snapshot, now)
    )
    recorded = await events_service.judge(session, prepared, inserted)
    states = await clients_service.apply_events(session, recorded.accepted, snapshot, now, locked)
    untouched = sorted({o.client_id for o in recorded.outcomes} - states.keys())
    states |= await clients_service.outcomes_of(session, untouched)
    out = []
    for outcome in recorded.outcomes:
        result = IngestOutcome(outcome.index, outcome.id, outcome.client_id, outcome.kind)
        state = states.get(outcome.client_id)
        if state is not None:
            result.status, result.tier, result.signals = state.status, state.tier, state.signals
        out.append(result)
    return out
