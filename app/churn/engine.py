"""The churn engine (SPEC §4): `evaluate(facts, policy, now) -> ClientState`.

Pure: no I/O, no clock. The write path, the sweeper, `as_of` reads and backtests all call it.
Everything time-dependent is measured from `now`, which is an argument.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from app.churn.facts import ClientFacts, OrderFact
from app.domain import CycleSource, Status
from app.policy.schemas import Policy

SCORED_FEEDBACK = frozenset({"survey", "review"})


@dataclass(frozen=True, slots=True)
class Signal:
    code: str
    since: datetime
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LostEpisode:
    lost_at: datetime
    returned_at: datetime | None  # the order that brought the client back, if any
    by_notice: bool  # a client.churned notice, not a lapse


@dataclass(frozen=True, slots=True)
class ClientState:
    orders_count: int
    purchase_days: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    lifetime_revenue: Decimal
    value: Decimal
    average_order_value: Decimal | None
    cycle_days: float
    cycle_source: CycleSource
    expected_next_order_at: datetime | None
    days_since_last_order: float | None
    overdue_ratio: float | None
    open_requests: int
    unconverted_requests: int
    unanswered_contacts: int
    last_contact_at: datetime | None
    last_response_at: datetime | None
    open_complaints: int
    status: Status
    status_since: datetime | None
    signals: tuple[Signal, ...]
    lost_count: int
    last_lost_at: datetime | None
    recovered_at: datetime | None
    in_watch: bool
    watch_ends_at: datetime | None
    next_review_at: datetime | None
    episodes: tuple[LostEpisode, ...] = field(default=())

    @property
    def signal_codes(self) -> list[str]:
        return [s.code for s in self.signals]


def days(n: float) -> timedelta:
    return timedelta(days=n)


def clamp_cycle(cycle: float, policy: Policy) -> float:
    return min(max(cycle, policy.min_cycle_days), policy.max_cycle_days)


def own_cycle_days(purchase_days: list[date]) -> float | None:
    """Median gap in days between distinct purchase days; needs at least two gaps."""
    if len(purchase_days) < 3:
        return None
    gaps = [(b - a).days for a, b in itertools.pairwise(purchase_days)]
    return float(median(gaps))


def cycle_for(
    purchase_days: list[date], policy: Policy, market_cycle_days: float | None
) -> tuple[float, CycleSource]:
    own = own_cycle_days(purchase_days)
    if own is not None:
        return clamp_cycle(own, policy), "own"
    if market_cycle_days is not None:
        return clamp_cycle(market_cycle_days, policy), "market"
    return clamp_cycle(policy.default_cycle_days, policy), "default"


def lost_after(last_order_at: datetime, cycle: float, policy: Policy) -> datetime:
    """The moment a client who ordered last at `last_order_at` counts as lost by lapse alone."""
    return last_order_at + days(min(policy.lost_cycles * cycle, policy.max_lapse_days))


@dataclass(slots=True)
class _Occasion:
    """Orders on one UTC calendar day: one purchase occasion."""

    day: date
    first_at: datetime
    last_at: datetime
    amount: Decimal


def _occasions(orders: list[OrderFact]) -> list[_Occasion]:
    by_day: dict[date, _Occasion] = {}
    for order in orders:
        at = order.placed_at
        assert at is not None
        day = at.astimezone(UTC).date()  # the UTC calendar day, whatever the offset (SPEC §3)
        occasion = by_day.get(day)
        if occasion is None:
            by_day[day] = _Occasion(day, at, at, order.net)
        else:
            occasion.first_at = min(occasion.first_at, at)
            occasion.last_at = max(occasion.last_at, at)
            occasion.amount += order.net
    return [by_day[d] for d in sorted(by_day)]


def _episodes(
    occasions: list[_Occasion],
    notices: list[datetime],
    policy: Policy,
    market_cycle_days: float | None,
) -> list[LostEpisode]:
    """Past losses that ended in a return: each gap between purchase occasions where the client
    crossed the lost line (by lapse, with the cycle known at the time, or by a churn notice)."""
    episodes = []
    for k in range(1, len(occasions)):
        before, after = occasions[k - 1], occasions[k]
        cycle, _ = cycle_for([o.day for o in occasions[:k]], policy, market_cycle_days)
        candidates = [
            (t, True) for t in notices if before.last_at < t < after.first_at
        ]  # a notice strictly between the two occasions
        lapse_lost = lost_after(before.last_at, cycle, policy)
        if lapse_lost <= after.first_at:
            candidates.append((lapse_lost, False))
        if candidates:
            lost_at, by_notice = min(candidates)
            episodes.append(LostEpisode(lost_at, after.first_at, by_notice))
    return episodes


def evaluate(
    facts: ClientFacts,
    policy: Policy,
    now: datetime,
    market_cycle_days: float | None = None,
) -> ClientState:
    """The client's state at `now`. `market_cycle_days` is the median cycle of its market, when
    enough clients have their own (the caller decides; None falls back to the policy default)."""
    orders = sorted(
        (o for o in facts.orders.values() if o.counts),
        key=lambda o: (o.placed_at, o.order_id),
    )
    occasions = _occasions(orders)
    purchase_days = [o.day for o in occasions]
    cycle, cycle_source = cycle_for(purchase_days, policy, market_cycle_days)

    lifetime_revenue = sum((o.net for o in orders), Decimal(0))
    first_order_at = orders[0].placed_at if orders else None
    last_order_at = max((o.placed_at for o in orders), default=None)  # type: ignore[type-var]
    value = _value(orders, last_order_at, policy)

    episodes = _episodes(occasions, facts.churn_notices, policy, market_cycle_days)
    current_loss: LostEpisode | None = None
    if last_order_at is not None:
        notices_after = [t for t in facts.churn_notices if last_order_at < t <= now]
        lapse_lost = lost_after(last_order_at, cycle, policy)
        candidates = [(t, True) for t in notices_after]
        if lapse_lost <= now:
            candidates.append((lapse_lost, False))
        if candidates:
            lost_at, by_notice = min(candidates)
            current_loss = LostEpisode(lost_at, None, by_notice)
    all_episodes = [*episodes, *([current_loss] if current_loss else [])]
    recovered_at = episodes[-1].returned_at if episodes else None
    watch_ends_at = (
        recovered_at + days(policy.recovery_watch_days) if recovered_at is not None else None
    )
    in_watch = current_loss is None and watch_ends_at is not None and now < watch_ends_at

    signals, review_moments = _signals(
        facts, orders, occasions, cycle, last_order_at, recovered_at, in_watch, policy, now
    )

    status: Status
    if last_order_at is None:
        status = "prospect"
    elif current_loss is not None:
        status = "lost"
    elif signals:
        status = "at_risk"
    elif in_watch:
        status = "recovered"
    else:
        status = "active"

    if last_order_at is not None and current_loss is None:
        review_moments.append(lost_after(last_order_at, cycle, policy))
        if in_watch and watch_ends_at is not None:
            review_moments.append(watch_ends_at)
        # a notice dated ahead of the clock (within max_future_skew) makes it lost at its moment
        review_moments.extend(t for t in facts.churn_notices if t > last_order_at)
    future = [m for m in review_moments if m > now]

    days_since = (now - last_order_at).total_seconds() / 86400 if last_order_at else None
    open_requests = [
        r
        for r in facts.requests.values()
        if r.outcome is None and (last_order_at is None or r.opened_at > last_order_at)
    ]
    unconverted = next((s for s in signals if s.code == "requests_not_converting"), None)
    return ClientState(
        orders_count=len(orders),
        purchase_days=len(occasions),
        first_order_at=first_order_at,
        last_order_at=last_order_at,
        lifetime_revenue=lifetime_revenue,
        value=value,
        average_order_value=(lifetime_revenue / len(orders)).quantize(Decimal("0.01"))
        if orders
        else None,
        cycle_days=cycle,
        cycle_source=cycle_source,
        expected_next_order_at=last_order_at + days(cycle) if last_order_at else None,
        days_since_last_order=days_since,
        overdue_ratio=days_since / cycle if days_since is not None else None,
        open_requests=len(open_requests),
        unconverted_requests=_count_unconverted(facts, last_order_at, policy, now)
        if unconverted is None
        else unconverted.detail["count"],
        unanswered_contacts=len(facts.unanswered_contact_times),
        last_contact_at=facts.last_contact_at,
        last_response_at=facts.last_response_at,
        open_complaints=sum(1 for f in facts.feedback.values() if f.open_complaint),
        status=status,
        status_since=_status_since(
            status, facts, signals, current_loss, recovered_at, watch_ends_at, last_order_at
        ),
        signals=tuple(signals),
        lost_count=len(all_episodes),
        last_lost_at=all_episodes[-1].lost_at if all_episodes else None,
        recovered_at=recovered_at,
        in_watch=in_watch,
        watch_ends_at=watch_ends_at,
        next_review_at=min(future) if future else None,
        episodes=tuple(all_episodes),
    )


def _value(orders: list[OrderFact], last_order_at: datetime | None, policy: Policy) -> Decimal:
    """Net revenue (or margin) in the value window ending at the last order (SPEC §5)."""
    if last_order_at is None:
        return Decimal(0)
    start = last_order_at - days(policy.value_window_days)
    total = Decimal(0)
    for order in orders:
        assert order.placed_at is not None
        if order.placed_at > start:
            if policy.value_basis == "margin" and order.margin is not None and order.amount:
                # refunds reduce margin in proportion to the refunded share of the order
                total += order.margin * order.net / order.amount
            else:
                total += order.net
    return total


def _unconverted_moments(
    facts: ClientFacts, last_order_at: datetime | None, policy: Policy, now: datetime
) -> tuple[list[tuple[datetime, str]], list[datetime]]:
    """(when each request since the last order became unconverted, moments still to come)."""
    qualified: list[tuple[datetime, str]] = []
    upcoming: list[datetime] = []
    wait = days(policy.request_conversion_days)
    for request in facts.requests.values():
        opened = request.opened_at
        if last_order_at is not None and opened <= last_order_at:
            continue
        if request.outcome == "converted":
            continue
        # unconverted once lost, or once older than request_conversion_days with no order since,
        # whichever comes first (a request declined after it went stale was unconverted already)
        unconverted_at = opened + wait
        if request.outcome == "lost":
            assert request.closed_at is not None
            unconverted_at = min(unconverted_at, request.closed_at)
        if unconverted_at <= now:
            qualified.append((unconverted_at, request.request_id))
        else:
            upcoming.append(unconverted_at)
    qualified.sort()
    return qualified, upcoming


def _count_unconverted(
    facts: ClientFacts, last_order_at: datetime | None, policy: Policy, now: datetime
) -> int:
    return len(_unconverted_moments(facts, last_order_at, policy, now)[0])


def _signals(
    facts: ClientFacts,
    orders: list[OrderFact],
    occasions: list[_Occasion],
    cycle: float,
    last_order_at: datetime | None,
    recovered_at: datetime | None,
    in_watch: bool,
    policy: Policy,
    now: datetime,
) -> tuple[list[Signal], list[datetime]]:
    signals: list[Signal] = []
    review: list[datetime] = []

    # 1. lapsed
    if last_order_at is not None:
        cycles = policy.recovered_at_risk_cycles if in_watch else policy.at_risk_cycles
        lapsed_at = last_order_at + days(cycles * cycle)
        if now >= lapsed_at:
            since_days = (now - last_order_at).total_seconds() / 86400
            signals.append(
                Signal(
                    "lapsed",
                    lapsed_at,
                    {
                        "days_since_last_order": round(since_days, 1),
                        "cycle_days": cycle,
                        "overdue_ratio": round(since_days / cycle, 2),
                        "threshold_cycles": cycles,
                    },
                )
            )
        else:
            review.append(lapsed_at)

    # 2. requests_not_converting
    qualified, upcoming = _unconverted_moments(facts, last_order_at, policy, now)
    review.extend(upcoming)
    if len(qualified) >= policy.unconverted_requests:
        signals.append(
            Signal(
                "requests_not_converting",
                qualified[policy.unconverted_requests - 1][0],
                {"count": len(qualified), "request_ids": [rid for _, rid in qualified]},
            )
        )

    # 3. unresponsive
    unanswered = facts.unanswered_contact_times
    if len(unanswered) >= policy.unanswered_contacts:
        signals.append(
            Signal(
                "unresponsive",
                sorted(unanswered)[policy.unanswered_contacts - 1],
                {
                    "unanswered_contacts": len(unanswered),
                    "last_response_at": _iso(facts.last_response_at),
                },
            )
        )

    # 4. volume_drop: per purchase occasion; after a return the baseline starts at the return
    baseline = [o for o in occasions if recovered_at is None or o.first_at >= recovered_at]
    window = policy.volume_window
    if len(baseline) > window:
        last = baseline[-1]
        previous = baseline[-window - 1 : -1]
        mean = sum((o.amount for o in previous), Decimal(0)) / len(previous)
        if mean > 0 and last.amount < Decimal(str(policy.volume_drop_ratio)) * mean:
            signals.append(
                Signal(
                    "volume_drop",
                    last.first_at,
                    {
                        "last_order_amount": str(last.amount),
                        "previous_mean": str(mean.quantize(Decimal("0.01"))),
                        "ratio": float(round(last.amount / mean, 2)),
                    },
                )
            )

    # 5. dissatisfied
    reasons: list[tuple[datetime, str]] = []
    window_days = days(policy.feedback_window_days)
    for item in facts.feedback.values():
        received = item.received_at
        if received is None:
            continue
        reason: str | None = None
        if item.open_complaint:
            reason = f"complaint {item.feedback_id} unresolved"
        elif (
            in_watch
            and item.kind == "complaint"
            and recovered_at is not None
            and received >= recovered_at
        ):
            reason = f"complaint {item.feedback_id} during the watch"
        elif (
            item.kind in SCORED_FEEDBACK
            and item.score is not None
            and item.score <= policy.low_score
        ):
            expires = received + window_days
            if now < expires:
                reason = f"{item.kind} {item.feedback_id} scored {item.score:g}"
                review.append(expires)
        if reason is None:
            continue
        if received > now:
            # dated ahead of the clock (within max_future_skew): it counts from its moment
            review.append(received)
        else:
            reasons.append((received, reason))
    if reasons:
        reasons.sort()
        signals.append(
            Signal("dissatisfied", reasons[0][0], {"reasons": [text for _, text in reasons]})
        )
    return signals, review


def _status_since(
    status: Status,
    facts: ClientFacts,
    signals: list[Signal],
    current_loss: LostEpisode | None,
    recovered_at: datetime | None,
    watch_ends_at: datetime | None,
    last_order_at: datetime | None,
) -> datetime | None:
    if status == "prospect":
        return facts.first_event_at
    if status == "lost":
        return current_loss.lost_at if current_loss else None
    if status == "recovered":
        return recovered_at
    if status == "at_risk":
        return min(s.since for s in signals)
    # active (never in a watch here): since the last order or the end of a finished watch
    moments = [m for m in (last_order_at, watch_ends_at) if m is not None]
    return max(moments) if moments else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
