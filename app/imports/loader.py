"""The database side of an import, on the services and repositories every write uses.

`load_chunk` stores one chunk in the caller's transaction: COPY into a staging table and one
set-based insert into `event` (`events.repository.insert_staged`: idempotent by id, conflicts
found set-based, erased ids skipped by the trigger), then `clients.service.mark_for_refold` for
the clients of the events inserted. `refold` then re-folds each marked client once, from all its
stored events (`clients.service.refold_stale`, ending in `store` like every write).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients import service as clients_service
from app.events import repository as events_repository
from app.imports.prepare import Chunk, Rejected, same_event
from app.policy.service import Snapshot, load_snapshot

CONFLICT = "conflict: this event id is already stored with another body (the API answers 409)"


@dataclass
class ChunkOutcome:
    accepted: int = 0
    duplicates: int = 0
    conflicts: list[Rejected] = field(default_factory=list)
    clients: set[str] = field(default_factory=set)


async def load_chunk(
    session: AsyncSession, chunk: Chunk, snapshot: Snapshot, now: datetime
) -> ChunkOutcome:
    """Record the chunk's events and mark their clients, in the caller's transaction."""
    if not chunk.events:
        return ChunkOutcome(duplicates=chunk.duplicates)
    records = [event[:7] for event in chunk.events]  # line, id, ..., digest: STAGED_COLUMNS
    inserted, conflicts = await events_repository.insert_staged(session, records)
    by_id = {event.id: event for event in chunk.events}
    accepted: dict[str, list[clients_service.BulkEvent]] = defaultdict(list)
    for event_id in inserted:
        event = by_id[event_id]
        accepted[event.client_id].append((event.occurred_at, event.id, event.client))
    await clients_service.mark_for_refold(session, accepted, snapshot, now)
    refused = [
        Rejected(line, event_id, "id", CONFLICT)
        for line, event_id, stored in conflicts
        if not same_event(stored, by_id[event_id].digest)
    ]
    return ChunkOutcome(
        accepted=len(inserted),
        duplicates=chunk.duplicates + len(chunk.events) - len(inserted) - len(refused),
        conflicts=refused,
        clients=set(accepted),
    )


async def refold(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: datetime,
    batch_size: int,
    progress: Callable[[int], None],
    workers: int = 2,
    final_pass: bool = True,
) -> int:
    """Re-fold every client whose facts are behind its events, in batches (one transaction
    each, in client_id order); `progress` gets the running count. Returns how many.

    Two workers pass over each other's locked rows (and over those of another process doing
    the same), so one folds and assesses in Python while PostgreSQL stores the other's batch;
    a last pass then waits for whatever rows another writer held meanwhile."""
    done = 0

    async def worker(skip_locked: bool) -> None:
        nonlocal done
        after = ""
        while True:
            async with sessionmaker() as session, session.begin():
                snapshot = await load_snapshot(session)
                batch = await clients_service.refold_stale(
                    session, snapshot, now, after, batch_size, skip_locked
                )
            if not batch:
                return
            done += len(batch)
            after = batch[-1]
            progress(done)

    await asyncio.gather(*(worker(skip_locked=True) for _ in range(workers)))
    if final_pass:
        await worker(skip_locked=False)
    return done
