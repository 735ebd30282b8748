"""Recovery plans (SPEC §6): pure — decision, diagnosis, owner, urgency, steps, offer, economics.

`decision_rule` is the cheap part the write path stores for list filters (the decision and its
rule's code); `decide` words that rule and the client's state as reasons; `plan` is the whole
plan the `recovery-plan` endpoint returns. None does I/O or reads the clock. `decide` and `plan`
give their reasons as `DecisionReason`s: a code from `DECISION_REASON_CODES` beside the
sentence.
"""

from app.domain import DECISIONS, Decision
from app.plans.decision import decide, decision_rule
from app.plans.plan import plan
from app.plans.profile import ClientProfile
from app.plans.schemas import (
    DECISION_REASON_CODES,
    DecisionReason,
    DecisionReasonCode,
    RecoveryPlan,
)

__all__ = [
    "DECISIONS",
    "DECISION_REASON_CODES",
    "ClientProfile",
    "Decision",
    "DecisionReason",
    "DecisionReasonCode",
    "RecoveryPlan",
    "decide",
    "decision_rule",
    "plan",
]
