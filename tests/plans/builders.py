"""Client histories for plan tests: events by day number, folded with the real `summarize`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.churn.engine import ClientState, evaluate
from app.churn.facts import ClientFacts, EventRecord, summarize
from app.plans import ClientProfile, RecoveryPlan, plan
from app.policy.schemas import Policy

T0 = datetime(2025, 1, 1, tzinfo=UTC)
POLICY = Policy()


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


class History:
    """A client's events. `regular()` gives five orders 30 days apart (days 0..120): cycle 30,
    at risk from day 165, lost at day 210."""

    def __init__(self) -> None:
        self.events: list[tuple[EventRecord, str | None]] = []

    def add(
        self, kind: str, day: float, data: dict[str, Any], manager: str | None = None
    ) -> History:
        event = EventRecord(f"e{len(self.events)}", kind, at(day), data)
        self.events.append((event, manager))
        return self

    def order(
        self,
        day: float,
        amount: str = "1000.00",
        order_id: str | None = None,
        margin: str | None = None,
        manager: str | None = None,
    ) -> History:
        data: dict[str, Any] = {"order_id": order_id or f"o-{day:g}", "amount": amount}
        if margin is not None:
            data["margin"] = margin
        return self.add("order.placed", day, data, manager)

    def regular(self, amount: str = "1000.00", manager: str | None = "m-7") -> History:
        for day in range(0, 121, 30):
            self.order(day, amount, manager=manager if day == 0 else None)
        return self

    def complaint(
        self,
        day: float,
        feedback_id: str = "fb-9",
        order_id: str | None = None,
        amount_at_issue: str | None = None,
        reason: str | None = None,
    ) -> History:
        data: dict[str, Any] = {"feedback_id": feedback_id, "kind": "complaint"}
        if order_id:
            data["order_id"] = order_id
        if amount_at_issue:
            data["amount_at_issue"] = amount_at_issue
        if reason:
            data["reason_code"] = reason
        return self.add("feedback.received", day, data)

    def resolve(self, day: float, feedback_id: str = "fb-9") -> History:
        return self.add("feedback.resolved", day, {"feedback_id": feedback_id})

    def survey(self, day: float, score: float, feedback_id: str = "sv-1") -> History:
        return self.add(
            "feedback.received", day, {"feedback_id": feedback_id, "kind": "survey", "score": score}
        )

    def request_lost(self, day: float, request_id: str, reason: str | None = None) -> History:
        self.add("request.created", day, {"request_id": request_id, "channel": "quote"})
        data: dict[str, Any] = {"request_id": request_id}
        if reason:
            data["reason_code"] = reason
        return self.add("request.lost", day, data)

    def contact(
        self,
        day: float,
        outcome: str = "no_answer",
        reason: str | None = None,
        manager_id: str | None = None,
        direction: str = "outbound",
    ) -> History:
        data: dict[str, Any] = {"channel": "call", "direction": direction, "outcome": outcome}
        if reason:
            data["reason_code"] = reason
        if manager_id:
            data["manager_id"] = manager_id
        return self.add("contact.logged", day, data)

    def churned(self, day: float, reason: str | None = None) -> History:
        return self.add("client.churned", day, {"reason_code": reason} if reason else {})

    def manager(self, day: float, manager_id: str) -> History:
        return self.add("client.updated", day, {}, manager_id)

    def facts(self) -> ClientFacts:
        return summarize(self.events)


def situation(
    history: History, day: float, policy: Policy = POLICY, **profile: Any
) -> tuple[ClientProfile, ClientState, ClientFacts]:
    facts = history.facts()
    state = evaluate(facts, policy, at(day))
    return ClientProfile(client_id="acme", **profile), state, facts


def make_plan(
    history: History, day: float, policy: Policy = POLICY, **profile: Any
) -> RecoveryPlan:
    client, state, facts = situation(history, day, policy, **profile)
    return plan(client, state, facts, policy, at(day))
