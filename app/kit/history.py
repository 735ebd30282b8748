"""Synthetic client histories, shaped as `POST /v1/events` takes them.

One builder for `winback demo`, the bench's workload and the tests' builders. An event is the
JSON body of the API (a dict); the first event of a history carries the client's attributes.
A moment is a datetime, or a number of days that the history's clock turns into one:
`days_ago(now)` counts back from now (the demo, the bench), `days_after(t0)` forward (tests).
Nothing here reads the clock or draws random numbers: callers bring `now` and their own
`random.Random`, so the same calls give the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

Event = dict[str, Any]
Moment = float | datetime
Clock = Callable[[float], datetime]


def days_ago(now: datetime) -> Clock:
    return lambda days: now - timedelta(days=days)


def days_after(origin: datetime) -> Clock:
    return lambda days: origin + timedelta(days=days)


def envelope(
    event_id: str,
    kind: str,
    occurred_at: datetime,
    client_id: str,
    data: Mapping[str, Any] | None = None,
    client: Mapping[str, Any] | None = None,
) -> Event:
    """One event as the API takes it; `client` is the attribute upsert it carries, if any."""
    event: Event = {
        "id": event_id,
        "type": kind,
        "occurred_at": occurred_at.isoformat(),
        "client_id": client_id,
        "data": dict(data or {}),
    }
    if client is not None:
        event["client"] = client
    return event


def amount_text(amount: str | float | Decimal) -> str:
    """Amounts given as text stay as they are (tests pin exact strings); numbers get 2 places."""
    return amount if isinstance(amount, str) else f"{float(amount):.2f}"


class History:
    """One client's events, in the order they were added.

    `ids(prefix)` makes the ids the caller leaves out: prefix "" for an event, "o" for an order,
    "rq" for a request, "fb" for a feedback. By default `{client_id}-{n}` for the n-th event and
    `{client_id}-{prefix}{n}` for what the n-th event names.
    """

    def __init__(
        self,
        client_id: str,
        clock: Clock,
        client: Mapping[str, Any] | None = None,
        *,
        ids: Callable[[str], str] | None = None,
    ) -> None:
        self.client_id = client_id
        self.clock = clock
        self.client = client
        self.events: list[Event] = []
        self.moments: list[datetime] = []
        self.ids = ids or self._default_id

    def _default_id(self, prefix: str) -> str:
        return f"{self.client_id}-{prefix}{len(self.events) + 1}"

    def at(self, moment: Moment) -> datetime:
        return moment if isinstance(moment, datetime) else self.clock(moment)

    def event(
        self,
        kind: str,
        moment: Moment,
        data: Mapping[str, Any] | None = None,
        *,
        event_id: str | None = None,
        client: Mapping[str, Any] | None = None,
    ) -> Event:
        """Add an event; the first one carries the client's attributes unless `client` is given."""
        when = self.at(moment)
        if client is None and not self.events:
            client = self.client
        event = envelope(event_id or self.ids(""), kind, when, self.client_id, data, client)
        self.events.append(event)
        self.moments.append(when)
        return event

    def timeline(self) -> list[tuple[Event, datetime]]:
        """(event, occurred_at) pairs, as `clients.service.facts_from_events` folds them."""
        return list(zip(self.events, self.moments, strict=True))

    def in_time_order(self) -> list[Event]:
        """Sort the events by occurred_at (stable) and move the client's attributes to the
        earliest, as an export or a replayed webhook log would give them."""
        pairs = sorted(self.timeline(), key=lambda pair: pair[1])
        if self.client is not None and pairs and pairs[0][0] is not self.events[0]:
            first = self.events[0]
            if first.get("client") is self.client:
                del first["client"]
                pairs[0][0]["client"] = self.client
        self.events = [event for event, _ in pairs]
        self.moments = [when for _, when in pairs]
        return self.events

    # --- orders ----------------------------------------------------------------------------------
    def order(
        self,
        moment: Moment,
        amount: str | float | Decimal = "100",
        order_id: str | None = None,
        **extra: Any,
    ) -> str:
        order_id = order_id or self.ids("o")
        data = {"order_id": order_id, "amount": amount_text(amount), **extra}
        self.event("order.placed", moment, data)
        return order_id

    def orders(self, *moments: Moment, amount: str | float | Decimal = "100") -> list[str]:
        return [self.order(moment, amount) for moment in moments]

    def cancel(self, order_id: str, moment: Moment) -> None:
        self.event("order.cancelled", moment, {"order_id": order_id})

    def refund(self, order_id: str, moment: Moment, amount: str | float | Decimal) -> None:
        self.event("order.refunded", moment, {"order_id": order_id, "amount": amount_text(amount)})

    # --- requests --------------------------------------------------------------------------------
    def request(self, moment: Moment, request_id: str | None = None, channel: str = "quote") -> str:
        request_id = request_id or self.ids("rq")
        self.event("request.created", moment, {"request_id": request_id, "channel": channel})
        return request_id

    def convert(self, request_id: str, moment: Moment, order_id: str | None = None) -> None:
        data = {"request_id": request_id}
        if order_id is not None:
            data["order_id"] = order_id
        self.event("request.converted", moment, data)

    def lose(self, request_id: str, moment: Moment, reason_code: str | None = None) -> None:
        data = {"request_id": request_id}
        if reason_code is not None:
            data["reason_code"] = reason_code
        self.event("request.lost", moment, data)

    # --- contacts, feedback, churn notices, attribute updates -----------------------------------
    def contact(
        self,
        moment: Moment,
        outcome: str = "no_answer",
        direction: str = "outbound",
        channel: str = "call",
        **extra: Any,
    ) -> None:
        data = {"channel": channel, "direction": direction, "outcome": outcome, **extra}
        self.event("contact.logged", moment, data)

    def feedback(
        self,
        moment: Moment,
        kind: str = "complaint",
        score: float | None = None,
        feedback_id: str | None = None,
        **extra: Any,
    ) -> str:
        feedback_id = feedback_id or self.ids("fb")
        data: dict[str, Any] = {"feedback_id": feedback_id, "kind": kind, **extra}
        if score is not None:
            data["score"] = score
        self.event("feedback.received", moment, data)
        return feedback_id

    def resolve(self, feedback_id: str, moment: Moment) -> None:
        self.event("feedback.resolved", moment, {"feedback_id": feedback_id})

    def churned(self, moment: Moment, reason_code: str | None = None) -> None:
        self.event(
            "client.churned", moment, {} if reason_code is None else {"reason_code": reason_code}
        )

    def updated(self, moment: Moment, manager_id: str | None = None) -> None:
        """`client.updated`; with `manager_id`, the upsert that hands the client to a manager."""
        client = None if manager_id is None else {"manager_id": manager_id}
        self.event("client.updated", moment, {}, client=client)
