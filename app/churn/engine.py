"""The churn engine (SPEC §4): `evaluate(facts, policy, now) -> ClientState`.

Pure: no I/O, no clock. The write path, the sweeper, `as_of` reads and backtests all call it.
Everything time-dependent is measured from `now`, which is an argument.

The engine owns the churn rules (SPEC §4, §5): the five signals, the lost line, the value window.
Besides the status it returns the evidence the planner needs as data — each signal's `detail`,
the feedback behind `dissatisfied` (`ClientState.dissatisfaction`) and the margin carried by the
orders of the value window (`ClientState.window_margin`) — so the planner turns it into text
instead of applying the rules a second time.

**Lapse lines.** A client is lapsed (at risk) and then lost when its silence since the last order
passes two lines (`LapseLines`). With its own cycle (or a borrowed one) they are `at_risk_cycles`
and `lost_cycles` times the cycle (SPEC §4). A one- or two-time buyer has no cycle of its own, and
three times a borrowed median says little about it; when its market's `RepeatGaps` has enough
clients (`repeat_gap_min_clients`) its lines are the `repeat_gap_at_risk_quantile` and
`repeat_gap_lost_quantile` quantiles of how late second (or third) purchases come in this
business: the population's own answer to "how long is too long after one order". A client with
three or more purchase days has its own cycle; but when its gaps vary (their coefficient of
variation is above `xyz_x_max_cv`: not a regular, X buyer) the median of a few bursty gaps is a
poor clock, and its lines are never earlier than the same quantiles of the market's gaps between
later purchases (`repeat_gap_floor_irregular`): a regular buyer keeps its own early warning, an
irregular one is not called lost for a silence that is ordinary in this business. The lapsed
signal's `detail` names the rule, the quantile and how many clients (gaps) it came from.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from app.churn.facts import ClientFacts, FeedbackFact, OrderFact
from app.domain import CycleSource, Status
from app.kit.time import add_days, days_between
from app.policy.schemas import Policy
from app.predictive.population import RepeatGaps, gaps_cv

SCORED_FEEDBACK = frozenset({"survey", "review"})


@dataclass(frozen=True, slots=True)
class Signal:
    code: str
    since: datetime
    detail: dict[str, Any]


DissatisfactionCause = Literal["open_complaint", "watch_complaint", "low_score"]


@dataclass(frozen=True, slots=True)
class Dissatisfaction:
    """One feedback item behind the `dissatisfied` signal, and why it counts: a complaint still
    open, a complaint received during the recovery watch, or a low score within
    `feedback_window_days`."""

    feedback_id: str
    kind: str  # complaint, survey or review
    received_at: datetime
    cause: DissatisfactionCause
    score: float | None = None

    @property
    def text(self) -> str:
        """The reason as the signal's `detail` lists it."""
        if self.cause == "open_complaint":
            return f"complaint {self.feedback_id} unresolved"
        if self.cause == "watch_complaint":
            return f"complaint {self.feedback_id} during the watch"
        return f"{self.kind} {self.feedback_id} scored {self.score:g}"


@dataclass(frozen=True, slots=True)
class WindowMargin:
    """The orders of the value window that carry a margin: how many, their net revenue and their
    margin (a refund takes off margin in proportion to the refunded share of its order)."""

    orders: int = 0
    net: Decimal = Decimal(0)
    margin: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class LostEpisode:
    lost_at: datetime
    returned_at: datetime | None  # the order that brought the client back, if any
    by_notice: bool  # a client.churned notice, not a lapse


LineSource = Literal["cycle", "repeat_gap", "population_floor"]
GAP_NAMES = {1: "first_to_second", 2: "second_to_third"}
LATER_GAPS = "later"


@dataclass(frozen=True, slots=True)
class LapseLines:
    """Days after the last order when the client is lapsed (at risk) and when it is lost.

    `source` "cycle": `at_risk_cycles` / `lost_cycles` times the cycle; "repeat_gap": quantiles
    of the population's gaps to the next purchase (one- and two-time buyers); "population_floor":
    the cycle's lines raised to the quantiles of the later gaps (irregular buyers; see the
    module)."""

    at_risk_days: float
    watch_at_risk_days: float  # in a recovery watch (stricter)
    lost_days: float  # capped by max_lapse_days
    source: LineSource = "cycle"
    gap: str | None = None  # "first_to_second", "second_to_third" or "later"
    clients: int | None = None  # how many clients (later: gaps) the quantiles came from
    gaps_cv: float | None = None  # the client's own irregularity, for population_floor lines

    def at_risk(self, in_watch: bool) -> float:
        return self.watch_at_risk_days if in_watch else self.at_risk_days


@dataclass(slots=True)
class Occasion:
    """Orders on one UTC calendar day: one purchase occasion."""

    day: date
    first_at: datetime
    last_at: datetime
    amount: Decimal


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
    dissatisfaction: tuple[Dissatisfaction, ...]  # behind `dissatisfied`, in its detail's order
    window_margin: WindowMargin
    episodes: tuple[LostEpisode, ...] = field(default=())
    lines: LapseLines | None = None  # the lapse lines in force (None without an order)
    occasions: tuple[Occasion, ...] = field(default=())  # purchase days, oldest first

    @property
    def signal_codes(self) -> list[str]:
        return [s.code for s in self.signals]


def clamp_cycle(cycle: float, policy: Policy) -> float:
    return min(max(cycle, policy.min_cycle_days), policy.max_cycle_days)


def own_cycle_days(purchase_days: list[date]) -> float | None:
    """Median gap in days between distinct purchase days; needs at least two gaps."""
    return _median_of_sorted(sorted((b - a).days for a, b in itertools.pairwise(purchase_days)))


def _median_of_sorted(gaps: list[int]) -> float | None:
    """The median of gaps already sorted (`_episodes` keeps them so as a history grows); None
    under two gaps."""
    if len(gaps) < 2:
        return None
    middle = len(gaps) // 2
    if len(gaps) % 2:
        return float(gaps[middle])
    return (gaps[middle - 1] + gaps[middle]) / 2


def cycle_for(
    purchase_days: list[date], policy: Policy, market_cycle_days: float | None
) -> tuple[float, CycleSource]:
    return _cycle(own_cycle_days(purchase_days), policy, market_cycle_days)


def _cycle(
    own: float | None, policy: Policy, market_cycle_days: float | None
) -> tuple[float, CycleSource]:
    if own is not None:
        return clamp_cycle(own, policy), "own"
    if market_cycle_days is not None:
        return clamp_cycle(market_cycle_days, policy), "market"
    return clamp_cycle(policy.default_cycle_days, policy), "default"


def lapse_lines(
    purchase_days: list[date],
    cycle: float,
    policy: Policy,
    repeat_gaps: RepeatGaps | None = None,
) -> LapseLines:
    """The lines of a client with these purchase days and this cycle (see the module)."""
    occasions = len(purchase_days)
    watch = policy.recovered_at_risk_cycles * cycle
    gaps = repeat_gaps.for_occasions(occasions) if repeat_gaps is not None else None
    if gaps is not None and gaps.n >= policy.repeat_gap_min_clients:
        at_risk = gaps.at(policy.repeat_gap_at_risk_quantile)
        return LapseLines(
            at_risk_days=at_risk,
            watch_at_risk_days=min(watch, at_risk),
            lost_days=min(gaps.at(policy.repeat_gap_lost_quantile), policy.max_lapse_days),
            source="repeat_gap",
            gap=GAP_NAMES[occasions],
            clients=gaps.n,
        )
    at_risk = policy.at_risk_cycles * cycle
    lost = _cycle_lost_days(cycle, policy)
    later = repeat_gaps.later if repeat_gaps is not None else None
    if (
        policy.repeat_gap_floor_irregular
        and occasions >= 3
        and later is not None
        and later.n >= policy.repeat_gap_min_clients
    ):
        floor_at_risk = later.at(policy.repeat_gap_at_risk_quantile)
        floor_lost = min(later.at(policy.repeat_gap_lost_quantile), policy.max_lapse_days)
        # the floors first: the gaps' variation (a walk over every gap, for each past gap of
        # the client's history) is only worth computing where a floor would move a line
        if (floor_at_risk > at_risk or floor_lost > lost) and (
            cv := irregularity(purchase_days)
        ) > policy.xyz_x_max_cv:
            return LapseLines(
                at_risk_days=max(at_risk, floor_at_risk),
                watch_at_risk_days=watch,  # a recovery watch keeps the stricter cycle line
                lost_days=max(lost, floor_lost),
                source="population_floor",
                gap=LATER_GAPS,
                clients=later.n,
                gaps_cv=round(cv, 3),
            )
    return LapseLines(at_risk_days=at_risk, watch_at_risk_days=watch, lost_days=lost)


def _cycle_lost_days(cycle: float, policy: Policy) -> float:
    """The lost line by the cycle rule, in days after the last order."""
    return min(policy.lost_cycles * cycle, policy.max_lapse_days)


def irregularity(purchase_days: list[date]) -> float:
    """The coefficient of variation of the gaps between purchase days (XYZ's measure; nan with
    fewer than two gaps, which compares as not irregular)."""
    return gaps_cv([(b - a).days for a, b in itertools.pairwise(purchase_days)])


def lost_after(last_order_at: datetime, lines: LapseLines) -> datetime:
    """The moment a client who ordered last at `last_order_at` counts as lost by lapse alone."""
    return add_days(last_order_at, lines.lost_days)


def counting_orders(facts: ClientFacts) -> list[OrderFact]:
    """The orders that count (placed, not cancelled), in time order."""
    return sorted(
        (o for o in facts.orders.values() if o.counts),
        key=lambda o: (o.placed_at, o.order_id),
    )


def window_value(orders: list[OrderFact], policy: Policy) -> Decimal:
    """`ClientState.value` of these counting orders (SPEC §5), without evaluating the rest."""
    last_order_at = max((o.placed_at for o in orders), default=None)  # type: ignore[type-var]
    return _value_window(orders, last_order_at, policy)[0]


def occasions_of(orders: list[OrderFact]) -> list[Occasion]:
    """Counting orders (sorted by time) grouped into purchase occasions, oldest first."""
    by_day: dict[date, Occasion] = {}
    for order in orders:
        at = order.placed_at
        assert at is not None
        # the UTC calendar day, whatever the offset (SPEC §3); stored moments are mostly UTC already
        day = at.date() if at.tzinfo is UTC else at.astimezone(UTC).date()
        occasion = by_day.get(day)
        if occasion is None:
            by_day[day] = Occasion(day, at, at, order.net)
        else:
            occasion.first_at = min(occasion.first_at, at)
            occasion.last_at = max(occasion.last_at, at)
            occasion.amount += order.net
    return [by_day[d] for d in sorted(by_day)]


def _episodes(
    occasions: list[Occasion],
    notices: list[datetime],
    policy: Policy,
    market_cycle_days: float | None,
    repeat_gaps: RepeatGaps | None,
) -> list[LostEpisode]:
    """Past losses that ended in a return: each gap between purchase occasions where the client
    crossed the lost line (by lapse, with the cycle known at the time, or by a churn notice)."""
    episodes = []
    days: list[date] = []  # the purchase days before the gap, grown one at a time
    gaps: list[int] = []  # their gaps, kept sorted for the median (the cycle at the time)
    for k in range(1, len(occasions)):
        before, after = occasions[k - 1], occasions[k]
        if days:
            bisect.insort(gaps, (before.day - days[-1]).days)
        days.append(before.day)
        cycle, _ = _cycle(_median_of_sorted(gaps), policy, market_cycle_days)
        candidates = [
            (t, True) for t in notices if before.last_at < t < after.first_at
        ]  # a notice strictly between the two occasions
        # From three purchase days on, the lost line is the cycle's, or later where a population
        # floor raises it: a gap shorter than the cycle's line is no loss, whatever the floor,
        # and the lines (the floor's walk over the gaps) need not be drawn. Most gaps are so.
        if len(days) < 3 or add_days(before.last_at, _cycle_lost_days(cycle, policy)) <= (
            after.first_at
        ):
            lapse_lost = lost_after(before.last_at, lapse_lines(days, cycle, policy, repeat_gaps))
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
    repeat_gaps: RepeatGaps | None = None,
) -> ClientState:
    """The client's state at `now`. `market_cycle_days` is the median cycle of its market, when
    enough clients have their own (the caller decides; None falls back to the policy default);
    `repeat_gaps` its market's gaps to a second and third purchase (the lines of one- and
    two-time buyers; None: the cycle rule for everyone)."""
    orders = counting_orders(facts)
    occasions = occasions_of(orders)
    purchase_days = [o.day for o in occasions]
    cycle, cycle_source = cycle_for(purchase_days, policy, market_cycle_days)
    lines = lapse_lines(purchase_days, cycle, policy, repeat_gaps)

    lifetime_revenue = sum((o.net for o in orders), Decimal(0))
    first_order_at = orders[0].placed_at if orders else None
    last_order_at = max((o.placed_at for o in orders), default=None)  # type: ignore[type-var]
    value, window_margin = _value_window(orders, last_order_at, policy)

    episodes = _episodes(occasions, facts.churn_notices, policy, market_cycle_days, repeat_gaps)
    current_loss: LostEpisode | None = None
    if last_order_at is not None:
        notices_after = [t for t in facts.churn_notices if last_order_at < t <= now]
        lapse_lost = lost_after(last_order_at, lines)
        candidates = [(t, True) for t in notices_after]
        if lapse_lost <= now:
            candidates.append((lapse_lost, False))
        if candidates:
            lost_at, by_notice = min(candidates)
            current_loss = LostEpisode(lost_at, None, by_notice)
    all_episodes = [*episodes, *([current_loss] if current_loss else [])]
    recovered_at = episodes[-1].returned_at if episodes else None
    watch_ends_at = (
        add_days(recovered_at, policy.recovery_watch_days) if recovered_at is not None else None
    )
    in_watch = current_loss is None and watch_ends_at is not None and now < watch_ends_at

    found = _signals(
        facts, occasions, cycle, lines, last_order_at, recovered_at, in_watch, policy, now
    )
    signals, review_moments = found.signals, found.review

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
        review_moments.append(lost_after(last_order_at, lines))
        if in_watch and watch_ends_at is not None:
            review_moments.append(watch_ends_at)
        # a notice dated ahead of the clock (within max_future_skew) makes it lost at its moment
        review_moments.extend(t for t in facts.churn_notices if t > last_order_at)
    future = [m for m in review_moments if m > now]

    days_since = days_between(last_order_at, now) if last_order_at else None
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
        expected_next_order_at=add_days(last_order_at, cycle) if last_order_at else None,
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
        dissatisfaction=found.dissatisfaction,
        window_margin=window_margin,
        episodes=tuple(all_episodes),
        lines=lines if last_order_at is not None else None,
        occasions=tuple(occasions),
    )


def _order_margin(order: OrderFact) -> Decimal | None:
    """The order's margin net of refunds (in proportion to the refunded share), if it has one."""
    if order.margin is None or not order.amount:
        return None
    return order.margin * order.net / order.amount


def _value_window(
    orders: list[OrderFact], last_order_at: datetime | None, policy: Policy
) -> tuple[Decimal, WindowMargin]:
    """Net revenue (or margin) in the value window ending at the last order (SPEC §5), and the
    margin carried by the orders of that window."""
    if last_order_at is None:
        return Decimal(0), WindowMargin()
    start = add_days(last_order_at, -policy.value_window_days)
    total = net = margin = Decimal(0)
    counted = 0
    for order in orders:
        assert order.placed_at is not None
        if order.placed_at <= start:
            continue
        own = _order_margin(order)
        if own is not None:
            counted += 1
            net += order.net
            margin += own
        total += own if policy.value_basis == "margin" and own is not None else order.net
    return total, WindowMargin(counted, net, margin)


def _unconverted_moments(
    facts: ClientFacts, last_order_at: datetime | None, policy: Policy, now: datetime
) -> tuple[list[tuple[datetime, str]], list[datetime]]:
    """(when each request since the last order became unconverted, moments still to come)."""
    qualified: list[tuple[datetime, str]] = []
    upcoming: list[datetime] = []
    for request in facts.requests.values():
        opened = request.opened_at
        if last_order_at is not None and opened <= last_order_at:
            continue
        if request.outcome == "converted":
            continue
        # unconverted once lost, or once older than request_conversion_days with no order since,
        # whichever comes first (a request declined after it went stale was unconverted already)
        unconverted_at = add_days(opened, policy.request_conversion_days)
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


@dataclass(frozen=True, slots=True)
class _Signals:
    signals: list[Signal]  # in SIGNAL_CODES order
    review: list[datetime]  # moments still to come when a signal may start or stop
    dissatisfaction: tuple[Dissatisfaction, ...]


def _signals(
    facts: ClientFacts,
    occasions: list[Occasion],
    cycle: float,
    lines: LapseLines,
    last_order_at: datetime | None,
    recovered_at: datetime | None,
    in_watch: bool,
    policy: Policy,
    now: datetime,
) -> _Signals:
    """The five signals of SPEC §4, one rule each, in their order."""
    lapsed, lapse_review = _lapsed(last_order_at, cycle, lines, in_watch, policy, now)
    requests, request_review = _requests_not_converting(facts, last_order_at, policy, now)
    dissatisfied, dissatisfaction, feedback_review = _dissatisfied(
        facts, recovered_at, in_watch, policy, now
    )
    found = (
        lapsed,
        requests,
        _unresponsive(facts, policy),
        _volume_drop(occasions, recovered_at, policy),
        dissatisfied,
    )
    return _Signals(
        signals=[s for s in found if s is not None],
        review=[*lapse_review, *request_review, *feedback_review],
        dissatisfaction=dissatisfaction,
    )


def _lapsed(
    last_order_at: datetime | None,
    cycle: float,
    lines: LapseLines,
    in_watch: bool,
    policy: Policy,
    now: datetime,
) -> tuple[Signal | None, list[datetime]]:
    """No order for `at_risk_cycles` cycles (`recovered_at_risk_cycles` in a recovery watch), or,
    for a one- or two-time buyer, for longer than the population's at-risk gap."""
    if last_order_at is None:
        return None, []
    threshold = lines.at_risk(in_watch)
    lapsed_at = add_days(last_order_at, threshold)
    if now < lapsed_at:
        return None, [lapsed_at]
    since_days = days_between(last_order_at, now)
    detail: dict[str, Any] = {
        "days_since_last_order": round(since_days, 1),
        "cycle_days": cycle,
        "overdue_ratio": round(since_days / cycle, 2),
    }
    cycle_line = lines.source == "cycle" or (in_watch and threshold < lines.at_risk_days)
    if lines.source == "population_floor" and not cycle_line:
        detail |= {
            "threshold_days": round(threshold, 1),
            "rule": "population_floor",
            "gap": lines.gap,
            "quantile": policy.repeat_gap_at_risk_quantile,
            "clients": lines.clients,
            "gaps_cv": lines.gaps_cv,
            "cycle_threshold_days": round(policy.at_risk_cycles * cycle, 1),
            "lost_after_days": round(lines.lost_days, 1),
        }
    elif cycle_line:
        detail["threshold_cycles"] = (
            policy.recovered_at_risk_cycles if in_watch else policy.at_risk_cycles
        )
    else:
        detail |= {
            "threshold_days": round(threshold, 1),
            "rule": "repeat_gap",
            "gap": lines.gap,
            "quantile": policy.repeat_gap_at_risk_quantile,
            "clients": lines.clients,
            "lost_after_days": round(lines.lost_days, 1),
        }
    return Signal("lapsed", lapsed_at, detail), []


def _requests_not_converting(
    facts: ClientFacts, last_order_at: datetime | None, policy: Policy, now: datetime
) -> tuple[Signal | None, list[datetime]]:
    """`unconverted_requests` requests since the last order unconverted: lost, or open longer than
    `request_conversion_days`."""
    qualified, upcoming = _unconverted_moments(facts, last_order_at, policy, now)
    if len(qualified) < policy.unconverted_requests:
        return None, upcoming
    since = qualified[policy.unconverted_requests - 1][0]
    detail = {"count": len(qualified), "request_ids": [rid for _, rid in qualified]}
    return Signal("requests_not_converting", since, detail), upcoming


def _unresponsive(facts: ClientFacts, policy: Policy) -> Signal | None:
    """`unanswered_contacts` outbound contacts in a row with no answer."""
    unanswered = facts.unanswered_contact_times
    if len(unanswered) < policy.unanswered_contacts:
        return None
    since = sorted(unanswered)[policy.unanswered_contacts - 1]
    detail = {
        "unanswered_contacts": len(unanswered),
        "last_response_at": _iso(facts.last_response_at),
    }
    return Signal("unresponsive", since, detail)


def _volume_drop(
    occasions: list[Occasion], recovered_at: datetime | None, policy: Policy
) -> Signal | None:
    """The last purchase occasion below `volume_drop_ratio` of the mean of the `volume_window`
    occasions before it; after a return the baseline starts at the return."""
    baseline = [o for o in occasions if recovered_at is None or o.first_at >= recovered_at]
    window = policy.volume_window
    if len(baseline) <= window:
        return None
    last = baseline[-1]
    previous = baseline[-window - 1 : -1]
    mean = sum((o.amount for o in previous), Decimal(0)) / len(previous)
    if mean <= 0 or last.amount >= Decimal(str(policy.volume_drop_ratio)) * mean:
        return None
    detail = {
        "last_order_amount": str(last.amount),
        "previous_mean": str(mean.quantize(Decimal("0.01"))),
        "ratio": float(round(last.amount / mean, 2)),
    }
    return Signal("volume_drop", last.first_at, detail)


def _dissatisfied(
    facts: ClientFacts,
    recovered_at: datetime | None,
    in_watch: bool,
    policy: Policy,
    now: datetime,
) -> tuple[Signal | None, tuple[Dissatisfaction, ...], list[datetime]]:
    """A complaint still open, a complaint during the recovery watch, or a survey or review scored
    `low_score` or less within `feedback_window_days`. Feedback dated ahead of the clock (within
    max_future_skew) counts from its moment."""
    found: list[Dissatisfaction] = []
    review: list[datetime] = []
    for item in facts.feedback.values():
        received = item.received_at
        if received is None:
            continue
        cause = _dissatisfaction_cause(item, recovered_at, in_watch, policy, now)
        if cause is None:
            continue
        if cause == "low_score":
            review.append(add_days(received, policy.feedback_window_days))
        if received > now:
            review.append(received)
            continue
        assert item.kind is not None
        score = item.score if cause == "low_score" else None
        found.append(Dissatisfaction(item.feedback_id, item.kind, received, cause, score))
    if not found:
        return None, (), review
    found.sort(key=lambda d: (d.received_at, d.text))
    signal = Signal("dissatisfied", found[0].received_at, {"reasons": [d.text for d in found]})
    return signal, tuple(found), review


def _dissatisfaction_cause(
    item: FeedbackFact,
    recovered_at: datetime | None,
    in_watch: bool,
    policy: Policy,
    now: datetime,
) -> DissatisfactionCause | None:
    received = item.received_at
    assert received is not None
    if item.open_complaint:
        return "open_complaint"
    if in_watch and item.kind == "complaint" and recovered_at is not None:
        return "watch_complaint" if received >= recovered_at else None
    low = item.kind in SCORED_FEEDBACK and item.score is not None and item.score <= policy.low_score
    if low and now < add_days(received, policy.feedback_window_days):
        return "low_score"
    return None


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
