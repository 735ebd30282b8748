"""Builders for churn-engine tests: a client's history as events, folded and evaluated.

Days are counted from T0 (2025-01-01T00:00:00Z); every moment is a fixed, UTC-aware datetime.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.churn.engine import ClientState, evaluate
from app.churn.facts import ClientFacts, EventRecord, summarize
from app.clients.service import manager_change, record_of
from app.kit.history import History as SyntheticHistory
from app.policy.schemas import Policy

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DEFAULT = Policy()
TICK = timedelta(microseconds=1)


def at(day: float, hours: float = 0) -> datetime:
    """The moment `day` days (and `hours` hours) after T0."""
    return T0 + timedelta(days=day, hours=hours)


def around(moment: datetime) -> tuple[datetime, datetime, datetime, datetime]:
    """(the day before, the instant before, the moment itself, the day after)."""
    return moment - timedelta(days=1), moment - TICK, moment, moment + timedelta(days=1)


class History:
    """A client's events, in the order they were written (not necessarily time order).

    The events are built by the shared builder (`app.kit.history.History`, days counted from T0;
    ids evt-1, o-2, ... from one counter): `order`, `orders`, `cancel`, `refund`, `request`,
    `convert`, `lose`, `contact`, `feedback`, `resolve`, `churned` and `updated` are its methods.
    They become records the way the service reads stored events (`record_of`, `manager_change`).
    """

    def __init__(self) -> None:
        counter = itertools.count(1)
        self.written = SyntheticHistory(
            "acme", at, ids=lambda prefix: f"{prefix or 'evt'}-{next(counter)}"
        )

    def __getattr__(self, name: str) -> Any:
        if name == "written":  # not built yet (copy, pickle)
            raise AttributeError(name)
        return getattr(self.written, name)

    @property
    def events(self) -> list[EventRecord]:
        return [event for event, _ in self.pairs()]

    def add(
        self,
        type_: str,
        when: datetime,
        upsert_manager: str | None = None,
        event_id: str | None = None,
        **data: Any,
    ) -> EventRecord:
        """Record an event; `upsert_manager` is the `client.manager_id` its envelope carries."""
        client = None if upsert_manager is None else {"manager_id": upsert_manager}
        body = self.written.event(type_, when, data, event_id=event_id, client=client)
        return record_of(body, when)

    def order_at(
        self, when: datetime, amount: str = "100", order_id: str | None = None, **extra: Any
    ) -> str:
        return self.written.order(when, amount, order_id, **extra)

    # --- folding and evaluating ----------------------------------------------------------------
    def pairs(self, until: datetime | None = None) -> list[tuple[EventRecord, str | None]]:
        return [
            (record_of(body, when), manager_change(body))
            for body, when in self.written.timeline()
            if until is None or when <= until
        ]

    def facts(self, until: datetime | None = None) -> ClientFacts:
        return summarize(self.pairs(until))

    def state(
        self,
        now: datetime | float,
        policy: Policy = DEFAULT,
        market_cycle_days: float | None = None,
        as_of: bool = True,
    ) -> ClientState:
        """Evaluate at `now` (a datetime, or a day number). With `as_of`, only the events that
        occurred at or before `now` are folded, as `GET ...?as_of=` does."""
        moment = now if isinstance(now, datetime) else at(now)
        facts = self.facts(moment if as_of else None)
        return evaluate(facts, policy, moment, market_cycle_days)


def codes(state: ClientState) -> list[str]:
    return [signal.code for signal in state.signals]


def signal(state: ClientState, code: str) -> Any:
    found = [s for s in state.signals if s.code == code]
    assert found, f"no {code!r} signal in {codes(state)}"
    return found[0]


def has(state: ClientState, code: str) -> bool:
    return code in codes(state)


def fingerprint(state: ClientState) -> tuple[Any, ...]:
    """What may change only at `next_review_at`: status, watch, losses, signals and their
    evidence (the lapsed signal's day counts grow continuously, so only its code and since)."""
    signals = tuple(
        (s.code, s.since, None if s.code == "lapsed" else repr(sorted(s.detail.items())))
        for s in state.signals
    )
    return (
        state.status,
        state.in_watch,
        state.lost_count,
        state.last_lost_at,
        state.unconverted_requests,
        signals,
    )


def weekly_buyer(weeks: int = 6, start: float = 0, amount: str = "100") -> History:
    history = History()
    for week in range(weeks):
        history.order(start + 7 * week, amount)
    return history


def every(step: float, first: float, last: float) -> Iterable[float]:
    day = first
    while day <= last:
        yield day
        day += step


Check = Callable[[ClientState], bool]
