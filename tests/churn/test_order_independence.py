"""SPEC §2: a client's state after any permutation of its events, with any duplicates, equals the
state after applying them in time order. The write path's arrival logic is simulated exactly:
skip a seen id; `apply` when the event sorts after everything applied; re-fold otherwise."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.churn.engine import evaluate
from app.churn.facts import (
    ClientFacts,
    EventRecord,
    apply,
    from_json,
    summarize,
    to_json,
)
from app.policy.schemas import Policy

from .helpers import T0, fingerprint

# More examples for a bug hunt: WINBACK_HYPOTHESIS_EXAMPLES=5000 .venv/bin/pytest tests/churn
EXAMPLES = int(os.environ.get("WINBACK_HYPOTHESIS_EXAMPLES", "150"))

POLICIES = [
    Policy(),
    Policy(
        default_cycle_days=20,
        at_risk_cycles=1.2,
        lost_cycles=2.0,
        unconverted_requests=2,
        request_conversion_days=5,
        unanswered_contacts=2,
        volume_window=2,
        feedback_window_days=30,
        recovery_watch_days=60,
        recovered_at_risk_cycles=0.8,
        value_window_days=60,
    ),
    Policy(value_basis="margin", max_lapse_days=40, min_cycle_days=2, max_cycle_days=30),
]

# A small set of days so that same-day orders, equal timestamps and id tie-breaks all occur.
moments = st.builds(
    lambda day, hour: T0 + timedelta(days=day, hours=hour),
    st.integers(0, 240),
    st.sampled_from([0, 0, 9, 23]),
)
amounts = st.sampled_from(["0", "10", "35.50", "100", "250", "1000"])
order_ids = st.sampled_from([f"o-{i}" for i in range(8)])
request_ids = st.sampled_from([f"rq-{i}" for i in range(5)])
feedback_ids = st.sampled_from([f"fb-{i}" for i in range(4)])
reasons = st.none() | st.sampled_from(["competitor_price", "delivery_failure", "budget_cut"])
managers = st.none() | st.sampled_from(["m-1", "m-2"])


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _order(order_id: str, amount: str, foreign: bool, margin: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"order_id": order_id, "amount": amount, "margin": margin}
    if foreign:
        data["currency"] = "USD"
        data["amount_in_base"] = str(round(float(amount) * 0.9, 2))
    return _drop_none(data)


event_bodies = st.one_of(
    st.tuples(
        st.just("order.placed"),
        st.builds(_order, order_ids, amounts, st.booleans(), st.none() | st.just("7.50")),
    ),
    st.tuples(
        st.just("order.placed"),
        st.builds(_order, order_ids, amounts, st.booleans(), st.none() | st.just("7.50")),
    ),
    st.tuples(
        st.just("order.placed"),
        st.builds(_order, order_ids, amounts, st.just(False), st.none()),
    ),
    st.tuples(st.just("order.cancelled"), st.builds(lambda o: {"order_id": o}, order_ids)),
    st.tuples(
        st.just("order.refunded"),
        st.builds(lambda o, a: {"order_id": o, "amount": a}, order_ids, amounts),
    ),
    st.tuples(
        st.just("request.created"),
        st.builds(
            lambda r, c: {"request_id": r, "channel": c},
            request_ids,
            st.sampled_from(["quote", "cart"]),
        ),
    ),
    st.tuples(
        st.just("request.converted"),
        st.builds(
            lambda r, o: _drop_none({"request_id": r, "order_id": o}), request_ids, order_ids
        ),
    ),
    st.tuples(
        st.just("request.lost"),
        st.builds(
            lambda r, c: _drop_none({"request_id": r, "reason_code": c}), request_ids, reasons
        ),
    ),
    st.tuples(
        st.just("contact.logged"),
        st.builds(
            lambda ch, d, o, m, c: _drop_none(
                {"channel": ch, "direction": d, "outcome": o, "manager_id": m, "reason_code": c}
            ),
            st.sampled_from(["call", "email"]),
            st.sampled_from(["outbound", "outbound", "outbound", "inbound"]),
            st.sampled_from(["no_answer", "no_answer", "bounced", "reached", "replied", "opened"]),
            managers,
            reasons,
        ),
    ),
    st.tuples(
        st.just("feedback.received"),
        st.builds(
            lambda f, k, s, c: _drop_none(
                {"feedback_id": f, "kind": k, "score": s, "reason_code": c}
            ),
            feedback_ids,
            st.sampled_from(["complaint", "survey", "review", "exit_interview"]),
            st.none() | st.integers(0, 10),
            reasons,
        ),
    ),
    st.tuples(st.just("feedback.resolved"), st.builds(lambda f: {"feedback_id": f}, feedback_ids)),
    st.tuples(
        st.just("client.churned"), st.builds(lambda c: _drop_none({"reason_code": c}), reasons)
    ),
    st.tuples(st.just("client.updated"), st.just({})),
)


@st.composite
def series(draw: st.DrawFn) -> list[tuple[Any, tuple[str, dict[str, Any]], str | None]]:
    """Regular orders (a cycle, then maybe a gap, a smaller order, a return), so that lapses,
    losses, returns and volume drops are common."""
    start = draw(st.integers(0, 30))
    step = draw(st.integers(5, 40))
    count = draw(st.integers(0, 9))
    bodies: list[tuple[Any, tuple[str, dict[str, Any]], str | None]] = []
    day = start
    for k in range(count):
        amount = draw(st.sampled_from(["100", "100", "100", "30", "60"]))
        bodies.append(
            (
                T0 + timedelta(days=day, hours=draw(st.sampled_from([0, 12]))),
                ("order.placed", {"order_id": f"s-{k}", "amount": amount}),
                None,
            )
        )
        day += step if draw(st.integers(0, 5)) else step * draw(st.integers(2, 6))
    return bodies


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[EventRecord, str | None]]:
    bodies = draw(series())
    bodies += draw(st.lists(st.tuples(moments, event_bodies, managers), min_size=1, max_size=30))
    # ids unique, but their order unrelated to the order of times (ties at one moment happen)
    names = draw(st.permutations(range(len(bodies))))
    return [
        (EventRecord(f"evt-{names[i]:03d}", kind, when, data), manager)
        for i, (when, (kind, data), manager) in enumerate(bodies)
    ]


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[tuple[EventRecord, str | None]], list[int]]:
    """A history and an arrival order: a permutation with duplicates mixed in."""
    history = draw(histories())
    order = list(draw(st.permutations(range(len(history)))))
    duplicates = draw(st.lists(st.integers(0, len(history) - 1), max_size=10))
    for index in duplicates:
        order.insert(draw(st.integers(0, len(order))), index)
    return history, order


def arrive(history: list[tuple[EventRecord, str | None]], order: list[int]) -> ClientFacts:
    """The write path: skip a seen id; apply when it follows; re-fold otherwise."""
    facts = ClientFacts()
    seen: dict[str, tuple[EventRecord, str | None]] = {}
    for index in order:
        event, manager = history[index]
        if event.id in seen:
            continue
        seen[event.id] = (event, manager)
        if facts.follows(event):
            apply(facts, event, manager)
        else:
            facts = summarize(seen.values())
    return facts


def _nows(history: list[tuple[EventRecord, str | None]]) -> list[Any]:
    last = max(event.occurred_at for event, _ in history)
    return [
        T0 + timedelta(days=30),
        last,
        last + timedelta(days=45, hours=7),
        last + timedelta(days=200),
        last + timedelta(days=800),
    ]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals())
def test_any_arrival_order_gives_the_in_order_state(
    case: tuple[list[tuple[EventRecord, str | None]], list[int]],
) -> None:
    history, order = case
    in_order = summarize(history)
    arrived = arrive(history, order)
    assert to_json(arrived) == to_json(in_order)
    assert to_json(from_json(to_json(arrived))) == to_json(in_order)
    for policy in POLICIES:
        for now in _nows(history):
            expected = evaluate(in_order, policy, now)
            assert evaluate(arrived, policy, now) == expected
            assert evaluate(arrived, policy, now, market_cycle_days=12) == evaluate(
                in_order, policy, now, market_cycle_days=12
            )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_incremental_fold_in_time_order_equals_summarize(
    history: list[tuple[EventRecord, str | None]],
) -> None:
    facts = ClientFacts()
    for event, manager in sorted(history, key=lambda pair: pair[0].key):
        assert facts.follows(event)
        apply(facts, event, manager)
        assert not facts.follows(event)
    assert to_json(facts) == to_json(summarize(history))
    assert to_json(summarize([*history, *history])) == to_json(facts)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.sampled_from(POLICIES), st.integers(-48, 400))
def test_next_review_at_is_the_next_change(
    history: list[tuple[EventRecord, str | None]], policy: Policy, offset_hours: int
) -> None:
    """Nothing changes before next_review_at; something changes at it; None means never.
    `now` may precede the latest events by up to two days (events dated ahead of the clock)."""
    facts = summarize(history)
    last = max(event.occurred_at for event, _ in history)
    now = last + timedelta(hours=offset_hours)
    state = evaluate(facts, policy, now)
    before = fingerprint(state)
    review = state.next_review_at
    if review is None:
        for later in (timedelta(days=1), timedelta(days=400), timedelta(days=5000)):
            assert fingerprint(evaluate(facts, policy, now + later)) == before
        return
    assert review > now
    middle = now + (review - now) / 2
    assert fingerprint(evaluate(facts, policy, middle)) == before
    assert fingerprint(evaluate(facts, policy, review - timedelta(microseconds=1))) == before
    assert fingerprint(evaluate(facts, policy, review)) != before
