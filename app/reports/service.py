"""Reports (SPEC §7): churn by period and group, and the reasons clients are lost, ranked by the
value they cost. The figures are computed in SQL over the status history (reports.repository);
here are the periods, the ranking of a few dozen reason rows, and the CSV shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import csv
from app.kit.money import to_money
from app.kit.problems import invalid
from app.policy.schemas import Policy
from app.reports import repository
from app.reports.schemas import (
    AbcClass,
    ChurnReport,
    ChurnRow,
    GroupBy,
    Interval,
    ReasonGroup,
    ReasonGroupRow,
    ReasonRow,
    ReasonsReport,
    Unexplained,
)

MAX_PERIODS = 520
DEFAULT_PERIODS = {"week": 13, "month": 12, "quarter": 4}
RATE_PLACES = 4
# ABC analysis of reasons: A up to 80 % of the value lost for a known reason, B up to 95 %.
ABC_CUTOFFS = (Decimal("0.80"), Decimal("0.95"))


# --- periods ------------------------------------------------------------------------------------


def period_start(day: date, interval: Interval) -> date:
    """The first day of the calendar period (ISO week from Monday, month, quarter) of `day`."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def shift(start: date, interval: Interval, periods: int) -> date:
    """The start of the period `periods` after (or before, if negative) the one at `start`."""
    if interval == "week":
        return start + timedelta(weeks=periods)
    months = periods * (3 if interval == "quarter" else 1)
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True)
class Periods:
    first: date  # start of the first period
    last: date  # start of the last period
    end: date  # end of the last period
    count: int


def periods(interval: Interval, start: date | None, to: date | None, today: date) -> Periods:
    """The calendar periods from the one containing `start` through the one containing `to`
    (default: today's, and as many before it as DEFAULT_PERIODS)."""
    to = to or today
    last = period_start(to, interval)
    first = (
        period_start(start, interval)
        if start
        else shift(last, interval, 1 - DEFAULT_PERIODS[interval])
    )
    if first > last:
        raise invalid("from", "must not be after `to`", "invalid_range")
    count = 0
    moment = first
    while moment <= last:
        moment = shift(moment, interval, 1)
        count += 1
        if count > MAX_PERIODS:
            raise invalid("from", f"the range holds more than {MAX_PERIODS} periods", "too_long")
    return Periods(first, last, moment, count)


# --- churn --------------------------------------------------------------------------------------


def _group_order(group: str | None) -> tuple[bool, str]:
    return (group is None, group or "")


def churn_rows(
    rows: Sequence[Mapping[str, Any]], starts: Sequence[date], end: date
) -> list[ChurnRow]:
    """The report's rows from the SQL's aggregates: per group, the base now (k None) and per
    period k (1..n, n + 1 after the last) its movement, losses and returns. The base at the
    start of period k is the base now minus every movement from k on."""
    base_now: dict[str | None, int] = {}
    moves: dict[tuple[str | None, int], dict[str, Any]] = {}
    for row in rows:
        if row["k"] is None:  # the base now may come in several rows (a tally, and since)
            base_now[row["grp"]] = base_now.get(row["grp"], 0) + int(row["delta"])
            continue
        # a period may come in several rows: their figures add up
        move = moves.setdefault((row["grp"], int(row["k"])), {})
        for name in ("delta", "lost", "lost_value", "recovered", "recovered_value"):
            move[name] = move.get(name, 0) + row[name]
        if row["entered"] and row["k_entered"]:  # a late history's clients entered the base then
            entry = moves.setdefault((row["grp"], int(row["k_entered"])), {})
            entry["delta"] = entry.get("delta", 0) + row["entered"]
    in_base = {group for group, clients in base_now.items() if clients}
    groups = sorted(in_base | {group for group, _ in moves}, key=_group_order)
    bounds = [*starts, end]
    out: dict[tuple[int, str | None], ChurnRow] = {}
    for group in groups:
        at_start = base_now.get(group, 0)
        for k in range(len(starts) + 1, 0, -1):  # from the changes after the end backwards
            move = moves.get((group, k), {})
            at_start -= int(move.get("delta", 0))
            if k > len(starts):
                continue
            lost = int(move.get("lost", 0))
            out[(k, group)] = ChurnRow(
                period_start=bounds[k - 1],
                period_end=bounds[k],
                group=group,
                clients_at_start=at_start,
                lost=lost,
                churn_rate=round(lost / at_start, RATE_PLACES) if at_start > 0 else None,
                lost_value=to_money(move.get("lost_value", 0)),
                recovered=int(move.get("recovered", 0)),
                recovered_value=to_money(move.get("recovered_value", 0)),
            )
    return [out[(k, group)] for k in range(1, len(starts) + 1) for group in groups]


async def churn(
    session: AsyncSession,
    interval: Interval,
    start: date | None,
    to: date | None,
    group_by: GroupBy | None,
    now: datetime,
) -> ChurnReport:
    span = periods(interval, start, to, now.date())
    starts = [shift(span.first, interval, k) for k in range(span.count)]
    rows = await repository.churn(
        session, interval, midnight(span.first), midnight(span.end), group_by
    )
    return ChurnReport(
        from_=span.first,
        to=span.end - timedelta(days=1),
        interval=interval,
        group_by=group_by,
        as_of=now,
        rows=churn_rows(rows, starts, span.end),
    )


async def refresh_tally(
    session: AsyncSession, now: datetime, every_seconds: float, policy: Policy
) -> bool:
    """Re-make the reports' tallies if the last ones are `every_seconds` old (judged by the
    stored time, so restarts and several workers agree); True if this call made them."""
    state = await repository.tally_state(session)
    if state is not None and (now - state[0]).total_seconds() < every_seconds:
        return False
    return await repository.refresh_tallies(session, now, list(policy.reason_codes))


CHURN_CSV_COLUMNS = (
    "period_start",
    "period_end",
    "group",
    "clients_at_start",
    "lost",
    "churn_rate",
    "lost_value",
    "recovered",
    "recovered_value",
)


def churn_csv(report: ChurnReport) -> AsyncIterator[str]:
    rows = [[row.model_dump(mode="json")[c] for c in CHURN_CSV_COLUMNS] for row in report.rows]
    return csv.rows_to_text(CHURN_CSV_COLUMNS, _one_page(rows))


async def _one_page(rows: list[list[Any]]) -> AsyncIterator[list[list[Any]]]:
    yield rows


# --- reasons ------------------------------------------------------------------------------------

# An inferred reason, by the signal at the loss (and the market for `unresponsive`): the table of
# the plan's diagnosis (docs/plans.md).
INFERRED: dict[tuple[str, str | None], tuple[ReasonGroup, str | None]] = {
    ("dissatisfied", None): ("company", None),
    ("requests_not_converting", None): ("competitor", "competitor_price"),
    ("unresponsive", "b2b"): ("external", "key_contact_left"),
    ("unresponsive", "b2c"): ("company", "no_contact"),
}


def inferred(signal: str, market: str) -> tuple[ReasonGroup, str | None]:
    return INFERRED.get((signal, None)) or INFERRED[(signal, market)]


@dataclass
class _Reason:
    source: str
    reason: str
    code: str | None
    signal: str | None
    group: ReasonGroup
    clients: int = 0
    value: Decimal = Decimal(0)


def _share(part: Decimal, whole: Decimal) -> Decimal:
    return part / whole if whole > 0 else Decimal(0)


def abc_class(before: Decimal) -> AbcClass:
    """A reason is A while the share before it is under 80 % (the one that crosses is A)."""
    if before < ABC_CUTOFFS[0]:
        return "A"
    if before < ABC_CUTOFFS[1]:
        return "B"
    return "C"


def rank_reasons(
    rows: Sequence[Mapping[str, Any]], policy: Policy
) -> tuple[list[ReasonRow], list[ReasonGroupRow], Unexplained, int, Decimal]:
    """Rank the reason rows (recorded_code, signal, market, clients, value) by value: shares of
    the value lost for a known reason, cumulative shares and the A/B/C class; the same by
    group; what is lost for no known reason. Returns also the clients and value lost in all."""
    groups = policy.reason_codes
    found: dict[tuple[str, str], _Reason] = {}
    unknown_clients, unknown_value = 0, Decimal(0)
    for row in rows:
        clients, value = int(row["clients"]), Decimal(row["value"])
        code, signal = row["recorded_code"], row["signal"]
        if code is not None and code in groups:
            item = found.setdefault(
                ("recorded", code), _Reason("recorded", code, code, None, groups[code])
            )
        elif signal is not None:
            group, inferred_code = inferred(signal, row["market"])
            reason = inferred_code or signal
            item = found.setdefault(
                ("inferred", reason), _Reason("inferred", reason, inferred_code, signal, group)
            )
        else:
            unknown_clients += clients
            unknown_value += value
            continue
        item.clients += clients
        item.value += value

    ordered = sorted(found.values(), key=lambda r: (-r.value, -r.clients, r.source, r.reason))
    known = sum((r.value for r in ordered), Decimal(0))
    reasons = []
    running = Decimal(0)
    for rank, item in enumerate(ordered, start=1):
        before = _share(running, known)
        running += item.value
        reasons.append(
            ReasonRow(
                rank=rank,
                reason=item.reason,
                reason_code=item.code,
                signal=item.signal,
                group=item.group,
                source=item.source,  # type: ignore[arg-type]
                clients=item.clients,
                value=to_money(item.value),
                share=round(float(_share(item.value, known)), RATE_PLACES),
                cumulative_share=round(float(_share(running, known)), RATE_PLACES),
                abc_class=abc_class(before),
            )
        )
    by_group: dict[ReasonGroup, list[Any]] = {}
    for item in ordered:
        totals = by_group.setdefault(item.group, [0, Decimal(0)])
        totals[0] += item.clients
        totals[1] += item.value
    group_rows = [
        ReasonGroupRow(
            group=group,
            clients=clients,
            value=to_money(value),
            share=round(float(_share(value, known)), RATE_PLACES),
        )
        for group, (clients, value) in sorted(by_group.items(), key=lambda kv: -kv[1][1])
    ]
    lost_clients = sum(r.clients for r in ordered) + unknown_clients
    lost_value = known + unknown_value
    unexplained = Unexplained(
        clients=unknown_clients,
        value=to_money(unknown_value),
        share_of_lost_value=round(float(unknown_value / lost_value), RATE_PLACES)
        if lost_value > 0
        else None,
    )
    return reasons, group_rows, unexplained, lost_clients, lost_value


async def reasons(
    session: AsyncSession,
    start: date | None,
    to: date | None,
    policy: Policy,
    now: datetime,
) -> ReasonsReport:
    """The reasons of the clients lost from `start` through `to` (dates, UTC; default the last
    365 days)."""
    to = to or now.date()
    start = start or to - timedelta(days=364)
    if start > to:
        raise invalid("from", "must not be after `to`", "invalid_range")
    rows = await repository.reasons(
        session, midnight(start), midnight(to + timedelta(days=1)), list(policy.reason_codes)
    )
    ranked, groups, unexplained, lost_clients, lost_value = rank_reasons(rows, policy)
    return ReasonsReport(
        from_=start,
        to=to,
        as_of=now,
        lost_clients=lost_clients,
        lost_value=to_money(lost_value),
        reasons=ranked,
        groups=groups,
        unexplained=unexplained,
    )


REASONS_CSV_COLUMNS = (
    "rank",
    "reason",
    "reason_code",
    "signal",
    "group",
    "source",
    "clients",
    "value",
    "share",
    "cumulative_share",
    "class",
)


def reasons_csv(report: ReasonsReport) -> AsyncIterator[str]:
    """The ranked reasons, then one row for the value lost for no known reason (source none)."""
    rows = [
        [row.model_dump(mode="json", by_alias=True)[c] for c in REASONS_CSV_COLUMNS]
        for row in report.reasons
    ]
    gap = report.unexplained
    if gap.clients:
        value = f"{gap.value:.2f}"
        rows.append([None, "unknown", None, None, "unknown", "none", gap.clients, value, None])
        rows[-1] += [None, None]
    return csv.rows_to_text(REASONS_CSV_COLUMNS, _one_page(rows))
