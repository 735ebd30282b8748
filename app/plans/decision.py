"""What to do with a client: the decision of SPEC §6, with its reasons.

Cheap on purpose: the write path calls `decision_rule` on every event to store the `decision`
column that lists filter on (the decision only, no text); `decide` words the same rule. It reads
only the state, the profile, the recorded reasons and `now`. Each reason carries a code
(`DecisionReasonCode`) beside its text.

Order:
1. nothing to do — `prospect`, `active`, `recovered` without a signal → `no_action`;
2. the let-go guards, first match wins — `do_not_contact`; `lost_count ≥ max_losses`; a recorded
   `business_closed` / `need_changed`; `problem_client` → `let_go`;
3. `lost` by tier — A → `return_first`, B → `should_return`, C with `advocate` →
   `return_if_possible`, C (or no tier yet) → `let_go`;
4. `at_risk` (including a recovered client with a signal in its watch) → `retain`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from app.churn.engine import ClientState
from app.churn.facts import ClientFacts
from app.domain import Decision
from app.kit.money import to_money
from app.kit.time import days_between
from app.plans.diagnosis import terminal_reason
from app.plans.profile import ClientProfile
from app.plans.schemas import DecisionReason, DecisionReasonCode
from app.policy.schemas import Policy


def money_text(value: Decimal) -> str:
    """48200 -> '48,200.00' (for reasons and evidence; the API's money fields are plain)."""
    return f"{to_money(value):,.2f}"


def reason(code: DecisionReasonCode, text: str) -> DecisionReason:
    return DecisionReason(code=code, text=text)


def days_since_lost(state: ClientState, now: datetime) -> float | None:
    """Days since a `lost` client was lost; None for any other status."""
    if state.status != "lost" or state.last_lost_at is None:
        return None
    return max(days_between(state.last_lost_at, now), 0.0)


def cycles_since_lost(state: ClientState, now: datetime) -> float | None:
    """The lapse of a `lost` client in its own cycles, counted from the moment it was lost (the
    SPEC's "lost 40 days ago: 1.3 cycles"); None for any other status."""
    since = days_since_lost(state, now)
    return None if since is None else since / state.cycle_days


def lost_text(state: ClientState, now: datetime) -> str:
    """'lost 40 days ago: 1.3 cycles of 30 days' for a lost client."""
    since = days_since_lost(state, now)
    if since is None:
        return "lost"
    how = ""
    if state.episodes and state.episodes[-1].by_notice:
        how = " (churn notice)"
    return (
        f"lost {since:.0f} days ago{how}: {since / state.cycle_days:.1f} cycles "
        f"of {state.cycle_days:g} days"
    )


def signals_text(state: ClientState) -> str:
    text = f"at risk: signals {', '.join(state.signal_codes)}"
    if state.in_watch and state.watch_ends_at is not None:
        text += f"; recovered, in the watch until {state.watch_ends_at.date().isoformat()}"
    return text


def decision_rule(
    profile: ClientProfile, state: ClientState, facts: ClientFacts, policy: Policy
) -> tuple[Decision, DecisionReasonCode | None]:
    """The decision and the code of the rule that took it (None: `retain`, which only the
    client's state explains). No text: the write path and the sweep keep the decision only
    (`decide` words the rule)."""
    status = state.status
    if status == "prospect":
        return "no_action", "prospect"
    if status == "active":
        return "no_action", "active"
    if status == "recovered" and not state.signals:
        return "no_action", "recovered_watch"
    if profile.do_not_contact:
        return "let_go", "do_not_contact"
    if state.lost_count >= policy.max_losses:
        return "let_go", "max_losses"
    if terminal_reason(state, facts, policy) is not None:
        return "let_go", "nothing_to_win_back"
    if profile.problem_client:
        return "let_go", "problem_client"
    if status != "lost":
        return "retain", None
    tier = profile.tier
    if tier == "A":
        return "return_first", "tier_a"
    if tier == "B":
        return "should_return", "tier_b"
    if profile.advocate:
        return "return_if_possible", "advocate"
    return "let_go", "tier_c"


def decide(
    profile: ClientProfile,
    state: ClientState,
    facts: ClientFacts,
    policy: Policy,
    now: datetime,
) -> tuple[Decision, list[DecisionReason]]:
    """The decision and the rules that took it, each with its code and its text. `state` is
    `evaluate(facts, policy, now)`."""
    decision, code = decision_rule(profile, state, facts, policy)
    if code is None:  # retain: the signals say why
        return decision, [reason("signals", signals_text(state))]
    rule = reason(code, _rule_text(code, profile, state, facts, policy))
    if decision == "no_action":
        return decision, [rule]
    context = (
        reason("lapse", lost_text(state, now))
        if state.status == "lost"
        else reason("signals", signals_text(state))
    )
    return decision, [rule, context]


def _rule_text(
    code: DecisionReasonCode,
    profile: ClientProfile,
    state: ClientState,
    facts: ClientFacts,
    policy: Policy,
) -> str:
    match code:
        case "prospect":
            return "prospect: no order yet"
        case "active":
            return "active: no signal"
        case "recovered_watch":
            ends = state.watch_ends_at.date().isoformat() if state.watch_ends_at else "?"
            return (
                f"recovered, no signal; watch until {ends} "
                f"(recovery_watch_days {policy.recovery_watch_days:g})"
            )
        case "do_not_contact":
            return "do_not_contact: the client asked not to be contacted"
        case "max_losses":
            return (
                f"lost {state.lost_count} times (max_losses {policy.max_losses}): "
                "a client lost that often is not brought back"
            )
        case "nothing_to_win_back":
            terminal = terminal_reason(state, facts, policy)
            return f"diagnosis {terminal}: there is nothing to win back"
        case "problem_client":
            return "problem client: costs more than it brings"
        case "tier_a":
            return f"tier A (value {money_text(state.value)})"
        case "tier_b":
            return f"tier B (value {money_text(state.value)})"
        case "advocate":
            return (
                f"{_tier_c_label(profile)} with advocate (value {money_text(state.value)}): "
                "treated as B, it brings others"
            )
        case "tier_c":
            return (
                f"{_tier_c_label(profile)} (value {money_text(state.value)}): "
                "a win-back would cost more than it brings"
            )
    raise ValueError(f"not a decision rule: {code}")


def _tier_c_label(profile: ClientProfile) -> str:
    return "tier C" if profile.tier == "C" else "no tier yet, treated as C"
