"""Group commit for single events: `POST /v1/events` requests that arrive while earlier ones are
being written wait and are then written together, in one transaction through the batch path
(`ingest` with several envelopes), and each request answers with its own event's outcome once
that transaction has committed.

Why: a single event alone costs a transaction (begin, the insert-and-lock, the store, commit),
and with the web layer's own work one API process spent ~1.5 ms of CPU an event, where the batch
path spends ~0.14 ms an event; under concurrent load the events that queue behind a write go in
the next write together (docs/decisions.md). Nothing about an event's meaning changes: the same
fold and evaluation (the batch path must give the state single events give, a test compares),
idempotency by id within and across groups, a 2xx only after the commit that holds the event.
A lone request is a group of one, written at once; at most `in_flight` groups are written at
a time (each holds a connection), so a burst forms fewer, larger groups instead of more
transactions contending for the same cores.

When a group's transaction fails (a deadlock with another writer, a statement timeout, a bug
one event triggers), each of its events is written again in a transaction of its own, so one
event's failure is its own request's error and no other's; once the database is out of reach
the rest of the group fails with that error at once (a 503 that says retry), not one connect
timeout after another.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from app.db import OpenSession
from app.events.schemas import EnvelopeBase
from app.ingest.service import IngestOutcome, ingest
from app.kit import metrics
from app.kit.problems import database_out_of_reach
from app.policy.service import Snapshot


@dataclass(slots=True)
class _Waiting:
    event: EnvelopeBase
    snapshot: Snapshot
    now: datetime
    done: "asyncio.Future[IngestOutcome]"


class EventGroups:
    """The per-process queue of single events waiting to be written (see the module).

    `scope` opens a session in a transaction of its own, committed when the scope exits (the
    worker's kind of scope; tests give their rolled-back one)."""

    def __init__(self, scope: OpenSession, max_events: int, in_flight: int) -> None:
        self.scope = scope
        self.max_events = max(1, max_events)
        self.in_flight = max(1, in_flight)
        self._queue: list[_Waiting] = []
        self._writing = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def waiting(self) -> int:
        """Events queued for the next group (not yet being written)."""
        return len(self._queue)

    @property
    def writing(self) -> int:
        """Groups being written now."""
        return self._writing

    async def apply(self, event: EnvelopeBase, snapshot: Snapshot, now: datetime) -> IngestOutcome:
        """Write one validated event with whatever else is waiting; its outcome once committed.

        A cancelled caller (the client went away) does not cancel the write: its event is
        committed or not with its group, and a retry with the same id finds it."""
        waiting = _Waiting(event, snapshot, now, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._writing < self.in_flight:
            self._start_group()
        return await waiting.done

    def _start_group(self) -> None:
        group = self._queue[: self.max_events]
        del self._queue[: self.max_events]
        self._writing += 1
        task = asyncio.create_task(self._write(group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, group: list[_Waiting]) -> None:
        try:
            try:
                outcomes = await self._write_together(group)
            except Exception as exc:
                if len(group) == 1:
                    _fail(group[0], exc)
                else:
                    metrics.EVENT_GROUPS.labels("one_by_one").observe(len(group))
                    await self._write_alone(group)
            else:
                metrics.EVENT_GROUPS.labels("together").observe(len(group))
                for outcome in outcomes:  # by index: ingest answers every envelope once
                    _answer(group[outcome.index], outcome)
                for waiting in group:  # and if it did not, no request waits forever
                    _fail(waiting, RuntimeError("the write path gave this event no outcome"))
        except BaseException as exc:  # cancelled at shutdown: no waiter is left hanging
            for waiting in group:
                _fail(waiting, exc)
            raise
        finally:
            self._writing -= 1
            if self._queue and self._writing < self.in_flight:
                self._start_group()

    async def _write_together(self, group: list[_Waiting]) -> list[IngestOutcome]:
        # the latest clock and policy of the group: no event is evaluated before its request came
        now = max(waiting.now for waiting in group)
        snapshot = max((waiting.snapshot for waiting in group), key=lambda s: s.version)
        envelopes = [(index, waiting.event) for index, waiting in enumerate(group)]
        async with self.scope() as session:
            return await ingest(session, envelopes, snapshot, now)

    async def _write_alone(self, group: list[_Waiting]) -> None:
        for number, waiting in enumerate(group):
            try:
                [outcome] = await self._write_together([waiting])
            except Exception as exc:
                _fail(waiting, exc)
                if database_out_of_reach(exc):  # the rest would fail alike, each after a wait
                    for rest in group[number + 1 :]:
                        _fail(rest, exc)
                    return
            else:
                _answer(waiting, outcome)


def _answer(waiting: _Waiting, outcome: IngestOutcome) -> None:
    if not waiting.done.done():  # its caller may have gone away (a cancelled future)
        waiting.done.set_result(outcome)


def _fail(waiting: _Waiting, exc: BaseException) -> None:
    if not waiting.done.done():
        if isinstance(exc, asyncio.CancelledError):
            waiting.done.cancel()
        else:
            waiting.done.set_exception(exc)
