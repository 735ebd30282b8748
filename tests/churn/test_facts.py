"""The fold (`apply`, `summarize`, `follows`) and its JSON form (`to_json`, `from_json`), including
the positional form of the rows written before versioning (version 1), which must stay readable."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings

from app.churn.engine import evaluate
from app.churn.facts import (
    FACTS_VERSION,
    ClientFacts,
    EventRecord,
    apply,
    copy_facts,
    from_json,
    summarize,
    to_json,
)
from app.policy.schemas import Policy

from .helpers import History, at
from .test_order_independence import EXAMPLES, histories


def legacy_to_json(facts: ClientFacts) -> dict[str, Any]:
    """`to_json` as it was before versioning (version 1), frozen here: the rows it wrote are still
    stored until the worker upgrades them, so `from_json` must keep reading exactly this."""

    def t(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    def d(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "o": [
            [o.order_id, t(o.placed_at), str(o.amount), d(o.margin), str(o.refunded), o.cancelled]
            for o in facts.orders.values()
        ],
        "r": [
            [
                r.request_id,
                t(r.created_at),
                r.channel,
                r.outcome,
                t(r.closed_at),
                r.order_id,
                r.reason_code,
            ]
            for r in facts.requests.values()
        ],
        "f": [
            [
                f.feedback_id,
                t(f.received_at),
                f.kind,
                f.score,
                f.order_id,
                d(f.amount_at_issue),
                f.reason_code,
                t(f.resolved_at),
            ]
            for f in facts.feedback.values()
        ],
        "ch": [t(moment) for moment in facts.churn_notices],
        "rs": [[t(r.at), r.code, r.source, r.ref] for r in facts.reasons],
        "ua": [t(moment) for moment in facts.unanswered_contact_times],
        "lc": t(facts.last_contact_at),
        "lr": t(facts.last_response_at),
        "lm": facts.last_contact_manager_id,
        "m": [[t(moment), manager] for moment, manager in facts.managers],
        "fe": t(facts.first_event_at),
        "lk": None if facts.last_key is None else [t(facts.last_key[0]), facts.last_key[1]],
        "n": facts.events_applied,
    }


def stored(raw: dict[str, Any]) -> dict[str, Any]:
    """Through JSON text and back, as a JSONB column gives it."""
    loaded: dict[str, Any] = json.loads(json.dumps(raw))
    return loaded


def rich_history() -> History:
    """Every event type, a loss and a return, feedback, requests, contacts, managers."""
    history = History()
    history.updated(0, manager_id="m-1")
    first = history.order(0, "120.50", margin="30.10")
    history.order(10, "80", currency="USD", amount_in_base="72.40", margin="20")
    history.order(20, "99.99")
    history.refund(first, 21, "20.50")
    cancelled = history.order(22, "500")
    history.cancel(cancelled, 23)
    a = history.request(24, channel="cart")
    b = history.request(25)
    history.lose(a, 26, reason_code="competitor_price")
    history.convert(b, 27, order_id="o-x")
    history.request(28, channel="inquiry")
    history.contact(29, "no_answer", manager_id="m-1", campaign_id="c-1")
    history.contact(30, "bounced", channel="email")
    history.contact(31, "declined", reason_code="budget_cut", note="not now")
    fb = history.feedback(
        32,
        "complaint",
        score=2,
        order_id=first,
        amount_at_issue="50",
        reason_code="product_quality",
    )
    history.feedback(33, "survey", score=4.5)
    history.resolve(fb, 34)
    history.churned(35, reason_code="budget_cut")
    history.order(90, "60")
    history.add("order.placed", at(95), upsert_manager="m-2", order_id="o-m2", amount="10")
    history.feedback(96, "complaint")
    return history


def test_to_json_is_plain_json_and_round_trips() -> None:
    facts = rich_history().facts()
    raw = to_json(facts)
    text = json.dumps(raw)
    back = from_json(json.loads(text))
    assert back == facts
    assert to_json(back) == raw


def test_a_round_trip_gives_an_equal_evaluation() -> None:
    facts = rich_history().facts()
    back = from_json(json.loads(json.dumps(to_json(facts))))
    for policy in (Policy(), Policy(value_basis="margin", unanswered_contacts=2)):
        for day in (20, 35, 36, 90, 95, 96, 100, 200, 290, 1000):
            assert evaluate(back, policy, at(day)) == evaluate(facts, policy, at(day))
            assert evaluate(back, policy, at(day), 14) == evaluate(facts, policy, at(day), 14)


def test_the_round_trip_of_an_empty_fold() -> None:
    facts = ClientFacts()
    assert from_json(json.loads(json.dumps(to_json(facts)))) == facts


def test_applying_after_a_round_trip_continues_the_fold() -> None:
    history = rich_history()
    events = sorted(history.pairs(), key=lambda pair: pair[0].key)
    head, tail = events[:12], events[12:]
    facts = from_json(json.loads(json.dumps(to_json(summarize(head)))))
    for event, manager in tail:
        assert facts.follows(event)
        apply(facts, event, manager)
    assert facts == summarize(events)


def test_copy_facts_is_independent() -> None:
    facts = rich_history().facts()
    copy = copy_facts(facts)
    assert copy == facts
    apply(copy, EventRecord("late", "order.placed", at(300), {"order_id": "z", "amount": "1"}))
    assert copy != facts
    assert "z" not in facts.orders


def test_what_the_fold_keeps() -> None:
    facts = rich_history().facts()
    assert facts.events_applied == len(rich_history().events)
    assert facts.first_event_at == at(0)
    assert facts.last_key is not None and facts.last_key[0] == at(96)
    assert facts.last_contact_at == at(31)
    assert facts.last_contact_manager_id == "m-1"
    assert facts.managers == [(at(0), "m-1"), (at(95), "m-2")]
    assert [(r.code, r.source) for r in facts.reasons] == [
        ("competitor_price", "request"),
        ("budget_cut", "contact"),
        ("product_quality", "feedback"),
        ("budget_cut", "churned"),
    ]
    assert facts.churn_notices == [at(35)]
    assert len(facts.unanswered_contact_times) == 2


def test_follows_orders_by_time_then_id() -> None:
    facts = ClientFacts()
    first = EventRecord("b", "client.updated", at(1), {})
    assert facts.follows(first)
    apply(facts, first)
    assert not facts.follows(first)
    assert facts.follows(EventRecord("c", "client.updated", at(1), {}))
    assert not facts.follows(EventRecord("a", "client.updated", at(1), {}))
    assert not facts.follows(EventRecord("z", "client.updated", at(1) - timedelta(seconds=1), {}))
    assert facts.follows(EventRecord("a", "client.updated", at(1) + timedelta(seconds=1), {}))


def test_summarize_sorts_and_skips_repeated_ids() -> None:
    history = rich_history()
    pairs = history.pairs()
    shuffled = list(reversed(pairs)) + pairs[:5]
    assert summarize(shuffled) == summarize(pairs)
    assert summarize(shuffled).events_applied == len(pairs)


def test_summarize_is_the_in_order_incremental_fold() -> None:
    pairs = sorted(rich_history().pairs(), key=lambda pair: pair[0].key)
    facts = ClientFacts()
    for event, manager in pairs:
        apply(facts, event, manager)
    assert facts == summarize(pairs)


def test_the_unanswered_streak_depends_on_time_order_not_arrival() -> None:
    history = History()
    history.order(0)
    history.contact(5, "no_answer")
    history.contact(6, "no_answer")
    history.contact(7, "no_answer")
    history.contact(4, "replied")  # arrives last, happened first
    pairs = history.pairs()
    # the write path re-folds when an event does not follow
    facts = ClientFacts()
    seen = []
    for event, manager in pairs:
        seen.append((event, manager))
        if facts.follows(event):
            apply(facts, event, manager)
        else:
            facts = summarize(seen)
    assert facts.unanswered_contact_times == [at(5), at(6), at(7)]
    assert facts.last_response_at == at(4)


# --- versions ----------------------------------------------------------------------------------

# A row as the encoder before versioning wrote it (captured from it, not from the frozen copy).
POSITIONAL_ROW = (
    '{"o":[["o-2","2025-01-02T00:00:00+00:00","120.50","30.10","20.50",false]],'
    '"r":[["rq-5","2025-01-04T00:00:00+00:00","cart","lost","2025-01-05T00:00:00+00:00",null,'
    '"competitor_price"]],'
    '"f":[["fb-9","2025-01-07T00:00:00+00:00","complaint",2.0,"o-2","50",null,null]],'
    '"ch":["2025-01-08T00:00:00+00:00"],'
    '"rs":[["2025-01-05T00:00:00+00:00","competitor_price","request","rq-5"]],'
    '"ua":["2025-01-06T00:00:00+00:00"],"lc":"2025-01-06T00:00:00+00:00","lr":null,"lm":null,'
    '"m":[["2025-01-01T00:00:00+00:00","m-1"]],"fe":"2025-01-01T00:00:00+00:00",'
    '"lk":["2025-01-08T00:00:00+00:00","evt-11"],"n":8}'
)


def small_history() -> History:
    history = History()
    history.updated(0, manager_id="m-1")
    order = history.order(1, "120.50", margin="30.10")
    history.refund(order, 2, "20.50")
    request = history.request(3, channel="cart")
    history.lose(request, 4, reason_code="competitor_price")
    history.contact(5, "no_answer")
    history.feedback(6, "complaint", score=2, order_id=order, amount_at_issue="50")
    history.churned(7)
    return history


def test_a_stored_positional_row_reads_as_version_1() -> None:
    facts = small_history().facts()
    assert legacy_to_json(facts) == json.loads(POSITIONAL_ROW)  # the frozen copy is faithful
    back = from_json(json.loads(POSITIONAL_ROW))
    assert back == facts
    assert back.version == 1
    assert to_json(back) == to_json(facts) | {"version": 1}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_every_fold_round_trips_and_reads_from_its_positional_form(
    history: list[tuple[EventRecord, str | None]],
) -> None:
    facts = summarize(history)
    assert facts.version == FACTS_VERSION
    raw = to_json(facts)
    back = from_json(stored(raw))
    assert back == facts
    assert back.version == FACTS_VERSION
    assert to_json(back) == raw

    old = from_json(stored(legacy_to_json(facts)))
    assert old == facts
    assert old.version == 1
    assert to_json(old) == raw | {"version": 1}


def test_the_named_form() -> None:
    history = History()
    first = history.order(0, "120.50", margin="30.10")
    second = history.order(10, "80")
    history.refund(first, 11, "0.00")
    history.cancel("o-unseen", 12)
    history.contact(13, "no_answer")
    raw = to_json(history.facts())
    assert raw == {
        "version": FACTS_VERSION,
        "orders": [
            {
                "order_id": first,
                "placed_at": at(0).isoformat(),
                "amount": "120.50",
                "margin": "30.10",
                "refunded": "0.00",  # not the default "0": kept, with its exponent
            },
            {"order_id": second, "placed_at": at(10).isoformat(), "amount": "80"},
            {"order_id": "o-unseen", "cancelled": True},
        ],
        "unanswered_contact_times": [at(13).isoformat()],
        "last_contact_at": at(13).isoformat(),
        "first_event_at": at(0).isoformat(),
        "last_key": {"occurred_at": at(13).isoformat(), "id": history.events[-1].id},
        "events_applied": 5,
    }
    assert to_json(ClientFacts()) == {"version": FACTS_VERSION}
    assert from_json({"version": FACTS_VERSION}) == ClientFacts()


def test_a_missing_key_reads_as_its_default_and_an_unknown_key_is_ignored() -> None:
    raw = to_json(rich_history().facts())
    first = raw["orders"][0]
    del first["margin"]
    first["platform_source"] = "shopify"  # a fact a later version may add
    raw["refund_details"] = [{"order_id": first["order_id"]}]
    order = from_json(raw).orders[first["order_id"]]
    assert order.margin is None
    assert order.amount == Decimal("120.50")


def test_a_row_from_a_newer_version_reads_as_this_version() -> None:
    """A rolling deploy: an older process reads what a newer one wrote. It writes it back as its
    own version (without the facts it does not know), so the newer worker re-folds that row."""
    facts = rich_history().facts()
    newer = to_json(facts) | {"version": FACTS_VERSION + 1, "model_inputs": {"x": 1}}
    back = from_json(newer)
    assert back == facts
    assert back.version == FACTS_VERSION


def test_an_event_applied_to_an_older_row_keeps_its_version() -> None:
    """The write path folds a new event into stored facts: a version 1 row stays version 1 (it was
    not re-folded), while a re-fold (`summarize`) or a new client is current."""
    history = rich_history()
    pairs = sorted(history.pairs(), key=lambda pair: pair[0].key)
    old = from_json(stored(legacy_to_json(summarize(pairs[:-1]))))
    event, manager = pairs[-1]
    assert old.follows(event)
    apply(old, event, manager)
    assert old == summarize(pairs)
    assert old.version == 1
    assert to_json(old)["version"] == 1
    assert from_json(stored(to_json(old))).version == 1
    assert copy_facts(old).version == 1
    assert ClientFacts().version == summarize(pairs).version == FACTS_VERSION


def test_a_legacy_read_evaluates_as_the_fold() -> None:
    facts = rich_history().facts()
    back = from_json(stored(legacy_to_json(facts)))
    for policy in (Policy(), Policy(value_basis="margin", unanswered_contacts=2)):
        for day in (20, 35, 96, 200, 1000):
            assert evaluate(back, policy, at(day)) == evaluate(facts, policy, at(day))


def fifty_orders() -> History:
    history = History()
    for week in range(50):
        history.order(7 * week, f"{100 + week}.50")
    return history


def test_the_named_form_stays_compact() -> None:
    """Written on every event: named keys cost at most a third more than the positional form."""
    facts = fifty_orders().facts()
    named = len(json.dumps(to_json(facts), separators=(",", ":")))
    positional = len(json.dumps(legacy_to_json(facts), separators=(",", ":")))
    assert named < positional * 4 / 3, (named, positional)
