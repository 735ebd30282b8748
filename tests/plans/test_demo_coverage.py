"""The demo history (issue 3): its plans show every decision and every diagnosis group."""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.churn.engine import evaluate
from app.churn.facts import EventRecord, summarize
from app.demo import synthetic
from app.plans import DECISIONS, ClientProfile, plan
from app.policy.schemas import Policy
from app.tiers import Thresholds, assign, cut_points
from tests.conftest import NOW


def test_demo_plans_cover_every_decision_and_diagnosis_group() -> None:
    policy = Policy()
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in synthetic(1000, NOW, seed=7):
        by_client[event["client_id"]].append(event)
    histories = {}
    for client_id, events in by_client.items():
        facts = summarize(
            (
                EventRecord(
                    e["id"], e["type"], datetime.fromisoformat(e["occurred_at"]), e["data"]
                ),
                (e.get("client") or {}).get("manager_id"),
            )
            for e in events
        )
        histories[client_id] = (events[0].get("client") or {}, facts, evaluate(facts, policy, NOW))
    thresholds = cut_points([s.value for _, _, s in histories.values()], policy.tier_cutoffs)
    assert isinstance(thresholds, Thresholds)
    decisions, groups = set(), set()
    for client_id, (client, facts, state) in histories.items():
        profile = ClientProfile(
            client_id=client_id,
            market=client["market"],
            manager_id=client.get("manager_id"),
            advocate=client["advocate"],
            problem_client=client["problem_client"],
            do_not_contact=client["do_not_contact"],
            tier=assign(state.value, thresholds) if state.orders_count else None,
        )
        result = plan(profile, state, facts, policy, NOW)
        decisions.add(result.decision)
        groups.add(result.diagnosis.group)
        assert Decimal(result.economics.max_spend) <= Decimal(result.economics.expected_value)
    assert decisions == set(DECISIONS)
    assert groups == {"competitor", "company", "external", "unknown"}
