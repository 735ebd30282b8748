"""Why the client is leaving or left (SPEC §6, diagnosis).

Recorded reasons (exit interviews, `request.lost`, `client.churned`, complaint reason codes) win
over inferred ones. Inferred, from the engine's signals: an unresolved complaint or a low score →
`company`; a volume drop while still ordering → `competitor` (share of wallet); requests not
converting → `competitor_price`; unresponsive → `key_contact_left` (B2B: the person we knew has
gone) or `no_contact` (B2C: we lost the channel); a lapse alone → `unknown`. Of several
inferences the first in that order sets the group, and only the codes of that group are listed.
When the evidence points to a group the recorded reasons do not cover, `verify` is set: the reason
a client gives is often not the real one.

Which recorded reasons count: those given at or after the client's last order (an order
supersedes what was said before it), plus those of complaints still open. Codes the policy no
longer knows are skipped (they have no group).

The evidence is written from what the engine found — each signal's `detail`, and for
`dissatisfied` the feedback items of `ClientState.dissatisfaction` — never by applying a churn rule
to the facts again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from app.churn.engine import ClientState, Dissatisfaction, Signal
from app.churn.facts import ClientFacts, FeedbackFact, ReasonRecord
from app.kit.time import days_between
from app.plans.profile import ClientProfile
from app.plans.schemas import Diagnosis, DiagnosisGroup, DiagnosisSource
from app.policy.schemas import Policy, ReasonGroup

TERMINAL_REASON_CODES = frozenset({"business_closed", "need_changed"})
"""Reasons after which there is nothing to win back: the plan lets the client go."""

# Signals that point to a group, in the order they lead an inferred diagnosis.
INFERRED_ORDER = ("dissatisfied", "requests_not_converting", "volume_drop", "unresponsive")

_SOURCE_TEXT = {
    "contact": "a contact (exit interview)",
    "request": "lost request",
    "feedback": "feedback",
    "churned": "the churn notice",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """The diagnosis with what the rest of the plan needs from it."""

    diagnosis: Diagnosis
    recorded: tuple[ReasonRecord, ...]  # the counted recorded reasons, most recent first
    complaints: tuple[FeedbackFact, ...]  # the counted complaints, most recent first
    first_problem_at: datetime | None  # earliest non-lapse signal, recorded reason or complaint
    last_problem_at: datetime | None  # latest of them


@dataclass(frozen=True, slots=True)
class _Inference:
    signal: str
    group: ReasonGroup
    codes: tuple[str, ...]
    supports: frozenset[str]  # groups this evidence agrees with


def whole_days(earlier: datetime, later: datetime) -> int:
    return max(int(days_between(earlier, later)), 0)


def recorded_reasons(state: ClientState, facts: ClientFacts, policy: Policy) -> list[ReasonRecord]:
    """The recorded reasons that explain the current episode, most recent first. Cheap."""
    if not facts.reasons:  # most clients: no merged code table built for nothing
        return []
    known = policy.reason_codes
    last_order_at = state.last_order_at
    counted = []
    for reason in facts.reasons:
        if reason.code not in known:
            continue
        if last_order_at is None or reason.at >= last_order_at or _open_complaint(facts, reason):
            counted.append(reason)
    counted.sort(key=lambda r: r.at, reverse=True)
    return counted


def _open_complaint(facts: ClientFacts, reason: ReasonRecord) -> bool:
    if reason.source != "feedback" or reason.ref is None:
        return False
    item = facts.feedback.get(reason.ref)
    return item is not None and item.open_complaint


def terminal_reason(state: ClientState, facts: ClientFacts, policy: Policy) -> str | None:
    """A counted recorded reason after which there is nothing to win back, if any."""
    for reason in recorded_reasons(state, facts, policy):
        if reason.code in TERMINAL_REASON_CODES:
            return reason.code
    return None


def counted_complaints(state: ClientState, facts: ClientFacts) -> list[FeedbackFact]:
    """Complaints about the current episode: still open, or received since the last order."""
    last_order_at = state.last_order_at
    complaints = [
        f
        for f in facts.feedback.values()
        if f.kind == "complaint"
        and f.received_at is not None
        and (f.open_complaint or last_order_at is None or f.received_at >= last_order_at)
    ]
    complaints.sort(key=lambda f: (f.received_at, f.feedback_id), reverse=True)
    return complaints


def _distinct(codes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(codes))


def _infer(profile: ClientProfile, state: ClientState) -> list[_Inference]:
    codes = set(state.signal_codes)
    # a volume drop speaks of a competitor only while the client is still ordering
    still_ordering = state.status != "lost" and "lapsed" not in codes
    found = []
    for code in INFERRED_ORDER:
        if code not in codes:
            continue
        if code == "dissatisfied":
            found.append(_Inference(code, "company", (), frozenset({"company"})))
        elif code == "requests_not_converting":
            found.append(
                _Inference(code, "competitor", ("competitor_price",), frozenset({"competitor"}))
            )
        elif code == "volume_drop" and still_ordering:
            found.append(_Inference(code, "competitor", (), frozenset({"competitor"})))
        elif code == "unresponsive":
            both = frozenset({"external", "company"})
            if profile.market == "b2b":
                found.append(_Inference(code, "external", ("key_contact_left",), both))
            else:
                found.append(_Inference(code, "company", ("no_contact",), both))
    return found


def diagnose(
    profile: ClientProfile,
    state: ClientState,
    facts: ClientFacts,
    policy: Policy,
    now: datetime,
) -> Finding:
    groups = policy.reason_codes
    recorded = recorded_reasons(state, facts, policy)
    inferred = _infer(profile, state)
    signals = {s.code: s for s in state.signals}

    evidence = [_recorded_text(r, now) for r in recorded]
    for signal in state.signals:
        evidence.extend(_signal_texts(signal, state, policy, now))

    group: DiagnosisGroup
    source: DiagnosisSource
    verify = False
    if recorded:
        reason_codes = _distinct(r.code for r in recorded)
        group = groups[reason_codes[0]]
        source = "recorded"
        covered = {groups[c] for c in reason_codes}
        for item in inferred:
            if not covered & item.supports:
                verify = True
                said = f"{', '.join(reason_codes)} ({', '.join(sorted(covered))})"
                seen = ", ".join(sorted(item.supports))
                evidence.append(
                    f"verify: recorded {said} disagrees with the {item.signal} evidence ({seen})"
                )
    elif inferred:
        group = inferred[0].group
        reason_codes = _distinct(c for item in inferred if item.group == group for c in item.codes)
        source = "inferred"
    else:
        reason_codes = []
        group = "unknown"
        source = "none"
        if "lapsed" in signals or state.status == "lost":
            evidence.append("no reason recorded or visible in the signals: the lapse alone")

    complaints = counted_complaints(state, facts)
    problems = [r.at for r in recorded]
    problems.extend(s.since for s in state.signals if s.code != "lapsed")
    problems.extend(c.received_at for c in complaints if c.received_at is not None)
    human_factor = any(code in policy.human_factor_codes for code in reason_codes)
    return Finding(
        diagnosis=Diagnosis(
            group=group,
            reason_codes=reason_codes,
            source=source,
            human_factor=human_factor,
            verify=verify,
            evidence=evidence,
        ),
        recorded=tuple(recorded),
        complaints=tuple(complaints),
        first_problem_at=min(problems, default=None),
        last_problem_at=max(problems, default=None),
    )


def _recorded_text(reason: ReasonRecord, now: datetime) -> str:
    where = _SOURCE_TEXT.get(reason.source, reason.source)
    if reason.ref and reason.source in ("request", "feedback"):
        where = f"{where} {reason.ref}"
    return f"{reason.code} recorded {whole_days(reason.at, now)} days ago in {where}"


def _signal_texts(signal: Signal, state: ClientState, policy: Policy, now: datetime) -> list[str]:
    detail = signal.detail
    if signal.code == "lapsed" and detail.get("rule") == "repeat_gap":
        which = "second" if detail["gap"] == "first_to_second" else "third"
        return [
            f"no order for {detail['days_since_last_order']:.0f} days after "
            f"{'one purchase' if which == 'second' else 'two purchases'}: "
            f"{detail['quantile']:.0%} of this business's clients who made a {which} "
            f"purchase made it sooner (at-risk line {detail['threshold_days']:g} days, the "
            f"{detail['quantile']:g} quantile of {detail['clients']} clients' gaps)"
        ]
    if signal.code == "lapsed":
        return [
            f"no order for {detail['days_since_last_order']:.0f} days: "
            f"{detail['overdue_ratio']:.2f} cycles of {detail['cycle_days']:g} days "
            f"(at-risk line {detail['threshold_cycles']:g} cycles)"
        ]
    if signal.code == "requests_not_converting":
        return [
            f"{detail['count']} requests since the last order not converted "
            f"(unconverted_requests {policy.unconverted_requests}): "
            + ", ".join(detail["request_ids"])
        ]
    if signal.code == "unresponsive":
        return [
            f"{detail['unanswered_contacts']} outbound contacts unanswered in a row "
            f"(unanswered_contacts {policy.unanswered_contacts})"
        ]
    if signal.code == "volume_drop":
        return [
            f"last order {detail['last_order_amount']} is {detail['ratio']:g} of the mean "
            f"{detail['previous_mean']} of the previous {policy.volume_window} "
            f"(volume_drop_ratio {policy.volume_drop_ratio:g})"
        ]
    if signal.code == "dissatisfied":
        items = sorted(state.dissatisfaction, key=lambda d: (d.received_at, d.feedback_id))
        return [_dissatisfaction_text(item, policy, now) for item in items]
    return [signal.code]


def _dissatisfaction_text(item: Dissatisfaction, policy: Policy, now: datetime) -> str:
    """The engine's evidence for `dissatisfied`, one feedback item, with its age in days."""
    age = whole_days(item.received_at, now)
    if item.cause == "open_complaint":
        return f"complaint {item.feedback_id} unresolved {age} days"
    if item.cause == "watch_complaint":
        return f"complaint {item.feedback_id} {age} days ago, during the recovery watch"
    assert item.score is not None
    return (
        f"{item.kind} {item.feedback_id} scored {item.score:g} of 10 {age} days ago "
        f"(low_score {policy.low_score:g}, feedback_window_days "
        f"{policy.feedback_window_days:g})"
    )
