"""Realistic synthetic events: client histories for the population, and live traffic.

Population (`Workload.history`): ~100k clients, most with several orders at their own cycle, some
that stopped long ago (at risk / lost relative to now), a few recovered, prospects with requests
only, and on top contacts (some unanswered three times), requests (some lost), complaints (some
resolved), surveys and churn notices. All events lie in the past and each client's come in time
order, as an export or a replayed webhook log would.

Live traffic (`Workload.live_event`, `Workload.live_batch`): mostly `order.placed`, dated now;
~70 % for existing clients (the update path), ~30 % for new ones (the create path). Every event id
is unique (a per-run tag plus a counter), so every request is a real insert.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

DAY = 86_400.0
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


def client_id(index: int) -> str:
    return f"c{index:07d}"


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


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

    # --- ids ---------------------------------------------------------------------------------

    def _id(self) -> str:
        self.seq += 1
        return f"e{self.tag}-{self.seq}"

    def _event(
        self, kind: str, cid: str, ts: float, data: dict[str, Any], attrs: dict[str, Any] | None
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": self._id(),
            "type": kind,
            "occurred_at": iso(ts),
            "client_id": cid,
            "data": data,
        }
        if attrs:
            event["client"] = attrs
        return event

    def _attrs(self, cid: str, market: str) -> dict[str, Any]:
        attrs: dict[str, Any] = {"name": f"Client {cid}", "market": market}
        if market == "b2b":
            attrs["manager_id"] = f"m-{self.rng.randrange(1, 26):02d}"
        else:
            attrs["email"] = f"{cid}@example.test"
        return attrs

    # --- population --------------------------------------------------------------------------

    def history(self, cid: str, now: float) -> list[dict[str, Any]]:
        """One client's whole history, in time order, all before `now`."""
        rng = self.rng
        market = "b2b" if rng.random() < 0.35 else "b2c"
        attrs = self._attrs(cid, market)
        stamped: list[tuple[float, str, dict[str, Any]]] = []
        profile = rng.random()
        if profile < 0.08:  # prospect: asked, never bought
            t = now - rng.uniform(4, 90) * DAY
            for k in range(rng.randint(1, 2)):
                stamped.append(
                    (
                        t + k * DAY,
                        "request.created",
                        {"request_id": f"r-{cid}-{k}", "channel": "quote"},
                    )
                )
            if rng.random() < 0.5:
                stamped.append(
                    (
                        t + 3 * DAY,
                        "contact.logged",
                        {"channel": "call", "direction": "outbound", "outcome": "reached"},
                    )
                )
            return self._emit(cid, attrs, stamped)

        cycle = rng.uniform(14, 90) if market == "b2c" else rng.uniform(20, 120)
        if profile < 0.55:
            lapse = rng.uniform(0.0, 1.2)  # buying on time
        elif profile < 0.72:
            lapse = rng.uniform(1.6, 2.8)  # overdue: at risk
        elif profile < 0.94:
            lapse = rng.uniform(3.3, 6.0)  # stopped long ago: lost
        else:
            lapse = rng.uniform(0.0, 0.6)  # came back after a long gap: recovered
        last = now - lapse * cycle * DAY - rng.uniform(0, DAY)
        orders = rng.choices((1, 2, 3, 4, 5, 6, 7, 8), weights=(10, 16, 20, 18, 14, 10, 6, 6))[0]
        times = [last]
        for _ in range(orders - 1):
            times.append(times[-1] - cycle * rng.uniform(0.6, 1.4) * DAY)
        if profile >= 0.94 and len(times) > 1:
            gap = rng.uniform(4, 6) * cycle * DAY
            times = [times[0]] + [t - gap for t in times[1:]]
        times.reverse()
        base = min(rng.paretovariate(1.2), 300.0) * (40.0 if market == "b2c" else 900.0)
        volume_drop = rng.random() < 0.04
        for k, t in enumerate(times):
            amount = base * rng.uniform(0.6, 1.4)
            if volume_drop and k == len(times) - 1:
                amount *= 0.2
            stamped.append(
                (
                    t,
                    "order.placed",
                    {"order_id": f"o-{cid}-{k}", "amount": f"{amount:.2f}", "currency": "EUR"},
                )
            )
        span = now - last

        def after_last() -> float:
            return last + rng.uniform(0.05, 0.95) * span

        if rng.random() < 0.12:  # outbound touches, sometimes three unanswered in a row
            unanswered = rng.random() < 0.5
            for _ in range(rng.randint(1, 3) if not unanswered else 3):
                outcome = (
                    "no_answer" if unanswered else rng.choice(("reached", "replied", "opened"))
                )
                stamped.append(
                    (
                        after_last(),
                        "contact.logged",
                        {
                            "channel": rng.choice(("call", "email")),
                            "direction": "outbound",
                            "outcome": outcome,
                            "manager_id": attrs.get("manager_id"),
                        }
                        if market == "b2b"
                        else {"channel": "email", "direction": "outbound", "outcome": outcome},
                    )
                )
        if rng.random() < 0.08:  # requests after the last order, some lost
            for k in range(rng.randint(1, 3)):
                t = after_last()
                rid = f"r-{cid}-{k}"
                stamped.append((t, "request.created", {"request_id": rid, "channel": "quote"}))
                if rng.random() < 0.5:
                    stamped.append(
                        (
                            t + 0.5 * (now - t),
                            "request.lost",
                            {"request_id": rid, "reason_code": rng.choice(REASONS)},
                        )
                    )
        if rng.random() < 0.06:  # a complaint, half of them resolved
            t = after_last()
            fid = f"f-{cid}"
            stamped.append(
                (
                    t,
                    "feedback.received",
                    {
                        "feedback_id": fid,
                        "kind": "complaint",
                        "reason_code": rng.choice(REASONS),
                        "note": "late delivery",
                    },
                )
            )
            if rng.random() < 0.5:
                stamped.append((t + 0.5 * (now - t), "feedback.resolved", {"feedback_id": fid}))
        if rng.random() < 0.05:
            stamped.append(
                (
                    after_last(),
                    "feedback.received",
                    {"feedback_id": f"s-{cid}", "kind": "survey", "score": rng.randint(2, 10)},
                )
            )
        if 0.72 <= profile < 0.94 and rng.random() < 0.1:
            stamped.append((after_last(), "client.churned", {"reason_code": rng.choice(REASONS)}))
        return self._emit(cid, attrs, stamped)

    def _emit(
        self, cid: str, attrs: dict[str, Any], stamped: list[tuple[float, str, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        stamped.sort(key=lambda item: item[0])
        return [
            self._event(kind, cid, ts, data, attrs if k == 0 else None)
            for k, (ts, kind, data) in enumerate(stamped)
        ]

    def population_batches(
        self, clients: int, now: float, size: int = 1000
    ) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """Batches of whole client histories, at most `size` events each: (events, clients)."""
        batch: list[dict[str, Any]] = []
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

    def _live_data(self, cid: str) -> tuple[str, dict[str, Any]]:
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

    def live_event(self, now: float | None = None) -> dict[str, Any]:
        rng = self.rng
        ts = (now or time.time()) - rng.uniform(0, 30)
        if self.existing and rng.random() < self.existing_share:
            cid = client_id(rng.randrange(self.existing))
            attrs = None
        else:
            cid = f"n{self.tag}-{self.seq + 1}"
            attrs = self._attrs(cid, rng.choice(("b2b", "b2c")))
        kind, data = self._live_data(cid)
        if kind == "client.updated":
            attrs = attrs or {"tags": ["vip"]}
            return self._event(kind, cid, ts, {}, attrs)
        return self._event(kind, cid, ts, data, attrs)

    def _next_existing(self) -> str:
        cid = client_id(self._order[self._existing_cursor % len(self._order)])
        self._existing_cursor += 1
        return cid

    def live_batch(self, size: int = 1000) -> list[dict[str, Any]]:
        """`size` events: about half new events for existing clients (1-3 each, dated now;
        disjoint client sets from one batch to the next), half whole histories of new clients."""
        now = time.time()
        events: list[dict[str, Any]] = []
        while len(events) < size:
            if self.existing and self.rng.random() < 0.72:
                cid = self._next_existing()
                for k in range(min(self.rng.randint(1, 3), size - len(events))):
                    kind, data = self._live_data(cid)
                    if kind == "client.updated":
                        kind, data = (
                            "order.placed",
                            {"order_id": f"o-{self._id()}", "amount": "10.00", "currency": "EUR"},
                        )
                    events.append(self._event(kind, cid, now - 1 + k * 0.01, data, None))
            else:
                cid = f"n{self.tag}-{self.seq + 1}"
                history = self.history(cid, now)
                events.extend(history[: size - len(events)])
        return events
