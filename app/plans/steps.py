"""The touches of a plan (SPEC §6, steps): several, not one — a win-back on the first try is a
miracle.

Win-back, B2B: a call from the owner role (an apology when the company is to blame, else "we miss
you") → a letter signed by a director, by hand where possible, with the offer (a gift for tier A)
→ a meeting at the client's office for tier A or when the client was lost `meeting_lapse_cycles`
cycles ago or more → an invitation to a client event → a quiet drip of news,
`drip_interval_days` apart.

Win-back, B2C: an email series `b2c_min_touch_gap_days` apart — reminder → picks from the purchase
history → a personal promo code with a deadline — then the retargeting audience (an ad audience,
not a touch: it starts with the promo code) and an optional SMS/push before the deadline.

A win-back whose diagnosis is `unknown` opens with an exit interview by someone who never worked
with the client; the rest of the series follows it.

Retention follows the signals, most pressing first: dissatisfied → apology, fix, compensation,
quality survey; unresponsive → contact at management level, find the new decision-maker;
requests not converting → an offer compiled for the client, ask why quotes were declined; volume
drop → a talk about share of wallet, a price lock conditional on volume; lapsed → a reminder of
what the client has earned, an individual offer. B2C touches keep `b2c_min_touch_gap_days` apart.

The day offsets SPEC does not fix are policy numbers too (b2b_letter_after_days,
b2b_meeting_after_days, b2b_event_after_days, b2b_retention_gap_days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.churn.engine import ClientState
from app.domain import WIN_BACK_DECISIONS, Market
from app.plans.decision import cycles_since_lost
from app.plans.diagnosis import Finding
from app.plans.offer import valid_days
from app.plans.profile import ClientProfile
from app.plans.schemas import (
    Channel,
    Decision,
    Offer,
    OwnerRole,
    Step,
)
from app.policy.schemas import Policy

DRIP_TOUCHES = 2  # drip touches listed in a plan; the drip goes on at the same pace

RETENTION_ORDER = (
    "dissatisfied",
    "unresponsive",
    "requests_not_converting",
    "volume_drop",
    "lapsed",
)


@dataclass(frozen=True, slots=True)
class _Touch:
    b2b: tuple[Channel, str] | None
    b2c: tuple[Channel, str] | None
    goal: str
    role: OwnerRole | None = None  # None: the plan's owner role

    def for_market(self, market: Market) -> tuple[Channel, str] | None:
        return self.b2b if market == "b2b" else self.b2c


def build_steps(
    profile: ClientProfile,
    state: ClientState,
    finding: Finding,
    decision: Decision,
    role: OwnerRole,
    offer: Offer | None,
    policy: Policy,
    now: datetime,
) -> list[Step]:
    if decision in WIN_BACK_DECISIONS:
        exit_interview = finding.diagnosis.group == "unknown"
        if profile.market == "b2b":
            return _b2b_win_back(profile, state, finding, role, exit_interview, policy, now)
        return _b2c_win_back(role, exit_interview, policy)
    if decision == "retain":
        return _retention(profile, state, finding, role, offer, policy)
    return []


def _exit_interview(channel: Channel, role: OwnerRole) -> Step:
    return Step(
        day=0,
        channel=channel,
        action="exit_interview",
        owner_role=role,
        goal="learn the real reason the client left, asked by someone who never worked with "
        "it (diagnosis unknown)",
    )


def _b2b_win_back(
    profile: ClientProfile,
    state: ClientState,
    finding: Finding,
    role: OwnerRole,
    exit_interview: bool,
    policy: Policy,
    now: datetime,
) -> list[Step]:
    tier_a = profile.tier == "A"
    if exit_interview:
        steps = [_exit_interview("call", role)]
    else:
        apology = finding.diagnosis.group == "company"
        steps = [
            Step(
                day=0,
                channel="call",
                action="apology_call" if apology else "miss_you_call",
                owner_role=role,
                goal="hear the client out, confirm the real reason",
            )
        ]
    day = policy.b2b_letter_after_days
    steps.append(
        Step(
            day=day,
            channel="letter",
            action="director_letter",
            owner_role="leadership",
            goal="a letter signed by a director, by hand where possible, with the offer"
            + (" and a gift (tier A)" if tier_a else ""),
        )
    )
    lapse = cycles_since_lost(state, now) or 0.0
    meeting_why = None
    if tier_a:
        meeting_why = "tier A"
    elif lapse >= policy.meeting_lapse_cycles:
        meeting_why = (
            f"lost {lapse:.1f} cycles ago ≥ meeting_lapse_cycles {policy.meeting_lapse_cycles:g}"
        )
    if meeting_why is not None:
        day += policy.b2b_meeting_after_days
        steps.append(
            Step(
                day=day,
                channel="meeting",
                action="office_meeting",
                owner_role=role,
                goal=f"meet at the client's office ({meeting_why})",
            )
        )
    day += policy.b2b_event_after_days
    steps.append(
        Step(
            day=day,
            channel="event",
            action="event_invitation",
            owner_role=role,
            goal="invite the client to our next client event",
        )
    )
    for _ in range(DRIP_TOUCHES):
        day += policy.drip_interval_days
        steps.append(
            Step(
                day=day,
                channel="email",
                action="drip_news",
                owner_role=role,
                goal="quiet news of what changed, at most once every "
                f"{policy.drip_interval_days} days (drip_interval_days)",
            )
        )
    return steps


def _b2c_win_back(role: OwnerRole, exit_interview: bool, policy: Policy) -> list[Step]:
    gap = policy.b2c_min_touch_gap_days
    days_valid = valid_days(policy)
    steps = [_exit_interview("email", role)] if exit_interview else []
    day = gap if exit_interview else 0
    steps.append(
        Step(
            day=day,
            channel="email",
            action="reminder_email",
            owner_role=role,
            goal=f"remind the client of us: we miss you (emails at least {gap} days apart, "
            "b2c_min_touch_gap_days)",
        )
    )
    day += gap
    steps.append(
        Step(
            day=day,
            channel="email",
            action="picks_email",
            owner_role=role,
            goal="picks from the client's purchase history",
        )
    )
    day += gap
    discount = (
        f" of at most {policy.max_discount_pct:g}% (max_discount_pct)"
        if policy.max_discount_pct > 0
        else ""
    )
    steps.append(
        Step(
            day=day,
            channel="email",
            action="promo_code_email",
            owner_role=role,
            goal=f"a personal promo code{discount} with a deadline in {days_valid} days",
        )
    )
    steps.append(
        Step(
            day=day,
            channel="ads",
            action="retargeting_audience",
            owner_role=role,
            goal="add the client to the retargeting audience until the deadline (not a touch)",
        )
    )
    if gap < days_valid:
        steps.append(
            Step(
                day=day + gap,
                channel="sms",
                action="sms_reminder",
                owner_role=role,
                goal="optional: an SMS or push before the promo code's deadline",
            )
        )
    return steps


def _retention_touches(
    profile: ClientProfile, state: ClientState, finding: Finding, offer: Offer | None
) -> list[_Touch]:
    signals = {s.code: s for s in state.signals}
    touches: list[_Touch] = []
    for code in RETENTION_ORDER:
        if code not in signals:
            continue
        if code == "dissatisfied":
            open_ids = [c.feedback_id for c in finding.complaints if c.resolved_at is None]
            cause = f" (open complaints: {', '.join(open_ids)})" if open_ids else ""
            touches.append(
                _Touch(
                    ("call", "apology_call"),
                    ("email", "apology_email"),
                    "apologise and hear the client out",
                )
            )
            touches.append(
                _Touch(
                    ("call", "fix_and_confirm"),
                    ("email", "fix_and_confirm"),
                    f"fix the cause{cause} and confirm the fix with the client",
                )
            )
            credit = next(
                (c for c in (offer.components if offer else []) if c.kind == "compensation"),
                None,
            )
            if credit is not None:
                touches.append(
                    _Touch(
                        ("letter", "compensation_credit"),
                        ("email", "compensation_credit"),
                        f"credit {credit.amount}: {credit.basis}",
                    )
                )
            touches.append(
                _Touch(
                    ("email", "quality_survey"),
                    ("email", "quality_survey"),
                    "a quality survey once the fix is in",
                )
            )
        elif code == "unresponsive":
            touches.append(
                _Touch(
                    ("call", "management_contact"),
                    None,
                    "contact the client at management level",
                    role="leadership",
                )
            )
            touches.append(
                _Touch(
                    None, ("sms", "other_channel_contact"), "reach the client on another channel"
                )
            )
            touches.append(
                _Touch(("call", "find_decision_maker"), None, "find the new decision-maker")
            )
        elif code == "requests_not_converting":
            touches.append(
                _Touch(
                    ("letter", "individual_offer"),
                    ("email", "individual_offer"),
                    "an offer compiled for this client",
                )
            )
            touches.append(
                _Touch(
                    ("call", "ask_why_declined"),
                    ("email", "ask_why_declined"),
                    "ask why the quotes were declined",
                )
            )
        elif code == "volume_drop":
            touches.append(
                _Touch(
                    ("meeting", "share_of_wallet_talk"),
                    ("email", "usual_basket_offer"),
                    "talk about the share of wallet: what the client now buys elsewhere",
                )
            )
            touches.append(
                _Touch(
                    ("letter", "price_lock_offer"),
                    ("email", "price_lock_offer"),
                    "a price lock for a period, conditional on volume",
                )
            )
        elif code == "lapsed":
            touches.append(
                _Touch(
                    ("call", "earned_reminder"),
                    ("email", "earned_reminder"),
                    "remind the client what it has earned: bonuses, services",
                )
            )
            touches.append(
                _Touch(
                    ("letter", "individual_offer"),
                    ("email", "individual_offer"),
                    "an individual offer",
                )
            )
    return touches


def _retention(
    profile: ClientProfile,
    state: ClientState,
    finding: Finding,
    role: OwnerRole,
    offer: Offer | None,
    policy: Policy,
) -> list[Step]:
    b2b = profile.market == "b2b"
    gap = policy.b2b_retention_gap_days if b2b else policy.b2c_min_touch_gap_days
    steps: list[Step] = []
    seen: set[str] = set()
    for touch in _retention_touches(profile, state, finding, offer):
        how = touch.for_market(profile.market)
        if how is None or how[1] in seen:
            continue
        channel, action = how
        seen.add(action)
        goal = touch.goal
        if profile.market == "b2c" and not steps:
            goal += f" (touches at least {gap} days apart, b2c_min_touch_gap_days)"
        steps.append(
            Step(
                day=len(steps) * gap,
                channel=channel,
                action=action,
                owner_role=touch.role or role,
                goal=goal,
            )
        )
    return steps
