"""A client's history, normalised: the fold of its events that the engine evaluates.

`ClientFacts` keeps what the engine needs from every event (orders by id, requests by id, feedback
by id, the current streak of unanswered contacts, recorded reasons, churn notices) and nothing that
depends on the policy or on the clock, so a policy change needs no re-fold and the sweeper needs no
events. `apply` is the fold's step. Applying events in (occurred_at, id) order is the definition of
a client's state; the write path applies a new event incrementally when it sorts after every event
already applied and re-folds the client's events otherwise (`summarize`), so any arrival order gives
the same facts.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

EventKey = tuple[datetime, str]

# The fold that `summarize` computes today, as stored in the JSON (see "JSON form" below). Bump it
# when stored facts must be re-folded from the events: a new fact that older rows lack, or a
# changed step of `apply`. A new fact with a default alone needs no bump to stay readable.
FACTS_VERSION = 2


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One validated event as the core sees it. `data` is JSON-shaped (amounts as strings)."""

    id: str
    type: str
    occurred_at: datetime
    data: Mapping[str, Any]

    @property
    def key(self) -> EventKey:
        return (self.occurred_at, self.id)


_ZERO = Decimal(0)  # immutable: one for every comparison on the hot path


@dataclass(slots=True)
class OrderFact:
    order_id: str
    placed_at: datetime | None = None  # None while only a cancel/refund for it has been seen
    amount: Decimal = Decimal(0)  # in the policy currency
    margin: Decimal | None = None
    refunded: Decimal = Decimal(0)
    cancelled: bool = False

    @property
    def counts(self) -> bool:
        return self.placed_at is not None and not self.cancelled

    @property
    def net(self) -> Decimal:
        return max(self.amount - self.refunded, _ZERO)


@dataclass(slots=True)
class RequestFact:
    request_id: str
    created_at: datetime | None = None
    channel: str | None = None
    outcome: str | None = None  # None (open), "converted", "lost"
    closed_at: datetime | None = None
    order_id: str | None = None
    reason_code: str | None = None

    @property
    def opened_at(self) -> datetime:
        # A close seen without its creation: the close is the best estimate of when it was asked.
        opened = self.created_at or self.closed_at
        assert opened is not None
        return opened


@dataclass(slots=True)
class FeedbackFact:
    feedback_id: str
    received_at: datetime | None = None
    kind: str | None = None
    score: float | None = None
    order_id: str | None = None
    amount_at_issue: Decimal | None = None
    reason_code: str | None = None
    resolved_at: datetime | None = None

    @property
    def open_complaint(self) -> bool:
        return (
            self.kind == "complaint" and self.received_at is not None and self.resolved_at is None
        )


@dataclass(frozen=True, slots=True)
class ReasonRecord:
    """A reason the client (or its request, complaint, notice) gave: the recorded diagnosis."""

    at: datetime
    code: str
    source: str  # "contact", "request", "feedback", "churned"
    ref: str | None = None


@dataclass(slots=True)
class ClientFacts:
    orders: dict[str, OrderFact] = field(default_factory=dict)
    requests: dict[str, RequestFact] = field(default_factory=dict)
    feedback: dict[str, FeedbackFact] = field(default_factory=dict)
    churn_notices: list[datetime] = field(default_factory=list)
    reasons: list[ReasonRecord] = field(default_factory=list)
    # outbound no_answer/bounced contacts since the last reached/replied/inbound one
    unanswered_contact_times: list[datetime] = field(default_factory=list)
    last_contact_at: datetime | None = None
    last_response_at: datetime | None = None
    last_contact_manager_id: str | None = None
    # the manager in charge over time: (from, manager_id), from client attribute upserts
    managers: list[tuple[datetime, str | None]] = field(default_factory=list)
    first_event_at: datetime | None = None
    last_key: EventKey | None = None  # the largest (occurred_at, id) applied
    events_applied: int = 0
    # The fold these facts are complete for: FACTS_VERSION for a fold of all events (`summarize`,
    # a new client), the stored version for facts read back; `apply` keeps it, so an event applied
    # to an older row never passes it off as current. Provenance, not content: not compared.
    version: int = field(default=FACTS_VERSION, compare=False)

    def follows(self, event: EventRecord) -> bool:
        """True when `event` sorts after everything applied, so `apply` alone is exact."""
        return self.last_key is None or event.key > self.last_key


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _order_amounts(data: Mapping[str, Any]) -> tuple[Decimal, Decimal | None]:
    amount = _dec(data["amount"])
    margin = None if data.get("margin") is None else _dec(data["margin"])
    base = data.get("amount_in_base")
    if base is None:
        return amount, margin
    base_amount = _dec(base)
    if margin is not None:
        # margin is in the order's currency: convert at the order's own rate
        margin = margin * base_amount / amount if amount else Decimal(0)
    return base_amount, margin


def apply(facts: ClientFacts, event: EventRecord, manager_id: str | None = None) -> ClientFacts:
    """The fold's step. Mutates and returns `facts`.

    `manager_id` is the `client.manager_id` carried by the event's attribute upsert, if any.
    """
    at = event.occurred_at
    data = event.data
    kind = event.type
    if facts.first_event_at is None or at < facts.first_event_at:
        facts.first_event_at = at
    if facts.last_key is None or event.key > facts.last_key:
        facts.last_key = event.key
    facts.events_applied += 1
    if manager_id is not None:
        facts.managers.append((at, manager_id or None))

    if kind == "order.placed":
        order = facts.orders.setdefault(data["order_id"], OrderFact(data["order_id"]))
        order.placed_at = at
        order.amount, order.margin = _order_amounts(data)
    elif kind == "order.cancelled":
        facts.orders.setdefault(data["order_id"], OrderFact(data["order_id"])).cancelled = True
    elif kind == "order.refunded":
        order = facts.orders.setdefault(data["order_id"], OrderFact(data["order_id"]))
        order.refunded += _dec(data["amount"])
    elif kind == "request.created":
        request = facts.requests.setdefault(data["request_id"], RequestFact(data["request_id"]))
        request.created_at = at
        request.channel = data.get("channel")
    elif kind in ("request.converted", "request.lost"):
        request = facts.requests.setdefault(data["request_id"], RequestFact(data["request_id"]))
        request.outcome = "converted" if kind == "request.converted" else "lost"
        request.closed_at = at
        request.order_id = data.get("order_id")
        request.reason_code = data.get("reason_code")
        if request.reason_code:
            facts.reasons.append(
                ReasonRecord(at, request.reason_code, "request", request.request_id)
            )
    elif kind == "contact.logged":
        _apply_contact(facts, at, data)
    elif kind == "feedback.received":
        item = facts.feedback.setdefault(data["feedback_id"], FeedbackFact(data["feedback_id"]))
        item.received_at = at
        item.kind = data["kind"]
        item.score = None if data.get("score") is None else float(data["score"])
        item.order_id = data.get("order_id")
        item.amount_at_issue = (
            None if data.get("amount_at_issue") is None else _dec(data["amount_at_issue"])
        )
        item.reason_code = data.get("reason_code")
        if item.reason_code:
            facts.reasons.append(ReasonRecord(at, item.reason_code, "feedback", item.feedback_id))
    elif kind == "feedback.resolved":
        item = facts.feedback.setdefault(data["feedback_id"], FeedbackFact(data["feedback_id"]))
        item.resolved_at = at
    elif kind == "client.churned":
        facts.churn_notices.append(at)
        if data.get("reason_code"):
            facts.reasons.append(ReasonRecord(at, data["reason_code"], "churned", event.id))
    # client.updated carries attributes only; the shell stores them.
    return facts


RESPONSE_OUTCOMES = frozenset({"reached", "replied"})
NO_RESPONSE_OUTCOMES = frozenset({"no_answer", "bounced"})


def _apply_contact(facts: ClientFacts, at: datetime, data: Mapping[str, Any]) -> None:
    facts.last_contact_at = at
    if data.get("manager_id"):
        facts.last_contact_manager_id = data["manager_id"]
    if data.get("reason_code"):
        facts.reasons.append(ReasonRecord(at, data["reason_code"], "contact"))
    outcome = data["outcome"]
    if data["direction"] == "inbound" or outcome in RESPONSE_OUTCOMES:
        facts.last_response_at = at
        facts.unanswered_contact_times = []
    elif outcome in NO_RESPONSE_OUTCOMES:
        facts.unanswered_contact_times.append(at)
    # "opened" and "declined" neither break nor extend the streak (see docs/decisions.md)


def summarize(
    events: Iterable[tuple[EventRecord, str | None]],
) -> ClientFacts:
    """Fold events (with their manager upserts) in (occurred_at, id) order, each id once."""
    facts = ClientFacts()
    seen: set[str] = set()
    for event, manager_id in sorted(events, key=lambda pair: pair[0].key):
        if event.id in seen:
            continue
        seen.add(event.id)
        apply(facts, event, manager_id)
    return facts


def copy_facts(facts: ClientFacts) -> ClientFacts:
    return from_json(to_json(facts))


# --- JSON form, stored on the client row (client.facts) --------------------------------------
#
# {"version": 2,
#  "orders": [{"order_id": "o-1", "placed_at": "2025-01-01T00:00:00+00:00", "amount": "120.50",
#              "margin": "30.10", "refunded": "20.50"}, ...],
#  "requests": [...], "feedback": [...], "reasons": [{"at": ..., "code": ..., "source": ...}],
#  "churn_notices": [...], "unanswered_contact_times": [...], "managers": [{"at": ..., ...}],
#  "last_contact_at": ..., "first_event_at": ..., "last_key": {"occurred_at": ..., "id": ...},
#  "events_applied": 7}
#
# Keys are the names of the dataclass fields. A field at its default (None, False, an empty list,
# a zero written exactly "0") is left out, and a read takes the default for a missing key, so a
# new fact with a default reads from older rows without a new version. Lists keep their order
# (JSONB keeps array order, not key order). Rows written before versioning hold positional lists
# under short keys and no "version": they read as version 1.


def _t(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _pt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _d(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _pd(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _nonzero(value: Decimal) -> str | None:
    """A defaulted Decimal as text; None for the default itself (exactly "0": "0.00" is kept, so
    the exponent, which sums carry into stored values, survives the round trip)."""
    text = str(value)
    return None if text == "0" else text


def _zero(text: str | None) -> Decimal:
    return Decimal(0) if text is None else Decimal(text)


def _present(pairs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in pairs.items() if value is not None}


def _order_json(o: OrderFact) -> dict[str, Any]:
    return _present(
        {
            "order_id": o.order_id,
            "placed_at": _t(o.placed_at),
            "amount": _nonzero(o.amount),
            "margin": _d(o.margin),
            "refunded": _nonzero(o.refunded),
            "cancelled": o.cancelled or None,
        }
    )


def _request_json(r: RequestFact) -> dict[str, Any]:
    return _present(
        {
            "request_id": r.request_id,
            "created_at": _t(r.created_at),
            "channel": r.channel,
            "outcome": r.outcome,
            "closed_at": _t(r.closed_at),
            "order_id": r.order_id,
            "reason_code": r.reason_code,
        }
    )


def _feedback_json(f: FeedbackFact) -> dict[str, Any]:
    return _present(
        {
            "feedback_id": f.feedback_id,
            "received_at": _t(f.received_at),
            "kind": f.kind,
            "score": f.score,
            "order_id": f.order_id,
            "amount_at_issue": _d(f.amount_at_issue),
            "reason_code": f.reason_code,
            "resolved_at": _t(f.resolved_at),
        }
    )


def to_json(facts: ClientFacts) -> dict[str, Any]:
    """The facts as JSON-shaped data, with named keys and `version` (see above)."""
    last_key = facts.last_key
    return _present(
        {
            "version": facts.version,
            "orders": [_order_json(o) for o in facts.orders.values()] or None,
            "requests": [_request_json(r) for r in facts.requests.values()] or None,
            "feedback": [_feedback_json(f) for f in facts.feedback.values()] or None,
            "churn_notices": [_t(t) for t in facts.churn_notices] or None,
            "reasons": [
                _present({"at": _t(r.at), "code": r.code, "source": r.source, "ref": r.ref})
                for r in facts.reasons
            ]
            or None,
            "unanswered_contact_times": [_t(t) for t in facts.unanswered_contact_times] or None,
            "last_contact_at": _t(facts.last_contact_at),
            "last_response_at": _t(facts.last_response_at),
            "last_contact_manager_id": facts.last_contact_manager_id,
            "managers": [
                _present({"at": _t(at), "manager_id": manager}) for at, manager in facts.managers
            ]
            or None,
            "first_event_at": _t(facts.first_event_at),
            "last_key": None
            if last_key is None
            else {"occurred_at": _t(last_key[0]), "id": last_key[1]},
            "events_applied": facts.events_applied or None,
        }
    )


def from_json(raw: Mapping[str, Any]) -> ClientFacts:
    """Facts from their JSON form, in any version this code has written.

    A row written by newer code (a rolling deploy) reads as this code's version, without the facts
    this code does not know, and is written back so: the newer code's worker re-folds it."""
    if "version" not in raw:
        return _from_positional(raw)
    orders = [_order_of(item) for item in raw.get("orders", ())]
    requests = [_request_of(item) for item in raw.get("requests", ())]
    feedback = [_feedback_of(item) for item in raw.get("feedback", ())]
    last_key = raw.get("last_key")
    return ClientFacts(
        orders={o.order_id: o for o in orders},
        requests={r.request_id: r for r in requests},
        feedback={f.feedback_id: f for f in feedback},
        churn_notices=[datetime.fromisoformat(t) for t in raw.get("churn_notices", ())],
        reasons=[
            ReasonRecord(datetime.fromisoformat(r["at"]), r["code"], r["source"], r.get("ref"))
            for r in raw.get("reasons", ())
        ],
        unanswered_contact_times=[
            datetime.fromisoformat(t) for t in raw.get("unanswered_contact_times", ())
        ],
        last_contact_at=_pt(raw.get("last_contact_at")),
        last_response_at=_pt(raw.get("last_response_at")),
        last_contact_manager_id=raw.get("last_contact_manager_id"),
        managers=[
            (datetime.fromisoformat(m["at"]), m.get("manager_id")) for m in raw.get("managers", ())
        ],
        first_event_at=_pt(raw.get("first_event_at")),
        last_key=None
        if last_key is None
        else (datetime.fromisoformat(last_key["occurred_at"]), last_key["id"]),
        events_applied=raw.get("events_applied", 0),
        version=min(int(raw["version"]), FACTS_VERSION),
    )


def _order_of(raw: Mapping[str, Any]) -> OrderFact:
    return OrderFact(
        raw["order_id"],
        _pt(raw.get("placed_at")),
        _zero(raw.get("amount")),
        _pd(raw.get("margin")),
        _zero(raw.get("refunded")),
        raw.get("cancelled", False),
    )


def _request_of(raw: Mapping[str, Any]) -> RequestFact:
    return RequestFact(
        raw["request_id"],
        _pt(raw.get("created_at")),
        raw.get("channel"),
        raw.get("outcome"),
        _pt(raw.get("closed_at")),
        raw.get("order_id"),
        raw.get("reason_code"),
    )


def _feedback_of(raw: Mapping[str, Any]) -> FeedbackFact:
    return FeedbackFact(
        raw["feedback_id"],
        _pt(raw.get("received_at")),
        raw.get("kind"),
        raw.get("score"),
        raw.get("order_id"),
        _pd(raw.get("amount_at_issue")),
        raw.get("reason_code"),
        _pt(raw.get("resolved_at")),
    )


def _from_positional(raw: Mapping[str, Any]) -> ClientFacts:
    """Version 1: the rows written before versioning, tuples unpacked by position. Needed until
    the worker's `upgrade_facts` has left no client with facts_version 1."""
    orders = {}
    for order_id, placed, amount, margin, refunded, cancelled in raw["o"]:
        orders[order_id] = OrderFact(
            order_id, _pt(placed), Decimal(amount), _pd(margin), Decimal(refunded), cancelled
        )
    requests = {}
    for request_id, created, channel, outcome, closed, order_id, reason in raw["r"]:
        requests[request_id] = RequestFact(
            request_id, _pt(created), channel, outcome, _pt(closed), order_id, reason
        )
    feedback = {}
    for feedback_id, received, kind, score, order_id, amount, reason, resolved in raw["f"]:
        feedback[feedback_id] = FeedbackFact(
            feedback_id, _pt(received), kind, score, order_id, _pd(amount), reason, _pt(resolved)
        )
    last_key = raw["lk"]
    return ClientFacts(
        orders=orders,
        requests=requests,
        feedback=feedback,
        churn_notices=[datetime.fromisoformat(t) for t in raw["ch"]],
        reasons=[
            ReasonRecord(datetime.fromisoformat(at), code, src, ref)
            for at, code, src, ref in raw["rs"]
        ],
        unanswered_contact_times=[datetime.fromisoformat(t) for t in raw["ua"]],
        last_contact_at=_pt(raw["lc"]),
        last_response_at=_pt(raw["lr"]),
        last_contact_manager_id=raw["lm"],
        managers=[(datetime.fromisoformat(at), manager) for at, manager in raw["m"]],
        first_event_at=_pt(raw["fe"]),
        last_key=None if last_key is None else (datetime.fromisoformat(last_key[0]), last_key[1]),
        events_applied=raw["n"],
        version=1,
    )


__all__ = [
    "FACTS_VERSION",
    "ClientFacts",
    "EventRecord",
    "FeedbackFact",
    "OrderFact",
    "ReasonRecord",
    "RequestFact",
    "apply",
    "copy_facts",
    "from_json",
    "summarize",
    "to_json",
]
