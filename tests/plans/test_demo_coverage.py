"""The demo history: its plans show every decision and every diagnosis group, and its shoppers
are tiered among shoppers (issue 6)."""

from collections import defaultdict
from decimal import Decimal

from app.demo import (
    DEMO_CLIENTS,
    DEMO_SEED,
    EvaluatedHistory,
    evaluate_histories,
    stories,
    synthetic,
)
from app.domain import DECISIONS
from app.plans import ClientProfile, plan
from app.policy.schemas import Policy
from app.tiers import Thresholds, assign, cut_points_by_ranking, thresholds_for
from tests.conftest import NOW


def profile(
    client_id: str, client: EvaluatedHistory, rankings: dict[str, Thresholds], policy: Policy
) -> ClientProfile:
    attributes, state = client.attributes, client.state
    cut = thresholds_for(rankings, attributes["market"], policy.tier_scope)
    return ClientProfile(
        client_id=client_id,
        market=attributes["market"],
        manager_id=attributes.get("manager_id"),
        advocate=bool(attributes.get("advocate")),
        problem_client=bool(attributes.get("problem_client")),
        do_not_contact=bool(attributes.get("do_not_contact")),
        tier=assign(state.value, cut) if state.orders_count else None,
    )


def population(
    events: list[dict], policy: Policy
) -> tuple[dict[str, EvaluatedHistory], dict[str, Thresholds]]:
    histories = evaluate_histories(events, policy, NOW)
    rankings = cut_points_by_ranking(
        (
            (client.attributes["market"], client.state.value)
            for client in histories.values()
            if client.state.orders_count
        ),
        policy.tier_cutoffs,
        policy.tier_scope,
    )
    return histories, rankings


def test_demo_plans_cover_every_decision_and_diagnosis_group() -> None:
    policy = Policy()
    histories, rankings = population(synthetic(1000, NOW, seed=7), policy)
    decisions, groups = set(), set()
    for client_id, client in histories.items():
        result = plan(
            profile(client_id, client, rankings, policy), client.state, client.facts, policy, NOW
        )
        decisions.add(result.decision)
        groups.add(result.diagnosis.group)
        assert Decimal(result.economics.max_spend) <= Decimal(result.economics.expected_value)
    assert decisions == set(DECISIONS)
    assert groups == {"competitor", "company", "external", "unknown"}


def test_demo_shoppers_are_pursued_where_their_value_says_so() -> None:
    """Tiers rank shoppers among shoppers: a lost shopper of high value among shoppers is won
    back, not let go because distributors order more."""
    policy = Policy()
    events = [e for story in stories(NOW).values() for e in story]
    histories, rankings = population(events + synthetic(DEMO_CLIENTS, NOW, DEMO_SEED), policy)
    assert set(rankings) == {"b2b", "b2c"}
    assert rankings["b2c"].a_min < rankings["b2b"].b_min  # the markets' scales differ
    decisions: dict[str, list[str]] = defaultdict(list)
    for client_id, client in histories.items():
        if client.attributes["market"] != "b2c" or client.state.status != "lost":
            continue
        shopper = profile(client_id, client, rankings, policy)
        result = plan(shopper, client.state, client.facts, policy, NOW)
        decisions[shopper.tier or "-"].append(result.decision)
    for tier, wanted in (("A", "return_first"), ("B", "should_return")):
        assert decisions[tier], f"no lost tier-{tier} shopper in the demo"
        # pursued unless a plan rule (lost twice, closed, do_not_contact, problem client) says no
        assert decisions[tier].count(wanted) >= 0.6 * len(decisions[tier]), decisions[tier]
    pursued = {"return_first", "should_return", "return_if_possible"}
    lost = sum(len(d) for d in decisions.values())
    assert sum(d in pursued for ds in decisions.values() for d in ds) >= 0.25 * lost
