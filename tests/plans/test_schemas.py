"""The plan's JSON matches SPEC §6; the OpenAPI examples are valid plans; plans are pure."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from app.plans import DECISION_REASON_CODES, DecisionReason, RecoveryPlan
from app.plans.schemas import DECISION_REASON_MEANINGS, Economics, Offer
from app.policy.schemas import Policy

from .builders import History, make_plan

MONEY = re.compile(r"^-?\d+\.\d{2}$")


def full_plan() -> RecoveryPlan:
    history = History().regular("10000.00", manager="m-7")
    history.complaint(150, order_id="o-120").contact(215, "reached", reason="competitor_price")
    return make_plan(history, 240, tier="A", manager_id="m-7")


def test_json_has_exactly_the_spec_fields() -> None:
    body = json.loads(full_plan().model_dump_json())
    assert list(body) == [
        "client_id",
        "as_of",
        "status",
        "tier",
        "decision",
        "decision_reasons",
        "diagnosis",
        "urgency",
        "owner",
        "steps",
        "offer",
        "economics",
        "after_return",
    ]
    assert body["as_of"] == "2025-08-29T00:00:00Z"
    assert set(body["diagnosis"]) == {
        "group",
        "reason_codes",
        "source",
        "human_factor",
        "verify",
        "evidence",
    }
    assert set(body["owner"]) == {"role", "exclude_manager_ids"}
    assert all(set(s) == {"day", "channel", "action", "owner_role", "goal"} for s in body["steps"])
    assert set(body["offer"]) == {"components", "max_discount_pct", "valid_days"}
    assert set(body["economics"]) == {
        "value",
        "margin_rate",
        "p_return",
        "expected_value",
        "max_spend",
    }
    assert set(body["after_return"]) == {"watch_days", "review_every_days"}
    assert all(set(r) == {"code", "text"} for r in body["decision_reasons"])
    assert body["decision_reasons"][:2] == [
        {"code": "tier_a", "text": "tier A (value 50,000.00)"},
        {"code": "lapse", "text": "lost 30 days ago: 1.0 cycles of 30 days"},
    ]


def test_decision_reason_codes_are_a_documented_closed_set() -> None:
    code = DecisionReason.model_json_schema()["properties"]["code"]
    assert code["enum"] == list(DECISION_REASON_CODES)
    assert list(DECISION_REASON_MEANINGS) == list(DECISION_REASON_CODES)
    for name in DECISION_REASON_CODES:
        assert f"`{name}`: " in code["description"], name
    with pytest.raises(ValidationError):
        DecisionReason.model_validate({"code": "lost_twice", "text": "lost twice"})


def test_money_is_a_two_place_decimal_string() -> None:
    body = json.loads(full_plan().model_dump_json())
    for key in ("value", "expected_value", "max_spend"):
        assert MONEY.match(body["economics"][key]), key
    for component in body["offer"]["components"]:
        if component.get("amount") is not None:
            assert MONEY.match(component["amount"])
    assert isinstance(body["economics"]["p_return"], float)
    assert isinstance(body["economics"]["margin_rate"], float)


def test_openapi_examples_are_valid() -> None:
    for model in (RecoveryPlan, Economics, Offer, DecisionReason):
        schema = model.model_json_schema()
        assert schema["examples"], model
        for example in schema["examples"]:
            model.model_validate(example)


def test_plans_are_pure_and_deterministic() -> None:
    first = full_plan().model_dump_json()
    assert all(full_plan().model_dump_json() == first for _ in range(3))


def test_rule_numbers_come_from_the_policy_and_are_shown() -> None:
    policy = Policy(
        max_spend_ratio=0.25,
        margin_rate=0.35,
        urgency_high_cycles=1.5,
        compensation_pct=15,
        drip_interval_days=60,
    )
    history = History().regular("10000.00").complaint(150, order_id="o-120", amount_at_issue="100")
    plan = make_plan(history, 240, policy, tier="B")
    text = " | ".join([r.text for r in plan.decision_reasons] + [s.goal for s in plan.steps])
    for needle in (
        "max_spend_ratio 0.25",
        "margin_rate 0.35",
        "urgency_high_cycles 1.5",
        "drip_interval_days",
        "every 60 days",
    ):
        assert needle in text, needle
    assert plan.offer is not None
    credit = next(c for c in plan.offer.components if c.kind == "compensation")
    assert credit.amount == "15.00"
    assert credit.basis is not None and credit.basis.startswith("15% of")
