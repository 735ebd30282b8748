"""Realistic synthetic events, built with the shared history builder (`app.kit.history`).

Population (`Workload.history`): most clients with several orders at their own cycle, some that
stopped long ago (at risk / lost relative to now), a few recovered, prospects with requests only,
and on top contacts (some unanswered three times), requests (some lost), complaints (some
resolved), surveys and churn notices. All events lie in the past and each client's come in time
order, as an export or a replayed webhook log would.

Live traffic (`Workload.live_event`, `Workload.live_batch`): mostly `order.placed`, dated now;
~70 % for existing clients (the update path), ~30 % for new ones (the create path). Every event id
is unique (a per-run tag plus a counter), so every request is a real insert.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from app.kit.history import Event, History, days_ago, envelope
from app.kit.time import utcnow

REASONS = (
    "competitor_price",
    "service_quality",
    "delivery_failure",
    "price_increase",
    "budget_cut",
    "need_changed",
    "manager_unavailable",
    "relocation",
)

OUTCOMES = ("reached", "replied", "opened")


def client_id(index: int) -> str:
    return f"c{index:07d}"


class Workload:
    def __init__(self, tag: str, existing: int, seed: int = 7, existing_share: float = 0.7) -> None:
        self.tag = tag
        self.existing = existing
        self.existing_share = existing_share
        self.rng = random.Random(seed)
        self.seq = 0
        self._existing_cursor = 0
        self._order = list(range(existing))
        self.rng.shuffle(self._order)

    def _id(self, prefix: str = "") -> str:
        self.seq += 1
        return f"e{self.tag}-{self.seq}"

    def _attrs(self, cid: str, market: str) -> dict[str, Any]:
        attrs: dict[str, Any] = {"name": f"Client {cid}", "market": market}
        if market == "b2b":
            attrs["manager_id"] = f"m-{self.rng.randrange(1, 26):02d}"
        else:
            attrs["email"] = f"{cid}@example.test"
        return attrs

    # --- population --------------------------------------------------------------------------

    def history(self, cid: str, now: datetime) -> list[Event]:
        """One client's whole history, in time order, all before `now` (moments in days ago)."""
        rng = self.rng
        market = "b2b" if rng.random() < 0.35 else "b2c"
        attrs = self._attrs(cid, market)
        history = History(cid, days_ago(now), attrs, ids=self._id)
        profile = rng.random()
        if profile < 0.08:  # prospect: asked, never bought
            first = rng.uniform(4, 90)
            for k in range(rng.randint(1, 2)):
                history.request(first - k, f"r-{cid}-{k}")
            if rng.random() < 0.5:
                history.contact(first - 3, "reached")
            return history.in_time_order()

        cycle = rng.uniform(14, 90) if market == "b2c" else rng.uniform(20, 120)
        if profile < 0.55:
            lapse = rng.uniform(0.0, 1.2)  # buying on time
        elif profile < 0.72:
            lapse = rng.uniform(1.6, 2.8)  # overdue: at risk
        elif profile < 0.94:
            lapse = rng.uniform(3.3, 6.0)  # stopped long ago: lost
        else:
            lapse = rng.uniform(0.0, 0.6)  # came back after a long gap: recovered
        last = lapse * cycle + rng.uniform(0, 1)
        orders = rng.choices((1, 2, 3, 4, 5, 6, 7, 8), weights=(10, 16, 20, 18, 14, 10, 6, 6))[0]
        ago = [last]
        for _ in range(orders - 1):
            ago.append(ago[-1] + cycle * rng.uniform(0.6, 1.4))
        if profile >= 0.94 and len(ago) > 1:
            gap = rng.uniform(4, 6) * cycle
            ago = [ago[0]] + [days + gap for days in ago[1:]]
        ago.reverse()
        base = min(rng.paretovariate(1.2), 300.0) * (40.0 if market == "b2c" else 900.0)
        volume_drop = rng.random() < 0.04
        for k, days in enumerate(ago):
            amount = base * rng.uniform(0.6, 1.4)
            if volume_drop and k == len(ago) - 1:
                amount *= 0.2
            history.order(days, amount, f"o-{cid}-{k}", currency="EUR")

        def after_last() -> float:
            return last * (1 - rng.uniform(0.05, 0.95))

        if rng.random() < 0.12:  # outbound touches, sometimes three unanswered in a row
            unanswered = rng.random() < 0.5
            for _ in range(rng.randint(1, 3) if not unanswered else 3):
                outcome = "no_answer" if unanswered else rng.choice(OUTCOMES)
                if market == "b2b":
                    days = after_last()
                    channel = rng.choice(("call", "email"))
                    history.contact(days, outcome, channel=channel, manager_id=attrs["manager_id"])
                else:
                    history.contact(after_last(), outcome, channel="email")
        if rng.random() < 0.08:  # requests after the last order, some lost
            for k in range(rng.randint(1, 3)):
                days = after_last()
                request_id = history.request(days, f"r-{cid}-{k}")
                if rng.random() < 0.5:
                    history.lose(request_id, days / 2, rng.choice(REASONS))
        if rng.random() < 0.06:  # a complaint, half of them resolved
            days = after_last()
            feedback_id = history.feedback(
                days, feedback_id=f"f-{cid}", reason_code=rng.choice(REASONS), note="late delivery"
            )
            if rng.random() < 0.5:
                history.resolve(feedback_id, days / 2)
        if rng.random() < 0.05:
            history.feedback(after_last(), "survey", rng.randint(2, 10), f"s-{cid}")
        if 0.72 <= profile < 0.94 and rng.random() < 0.1:
            history.churned(after_last(), rng.choice(REASONS))
        return history.in_time_order()

    def population_batches(
        self, clients: int, now: datetime, size: int = 1000
    ) -> Iterator[tuple[list[Event], int]]:
        """Batches of whole client histories, at most `size` events each: (events, clients)."""
        batch: list[Event] = []
        count = 0
        for index in range(clients):
            events = self.history(client_id(index), now)
            if batch and len(batch) + len(events) > size:
                yield batch, count
                batch, count = [], 0
            batch.extend(events)
            count += 1
        if batch:
            yield batch, count

    # --- live traffic ------------------------------------------------------------------------

    def _live_data(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        r = rng.random()
        if r < 0.80:
            return "order.placed", {
                "order_id": f"o-{self._id()}",
                "amount": f"{rng.uniform(5, 900):.2f}",
                "currency": "EUR",
            }
        if r < 0.88:
            return "contact.logged", {
                "channel": rng.choice(("call", "email", "sms")),
                "direction": "outbound",
                "outcome": rng.choice(("reached", "no_answer", "opened")),
            }
        if r < 0.95:
            return "request.created", {
                "request_id": f"r-{self._id()}",
                "channel": rng.choice(("quote", "inquiry", "cart")),
            }
        if r < 0.98:
            return "feedback.received", {
                "feedback_id": f"f-{self._id()}",
                "kind": "survey",
                "score": rng.randint(3, 10),
            }
        return "client.updated", {}

    def live_event(self, now: datetime | None = None) -> Event:
        rng = self.rng
        when = (now or utcnow()) - timedelta(seconds=rng.uniform(0, 30))
        attrs: dict[str, Any] | None = None
        if self.existing and rng.random() < self.existing_share:
            cid = client_id(rng.randrange(self.existing))
        else:
            cid = f"n{self.tag}-{self.seq + 1}"
            attrs = self._attrs(cid, rng.choice(("b2b", "b2c")))
        kind, data = self._live_data()
        if kind == "client.updated":
            attrs = attrs or {"tags": ["vip"]}
        return envelope(self._id(), kind, when, cid, data, attrs)

    def _next_existing(self) -> str:
        cid = client_id(self._order[self._existing_cursor % len(self._order)])
        self._existing_cursor += 1
        return cid

    def live_batch(self, size: int = 1000) -> list[Event]:
        """`size` events: about half new events for existing clients (1-3 each, dated now;
        disjoint client sets from one batch to the next), half whole histories of new clients."""
        now = utcnow()
        events: list[Event] = []
        while len(events) < size:
            if self.existing and self.rng.random() < 0.72:
                cid = self._next_existing()
                for k in range(min(self.rng.randint(1, 3), size - len(events))):
                    kind, data = self._live_data()
                    if kind == "client.updated":
                        kind = "order.placed"
                        data = {"order_id": f"o-{self._id()}", "amount": "10.00", "currency": "EUR"}
                    when = now - timedelta(seconds=1 - k * 0.01)
                    events.append(envelope(self._id(), kind, when, cid, data))
            else:
                history = self.history(f"n{self.tag}-{self.seq + 1}", now)
                events.extend(history[: size - len(events)])
        return events
