"""The recovery plan as the API returns it (SPEC §6). Money crosses the API as decimal strings.

These are output models only: the pure planner (`app.plans.plan`) builds them, the endpoint
serialises them. Every literal below is part of the public contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from app.domain import Decision, Status, Tier
from app.domain import MoneyText as Money

DiagnosisGroup = Literal["competitor", "company", "external", "unknown"]
DiagnosisSource = Literal["recorded", "inferred", "none"]
Urgency = Literal["high", "medium", "low"]
OwnerRole = Literal["leadership", "retention_team"]
Channel = Literal["call", "email", "sms", "letter", "meeting", "event", "ads"]
DecisionReasonCode = Literal[
    "prospect",
    "active",
    "recovered_watch",
    "do_not_contact",
    "max_losses",
    "nothing_to_win_back",
    "problem_client",
    "tier_a",
    "tier_b",
    "advocate",
    "tier_c",
    "lapse",
    "signals",
    "urgency",
    "p_return",
    "margin_rate",
    "expected_value",
    "max_spend",
]
DECISION_REASON_CODES: tuple[DecisionReasonCode, ...] = get_args(DecisionReasonCode)

DECISION_REASON_MEANINGS: dict[DecisionReasonCode, str] = {
    "prospect": "no order yet: nothing to do",
    "active": "no signal: nothing to do",
    "recovered_watch": "back after a loss, no signal, in its watch: nothing to do",
    "do_not_contact": "the client asked not to be contacted: let go",
    "max_losses": "lost policy.max_losses times or more: let go",
    "nothing_to_win_back": "a recorded business_closed or need_changed: let go",
    "problem_client": "costs more than it brings: let go",
    "tier_a": "a lost tier-A client: return first",
    "tier_b": "a lost tier-B client: should return",
    "advocate": "a lost tier-C (or not yet tiered) advocate, treated as B: return if possible",
    "tier_c": "a lost tier-C (or not yet tiered) client: let go",
    "lapse": "a lost client: how long ago it was lost, in days and cycles",
    "signals": "an at-risk client: its signals, and its recovery watch if it is in one",
    "urgency": "how soon to act, and the policy bound that set it (plans that act)",
    "p_return": "the probability of return: its band and multipliers, or the observed win-back "
    "rate of similar clients in closed campaigns once there are 30 (every plan but no_action)",
    "margin_rate": "the margin rate used and where it comes from (every plan but no_action)",
    "expected_value": "p_return × value × margin_rate (every plan but no_action)",
    "max_spend": "expected_value × max_spend_ratio (every plan but no_action)",
}
"""What each decision reason code means: the OpenAPI description of `DecisionReason.code`."""


OfferKind = Literal[
    "guarantee",
    "special_terms",
    "personal_control",
    "something_new",
    "compensation",
    "discount",
    "gift",
    "price_lock",
]


# Examples for the OpenAPI document; the plan's example is built from its parts.
DIAGNOSIS_EXAMPLE: JsonDict = {
    "group": "company",
    "reason_codes": ["delivery_failure"],
    "source": "recorded",
    "human_factor": False,
    "verify": False,
    "evidence": ["complaint fb-9 unresolved 52 days"],
}

OWNER_EXAMPLE: JsonDict = {"role": "leadership", "exclude_manager_ids": ["m-7"]}

STEP_EXAMPLE: JsonDict = {
    "day": 0,
    "channel": "call",
    "action": "apology_call",
    "owner_role": "leadership",
    "goal": "hear the client out, confirm the real reason",
}

COMPENSATION_EXAMPLE: JsonDict = {
    "kind": "compensation",
    "text": "credit for the problem order",
    "amount": "500.00",
    "basis": "20% of order o-17 (2,500.00)",
}

OFFER_EXAMPLE: JsonDict = {
    "components": [
        {"kind": "guarantee", "text": "the problem will not recur"},
        COMPENSATION_EXAMPLE,
    ],
    "max_discount_pct": 10,
    "valid_days": 30,
}

ECONOMICS_EXAMPLE: JsonDict = {
    "value": "48200.00",
    "margin_rate": 0.3,
    "p_return": 0.4,
    "expected_value": "5784.00",
    "max_spend": "1735.20",
}

AFTER_RETURN_EXAMPLE: JsonDict = {"watch_days": 180, "review_every_days": 30}

DECISION_REASON_EXAMPLE: JsonDict = {"code": "tier_a", "text": "tier A (value 48,200.00)"}


class DecisionReason(BaseModel):
    """One rule behind the decision (or its urgency and economics): a code to filter on, and the
    rule in words with its numbers."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [DECISION_REASON_EXAMPLE]},
    )

    code: DecisionReasonCode = Field(
        description="what the reason is about, one of a closed set: "
        + "; ".join(f"`{code}`: {meaning}" for code, meaning in DECISION_REASON_MEANINGS.items())
    )
    text: str = Field(description="the rule in words, with the numbers and policy names it used")


class Diagnosis(BaseModel):
    """Why the client is leaving or left, and how sure we are."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [DIAGNOSIS_EXAMPLE]},
    )

    group: DiagnosisGroup = Field(
        description="reason group; `unknown` when nothing but the lapse is known"
    )
    reason_codes: list[str] = Field(description="reason codes, the leading one first")
    source: DiagnosisSource = Field(
        description="`recorded`: the client or a request/complaint gave the reason; "
        "`inferred`: read from the signals; `none`: no reason is known"
    )
    human_factor: bool = Field(description="a human-factor reason: harder to repair")
    verify: bool = Field(description="the recorded reason disagrees with the evidence")
    evidence: list[str] = Field(description="the facts behind the diagnosis, with numbers")


class Owner(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [OWNER_EXAMPLE]},
    )

    role: OwnerRole
    exclude_manager_ids: list[str] = Field(
        description="managers who must not own the plan (the one who had the client when it "
        "was lost, the one in a human-factor conflict)"
    )


class Step(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [STEP_EXAMPLE]},
    )

    day: int = Field(ge=0, description="days after the plan's as_of")
    channel: Channel
    action: str
    owner_role: OwnerRole
    goal: str


class OfferComponent(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [COMPENSATION_EXAMPLE]},
    )

    kind: OfferKind
    text: str
    amount: Money | None = None
    basis: str | None = None


class Offer(BaseModel):
    """The reason to return: never a bare discount, always bounded and time-limited."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [OFFER_EXAMPLE]},
    )

    components: list[OfferComponent]
    max_discount_pct: float = Field(ge=0, le=100)
    valid_days: int = Field(ge=1)


class Economics(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [ECONOMICS_EXAMPLE]},
    )

    value: Money
    margin_rate: float = Field(ge=0, le=1)
    p_return: float = Field(ge=0, le=1)
    expected_value: Money = Field(description="p_return * value * margin_rate")
    max_spend: Money = Field(description="expected_value * policy.max_spend_ratio")


class AfterReturn(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [AFTER_RETURN_EXAMPLE]},
    )

    watch_days: int | float = Field(ge=0)
    review_every_days: int = Field(ge=1)


PLAN_EXAMPLE: JsonDict = {
    "client_id": "acme",
    "as_of": "2026-05-01T00:00:00Z",
    "status": "lost",
    "tier": "A",
    "decision": "return_first",
    "decision_reasons": [
        DECISION_REASON_EXAMPLE,
        {"code": "lapse", "text": "lost 40 days ago: 1.3 cycles of 30 days"},
        {
            "code": "urgency",
            "text": "urgency high: lost 40 days ago, 1.3 cycles ≤ urgency_high_cycles 2",
        },
    ],
    "diagnosis": DIAGNOSIS_EXAMPLE,
    "urgency": "high",
    "owner": OWNER_EXAMPLE,
    "steps": [
        STEP_EXAMPLE,
        {
            "day": 3,
            "channel": "letter",
            "action": "director_letter",
            "owner_role": "leadership",
            "goal": "a letter signed by a director, by hand where possible, "
            "with the offer and a gift",
        },
    ],
    "offer": OFFER_EXAMPLE,
    "economics": ECONOMICS_EXAMPLE,
    "after_return": AFTER_RETURN_EXAMPLE,
}


class RecoveryPlan(BaseModel):
    """`GET /v1/clients/{client_id}/recovery-plan` (SPEC §6)."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [PLAN_EXAMPLE]},
    )

    client_id: str
    as_of: datetime
    status: Status
    tier: Tier | None
    decision: Decision
    decision_reasons: list[DecisionReason] = Field(
        description="the rules that decided, in order, then the urgency and the economics"
    )
    diagnosis: Diagnosis
    urgency: Urgency
    owner: Owner
    steps: list[Step]
    offer: Offer | None
    economics: Economics
    after_return: AfterReturn | None


__all__ = [
    "DECISION_REASON_CODES",
    "AfterReturn",
    "Channel",
    "Decision",
    "DecisionReason",
    "DecisionReasonCode",
    "Diagnosis",
    "DiagnosisGroup",
    "DiagnosisSource",
    "Economics",
    "Money",
    "Offer",
    "OfferComponent",
    "OfferKind",
    "Owner",
    "OwnerRole",
    "RecoveryPlan",
    "Status",
    "Step",
    "Tier",
    "Urgency",
]
