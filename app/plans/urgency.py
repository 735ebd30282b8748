"""How soon to act (SPEC §6, urgency): the sooner the better.

`high` within `urgency_high_cycles` cycles of the lapse or `urgency_high_days` days of the latest
problem; `medium` within `urgency_medium_cycles` cycles of the start (the lapse, else the first
problem); `low` after that. "Within" includes the bound.

The lapse is the moment the client was lost (a `lost` client) or crossed the at-risk line (the
`lapsed` signal); a problem is a non-lapse signal or a recorded reason.
"""

from __future__ import annotations

from datetime import datetime

from app.churn.engine import ClientState
from app.kit.time import days_between
from app.plans.decision import reason
from app.plans.diagnosis import Finding
from app.plans.schemas import DecisionReason, Urgency
from app.policy.schemas import Policy


def _days(earlier: datetime, later: datetime) -> float:
    return max(days_between(earlier, later), 0.0)


def lapse_moment(state: ClientState) -> datetime | None:
    if state.status == "lost":
        return state.last_lost_at
    lapsed = next((s for s in state.signals if s.code == "lapsed"), None)
    return lapsed.since if lapsed else None


def assess_urgency(
    state: ClientState, finding: Finding, policy: Policy, now: datetime
) -> tuple[Urgency, DecisionReason]:
    urgency, text = _urgency(state, finding, policy, now)
    return urgency, reason("urgency", text)


def _urgency(
    state: ClientState, finding: Finding, policy: Policy, now: datetime
) -> tuple[Urgency, str]:
    cycle = state.cycle_days
    lapse_at = lapse_moment(state)
    what = "lost" if state.status == "lost" else "lapsed"
    if lapse_at is not None:
        since = _days(lapse_at, now)
        cycles = since / cycle
        if cycles <= policy.urgency_high_cycles:
            return "high", (
                f"urgency high: {what} {since:.0f} days ago, {cycles:.1f} cycles "
                f"≤ urgency_high_cycles {policy.urgency_high_cycles:g}"
            )
    if finding.last_problem_at is not None:
        since = _days(finding.last_problem_at, now)
        if since <= policy.urgency_high_days:
            return "high", (
                f"urgency high: latest problem {since:.0f} days ago "
                f"≤ urgency_high_days {policy.urgency_high_days:g}"
            )
    start, what = (
        (lapse_at, what) if lapse_at is not None else (finding.first_problem_at, "first problem")
    )
    if start is None:
        return "low", "urgency low: no lapse and no dated problem"
    since = _days(start, now)
    cycles = since / cycle
    if cycles <= policy.urgency_medium_cycles:
        return "medium", (
            f"urgency medium: {what} {since:.0f} days ago, {cycles:.1f} cycles "
            f"≤ urgency_medium_cycles {policy.urgency_medium_cycles:g}"
        )
    return "low", (
        f"urgency low: {what} {since:.0f} days ago, {cycles:.1f} cycles "
        f"> urgency_medium_cycles {policy.urgency_medium_cycles:g}"
    )
