"""The fold (`apply`, `summarize`, `follows`) and its JSON form (`to_json`, `from_json`)."""

from __future__ import annotations

import json
from datetime import timedelta

from app.churn.engine import evaluate
from app.churn.facts import (
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
