"""Builders for churn-engine tests: a client's history as events, folded and evaluated.

Days are counted from T0 (2025-01-01T00:00:00Z); every moment is a fixed, UTC-aware datetime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.churn.engine import ClientState, evaluate
from app.churn.facts import ClientFacts, EventRecord, summarize
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
    """A client's events, in the order they were written (not necessarily time order)."""

    def __init__(self) -> None:
        self.events: list[EventRecord] = []
        self.managers: dict[str, str | None] = {}
        self._ids = 0

    def _next(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def add(
        self,
        type_: str,
        when: datetime,
        upsert_manager: str | None = None,
        event_id: str | None = None,
        **data: Any,
    ) -> EventRecord:
        """Record an event; `upsert_manager` is the `client.manager_id` its envelope carries."""
        event = EventRecord(event_id or self._next("evt-"), type_, when, data)
        self.events.append(event)
        self.managers[event.id] = upsert_manager
        return event

    # --- orders --------------------------------------------------------------------------------
    def order(
        self, day: float, amount: str = "100", order_id: str | None = None, **extra: Any
    ) -> str:
        order_id = order_id or self._next("o-")
        self.add("order.placed", at(day), order_id=order_id, amount=amount, **extra)
        return order_id

    def order_at(
        self, when: datetime, amount: str = "100", order_id: str | None = None, **extra: Any
    ) -> str:
        order_id = order_id or self._next("o-")
        self.add("order.placed", when, order_id=order_id, amount=amount, **extra)
        return order_id

    def orders(self, *day_list: float, amount: str = "100") -> list[str]:
        return [self.order(day, amount) for day in day_list]

    def cancel(self, order_id: str, day: float) -> None:
        self.add("order.cancelled", at(day), order_id=order_id)

    def refund(self, order_id: str, day: float, amount: str) -> None:
        self.add("order.refunded", at(day), order_id=order_id, amount=amount)

    # --- requests ------------------------------------------------------------------------------
    def request(self, day: float, request_id: str | None = None, channel: str = "quote") -> str:
        request_id = request_id or self._next("rq-")
        self.add("request.created", at(day), request_id=request_id, channel=channel)
        return request_id

    def convert(self, request_id: str, day: float, order_id: str | None = None) -> None:
        data: dict[str, Any] = {"request_id": request_id}
        if order_id is not None:
            data["order_id"] = order_id
        self.add("request.converted", at(day), **data)

    def lose(self, request_id: str, day: float, reason_code: str | None = None) -> None:
        data: dict[str, Any] = {"request_id": request_id}
        if reason_code is not None:
            data["reason_code"] = reason_code
        self.add("request.lost", at(day), **data)

    # --- contacts and feedback -----------------------------------------------------------------
    def contact(
        self,
        day: float,
        outcome: str = "no_answer",
        direction: str = "outbound",
        channel: str = "call",
        **extra: Any,
    ) -> None:
        self.add(
            "contact.logged",
            at(day),
            channel=channel,
            direction=direction,
            outcome=outcome,
            **extra,
        )

    def feedback(
        self,
        day: float,
        kind: str = "complaint",
        score: float | None = None,
        feedback_id: str | None = None,
        **extra: Any,
    ) -> str:
        feedback_id = feedback_id or self._next("fb-")
        data: dict[str, Any] = {"feedback_id": feedback_id, "kind": kind, **extra}
        if score is not None:
            data["score"] = score
        self.add("feedback.received", at(day), **data)
        return feedback_id

    def resolve(self, feedback_id: str, day: float) -> None:
        self.add("feedback.resolved", at(day), feedback_id=feedback_id)

    def churned(self, day: float, reason_code: str | None = None) -> None:
        data: dict[str, Any] = {}
        if reason_code is not None:
            data["reason_code"] = reason_code
        self.add("client.churned", at(day), **data)

    def updated(self, day: float, manager_id: str | None = None) -> None:
        self.add("client.updated", at(day), upsert_manager=manager_id)

    # --- folding and evaluating ----------------------------------------------------------------
    def pairs(self, until: datetime | None = None) -> list[tuple[EventRecord, str | None]]:
        return [
            (event, self.managers[event.id])
            for event in self.events
            if until is None or event.occurred_at <= until
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
