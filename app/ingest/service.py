"""One write path: record the events (events package), then apply them to their clients (clients
package), in the caller's transaction. Never commits."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.clients import service as clients_service
from app.events import service as events_service
from app.events.schemas import EnvelopeBase
from app.events.service import OutcomeKind
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
    recorded = await events_service.record(session, envelopes)
    states = await clients_service.apply_events(session, recorded.accepted, snapshot, now)
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
