"""The recovery plan (SPEC §6): a pure function of the client's state, history, profile and the
policy. No I/O, no clock: `now` is the plan's `as_of`, and `state` must be `evaluate(facts,
policy, now)`.
"""

from __future__ import annotations

from datetime import datetime

from app.churn.engine import ClientState
from app.churn.facts import ClientFacts
from app.domain import WIN_BACK_DECISIONS
from app.plans.decision import decide
from app.plans.diagnosis import diagnose
from app.plans.economics import ReturnEvidence, economics, evidence_for
from app.plans.offer import build_offer
from app.plans.owner import assign_owner
from app.plans.profile import ClientProfile
from app.plans.schemas import AfterReturn, RecoveryPlan, Urgency
from app.plans.steps import build_steps
from app.plans.urgency import assess_urgency
from app.policy.schemas import Policy


def after_return(state: ClientState, decision: str, policy: Policy) -> AfterReturn | None:
    """A returned client is more sensitive: a watch and regular reviews, for win-back plans and
    for clients in their watch (unless they are let go)."""
    if decision in WIN_BACK_DECISIONS or (state.in_watch and decision != "let_go"):
        watch = policy.recovery_watch_days
        return AfterReturn(
            watch_days=int(watch) if float(watch).is_integer() else watch,
            review_every_days=policy.review_every_days,
        )
    return None


def plan(
    profile: ClientProfile,
    state: ClientState,
    facts: ClientFacts,
    policy: Policy,
    now: datetime,
    evidence: ReturnEvidence | None = None,
    p_alive: float | None = None,
) -> RecoveryPlan:
    """`evidence`: observed win-back rates of finished campaigns, by (tier, market, lapse band);
    enough of them for this client's kind replace the policy's p_return (economics). `p_alive`:
    the population model's score of the client, a floor of p_return otherwise (economics)."""
    decision, reasons = decide(profile, state, facts, policy, now)
    finding = diagnose(profile, state, facts, policy, now)
    observed = evidence_for(evidence, profile.tier, profile.market, state, policy, now)
    human_factor = finding.diagnosis.human_factor
    figures = economics(state, human_factor, policy, now, observed, p_alive)
    acting = decision == "retain" or decision in WIN_BACK_DECISIONS

    urgency: Urgency = "low"
    if acting:
        urgency, urgency_reason = assess_urgency(state, finding, policy, now)
        reasons = [*reasons, urgency_reason]
    if decision != "no_action":
        reasons = [*reasons, *figures.reasons]

    exit_interview = decision in WIN_BACK_DECISIONS and finding.diagnosis.group == "unknown"
    owner = assign_owner(profile, state, facts, finding, exit_interview)
    offer = build_offer(profile, state, facts, finding, figures, decision, policy)
    steps = build_steps(profile, state, finding, decision, owner.role, offer, policy, now)
    return RecoveryPlan(
        client_id=profile.client_id,
        as_of=now,
        status=state.status,
        tier=profile.tier,
        decision=decision,
        decision_reasons=reasons,
        diagnosis=finding.diagnosis,
        urgency=urgency,
        owner=owner,
        steps=steps,
        offer=offer,
        economics=figures.schema(),
        after_return=after_return(state, decision, policy),
    )
