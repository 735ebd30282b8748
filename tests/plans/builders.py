"""Client histories for plan tests: events by day number (from the churn tests' T0), folded the
way the service folds stored events (`facts_from_events`)."""

from __future__ import annotations

from typing import Any

from app.churn.engine import ClientState, evaluate
from app.churn.facts import ClientFacts
from app.clients.service import facts_from_events
from app.kit.history import History as SyntheticHistory
from app.plans import ClientProfile, RecoveryPlan, plan
from app.policy.schemas import Policy
from tests.churn.helpers import at

POLICY = Policy()


class History:
    """A client's events, chained. `regular()` gives five orders 30 days apart (days 0..120):
    cycle 30, at risk from day 165, lost at day 210. Built by the shared builder
    (`app.kit.history.History`, days from T0, event ids e0, e1, ...)."""

    def __init__(self) -> None:
        self.written = SyntheticHistory("acme", at, ids=lambda _: f"e{len(self.written.events)}")

    def add(
        self, kind: str, day: float, data: dict[str, Any], manager: str | None = None
    ) -> History:
        client = None if manager is None else {"manager_id": manager}
        self.written.event(kind, day, data, client=client)
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
        given = {"order_id": order_id, "amount_at_issue": amount_at_issue, "reason_code": reason}
        extra = {key: value for key, value in given.items() if value}
        self.written.feedback(day, "complaint", feedback_id=feedback_id, **extra)
        return self

    def resolve(self, day: float, feedback_id: str = "fb-9") -> History:
        self.written.resolve(feedback_id, day)
        return self

    def survey(self, day: float, score: float, feedback_id: str = "sv-1") -> History:
        self.written.feedback(day, "survey", score, feedback_id)
        return self

    def request_lost(self, day: float, request_id: str, reason: str | None = None) -> History:
        self.written.request(day, request_id)
        self.written.lose(request_id, day, reason or None)
        return self

    def contact(
        self,
        day: float,
        outcome: str = "no_answer",
        reason: str | None = None,
        manager_id: str | None = None,
        direction: str = "outbound",
    ) -> History:
        given = {"reason_code": reason, "manager_id": manager_id}
        extra = {key: value for key, value in given.items() if value}
        self.written.contact(day, outcome, direction, **extra)
        return self

    def churned(self, day: float, reason: str | None = None) -> History:
        self.written.churned(day, reason or None)
        return self

    def manager(self, day: float, manager_id: str) -> History:
        self.written.updated(day, manager_id)
        return self

    def facts(self) -> ClientFacts:
        return facts_from_events(self.written.timeline())


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
