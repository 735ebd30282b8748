"""`winback demo`: a realistic synthetic history, so a newcomer sees lists and plans at once.

Every event goes through the same ingest service as the API. The three stories of the README's
recovery-plan walkthrough (`stories`) are built here too; tests/plans/golden pins their plans.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.churn.engine import ClientState, evaluate
from app.churn.facts import ClientFacts
from app.clients.service import facts_from_events
from app.events.schemas import EnvelopeBase, event_adapter
from app.kit.history import Event, History, days_ago
from app.policy.schemas import Policy


def spaced(first_days_ago: float, every: float, count: int) -> list[float]:
    """`count` moments, `every` days apart, from `first_days_ago` towards now."""
    return [first_days_ago - k * every for k in range(count)]


def stories(now: datetime) -> dict[str, list[Event]]:
    """The README's three recovery plans: histories relative to `now`."""
    clock = days_ago(now)
    # 1. A B2B tier-A distributor lost after a delivery failure.
    northwind = History(
        "northwind",
        clock,
        {
            "name": "Northwind Traders",
            "market": "b2b",
            "manager_id": "m-7",
            "email": "buy@northwind.example",
        },
    )
    last = northwind.orders(*spaced(460, every=30, count=12), amount=4200)[-1]
    northwind.feedback(
        128,
        "complaint",
        feedback_id="fb-9",
        order_id=last,
        amount_at_issue="2500.00",
        reason_code="delivery_failure",
        note="pallets arrived a week late, two damaged",
    )
    northwind.contact(120, "reached", manager_id="m-7", note="promised a credit, never sent")

    # 2. A B2C shopper who lapsed: bought every six weeks, then stopped.
    ana = History(
        "ana.k", clock, {"name": "Ana K.", "market": "b2c", "email": "ana.k@mail.example"}
    )
    ana.orders(*spaced(420, every=45, count=6), amount=45)
    ana.contact(120, "opened", channel="email")

    # 3. A client lost twice: it came back once after a price dispute, then left again.
    orbis = History("orbis", clock, {"name": "Orbis Print", "market": "b2b", "manager_id": "m-3"})
    orbis.orders(*spaced(700, every=20, count=6), amount=1500)
    orbis.contact(560, "reached", reason_code="competitor_price", manager_id="m-3")
    orbis.orders(*spaced(380, every=20, count=5), amount=1400)
    orbis.lose("q-77", 280, "competitor_price")
    return {"northwind": northwind.events, "ana.k": ana.events, "orbis": orbis.events}


# --- the synthetic population ----------------------------------------------------------------

# `winback demo` defaults: the README's plans are evaluated against this population's tiers.
DEMO_CLIENTS = 3000
DEMO_SEED = 7

ARCHETYPES = [
    ("steady", 38),
    ("stopped", 22),
    ("volume_drop", 5),
    ("unresponsive", 5),
    ("unconverted", 5),
    ("complaint", 6),
    ("recovered", 6),
    ("lost_twice", 3),
    ("churned", 6),
    ("prospect", 4),
]
REASONS = {
    "competitor": ["competitor_price", "competitor_terms", "competitor_service"],
    "company": ["service_quality", "delivery_failure", "manager_conflict", "billing_error"],
    "external": ["budget_cut", "relocation", "business_closed", "need_changed", "seasonal"],
}


def synthetic(count: int, now: datetime, seed: int) -> list[Event]:
    rng = random.Random(seed)
    clock = days_ago(now)
    names, weights = zip(*ARCHETYPES, strict=True)
    events: list[Event] = []
    for i in range(count):
        b2b = rng.random() < 0.35
        market = "b2b" if b2b else "b2c"
        client = {
            "name": f"{'Company' if b2b else 'Shopper'} {i:05d}",
            "market": market,
            "email": f"client{i:05d}@example.com",
            "manager_id": f"m-{rng.randint(1, 12)}" if b2b else None,
            "advocate": rng.random() < 0.06,
            "problem_client": rng.random() < 0.02,
            "do_not_contact": rng.random() < 0.02,
        }
        history = History(f"{market}-{i:05d}", clock, client)
        archetype = rng.choices(names, weights)[0]
        cycle = rng.uniform(14, 60) if b2b else rng.uniform(25, 110)
        amount = rng.lognormvariate(7.5 if b2b else 4.0, 0.8)
        _play(history, archetype, cycle, amount, rng)
        events.extend(history.events)
    return events


def _jitter(rng: random.Random, cycle: float) -> float:
    return cycle * rng.uniform(0.8, 1.2)


def _buy(
    history: History, rng: random.Random, start: float, end: float, cycle: float, amount: float
) -> float:
    """Orders from `start` days ago down to `end` days ago; returns the last order's days_ago."""
    day = start
    last = start
    while day >= end:
        history.order(day, amount * rng.uniform(0.7, 1.3))
        last = day
        day -= _jitter(rng, cycle)
    return last


def _play(
    history: History, archetype: str, cycle: float, amount: float, rng: random.Random
) -> None:
    span = rng.uniform(300, 700)
    if archetype == "prospect":
        for k in range(rng.randint(1, 4)):
            history.request(rng.uniform(1, 60), f"r{k}")
        return
    if archetype == "steady":
        _buy(history, rng, span, rng.uniform(0, cycle), cycle, amount)
    elif archetype == "stopped":
        _buy(history, rng, span, rng.uniform(1.5 * cycle, 6 * cycle), cycle, amount)
        if rng.random() < 0.4:
            group = rng.choice(list(REASONS))
            history.contact(rng.uniform(1, 20), "reached", reason_code=rng.choice(REASONS[group]))
        if not history.events:
            # it stopped before its history began: keep it as a quote that never became an order,
            # so every generated client exists (drawing nothing from rng: the others stay the same)
            history.request(span, "r0")
    elif archetype == "volume_drop":
        last = _buy(history, rng, span, cycle * 0.8, cycle, amount)
        history.order(last - cycle * 0.6, amount * 0.2)
    elif archetype == "unresponsive":
        last = _buy(history, rng, span, cycle, cycle, amount)
        for k in range(3):
            history.contact(max(last - 2 - 3 * k, 0.1), "no_answer")
    elif archetype == "unconverted":
        last = _buy(history, rng, span, cycle * 0.9, cycle, amount)
        for k in range(3):
            history.request(max(last - 3 - 2 * k, 0.2), f"q{k}")
            if k < 2:
                history.lose(f"q{k}", max(last - 4 - 2 * k, 0.1), "competitor_price")
    elif archetype == "complaint":
        last = _buy(history, rng, span, rng.uniform(0, 2 * cycle), cycle, amount)
        history.feedback(
            max(last - 1, 0.1),
            "complaint",
            feedback_id="fb1",
            reason_code=rng.choice(["delivery_failure", "product_quality", "service_quality"]),
            amount_at_issue=f"{amount * 0.5:.2f}",
        )
        if rng.random() < 0.3:
            history.resolve("fb1", max(last - 5, 0.05))
    elif archetype == "recovered":
        gap_start = _buy(history, rng, span + 200, span, cycle, amount)
        back = gap_start - rng.uniform(3.5, 6) * cycle
        _buy(history, rng, max(back, 1), max(back - 2 * cycle, 0), cycle, amount * 0.6)
    elif archetype == "lost_twice":
        first = _buy(history, rng, span + 400, span + 200, cycle, amount)
        back = first - 4 * cycle
        _buy(history, rng, back, back - 3 * cycle, cycle, amount)
    elif archetype == "churned":
        last = _buy(history, rng, span, rng.uniform(5, 60), cycle, amount)
        group = rng.choice(list(REASONS))
        history.churned(max(last - rng.uniform(1, 10), 0.1), rng.choice(REASONS[group]))


@dataclass(frozen=True)
class EvaluatedHistory:
    attributes: dict[str, Any]  # the client's first attribute upsert
    facts: ClientFacts
    state: ClientState


def evaluate_histories(
    events: list[Event], policy: Policy, now: datetime
) -> dict[str, EvaluatedHistory]:
    """Each client's facts and state at `now`, with the pure core alone (tests use it to know
    the demo's population without a database)."""
    by_client: dict[str, list[tuple[Event, datetime]]] = {}
    for event in events:
        moment = datetime.fromisoformat(event["occurred_at"])
        by_client.setdefault(event["client_id"], []).append((event, moment))
    out = {}
    for client_id, history in by_client.items():
        facts = facts_from_events(history)
        attributes = history[0][0].get("client") or {}
        out[client_id] = EvaluatedHistory(attributes, facts, evaluate(facts, policy, now))
    return out


def envelopes(events: list[Event]) -> list[tuple[int, EnvelopeBase]]:
    return [(i, event_adapter.validate_python(e)) for i, e in enumerate(events)]


@dataclass(frozen=True)
class DemoSummary:
    """What `winback demo` loaded, counted in the database afterwards (not what it meant to)."""

    clients: int  # the demo's clients present in the database
    events: int  # events this run stored
    already_there: int  # events an earlier run had stored under the same ids
    by_status: dict[str, int]
    by_decision: dict[str, int]
    campaign: str = ""  # the demo's campaign, as the dashboard's campaign pages show it

    def __str__(self) -> str:
        again = (
            f" ({self.already_there:,} were already there from an earlier demo)"
            if self.already_there
            else ""
        )
        return (
            f"winback demo: {self.clients:,} clients, {self.events:,} events loaded{again}\n"
            f"  statuses:  {self.by_status}\n"
            f"  decisions: {self.by_decision}\n"
            "  try: GET /v1/clients?status=at_risk&sort=value_desc, "
            "GET /v1/clients/northwind/recovery-plan"
            + (f"\n  campaign:  {self.campaign}" if self.campaign else "")
        )


async def load_demo(url: str, clients: int, seed: int, now: datetime | None = None) -> DemoSummary:
    """Load the stories and `clients` synthetic clients, then refresh the population figures, fit
    the models and sweep."""
    from app.clients import repository as clients_repository
    from app.db import create_engine, create_sessionmaker
    from app.ingest.service import ingest
    from app.kit.time import utcnow
    from app.policy.service import load_snapshot
    from app.worker import jobs

    now = now or utcnow()
    events = [e for story in stories(now).values() for e in story] + synthetic(clients, now, seed)
    client_ids = sorted({e["client_id"] for e in events})
    outcomes: Counter[str] = Counter()
    engine = create_engine(url)
    try:
        sessionmaker = create_sessionmaker(engine)
        for start in range(0, len(events), 1000):
            chunk = envelopes(events[start : start + 1000])
            async with sessionmaker() as session, session.begin():
                snapshot = await load_snapshot(session)
                outcomes.update(o.kind for o in await ingest(session, chunk, snapshot, now))
        await jobs.refresh_population(sessionmaker, now)
        # the purchase and spend models too, every client re-scored at once (the worker would
        # spread the re-scoring over hours): the scores and churn_risk show from the start
        await jobs.refit_models(sessionmaker, now, force=True, rescore_seconds=0)
        await jobs.sweep(sessionmaker, lambda: now)
        async with sessionmaker() as session, session.begin():
            campaign = await demo_campaign(session, now)
        async with sessionmaker() as session:
            rows = await clients_repository.count_by_status_and_decision(session, client_ids)
    finally:
        await engine.dispose()
    by_status: Counter[str] = Counter()
    by_decision: Counter[str] = Counter()
    for status, decision, n in rows:
        by_status[status] += n
        by_decision[decision or "-"] += n
    return DemoSummary(
        clients=by_status.total(),
        events=outcomes["accepted"],
        already_there=len(events) - outcomes["accepted"],
        by_status=dict(sorted(by_status.items())),
        by_decision=dict(sorted(by_decision.items())),
        campaign=campaign,
    )


DEMO_CAMPAIGN_ID = "demo_lost_worth_winning"


async def demo_campaign(session: Any, now: datetime) -> str:
    """One running campaign over the lost clients worth winning back, with a 20 % holdout, so the
    dashboard's campaign pages show members and results; created once (a rerun keeps it)."""
    from app.campaigns import service as campaigns
    from app.campaigns.schemas import CampaignCreate, Segment
    from app.kit.problems import ProblemError
    from app.policy.service import load_snapshot

    try:
        found = await campaigns.get(session, DEMO_CAMPAIGN_ID)
        return f"{found.id} ({found.members.total:,} members, already there)"
    except ProblemError:
        pass
    body = CampaignCreate(
        id=DEMO_CAMPAIGN_ID,
        name="Demo: lost clients worth winning back",
        segment=Segment(status=["lost"], decision=["return_first", "should_return"]),
        holdout_pct=20,
    )
    created = await campaigns.create(session, body, await load_snapshot(session), now, None)
    return f"{created.id} ({created.members.total:,} members, {created.members.holdout:,} held out)"
