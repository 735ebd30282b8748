"""SQL for reports: set-based over the status history (`status_change`), never a loop over clients.

Churn by period. A client is "in the base" while its status is active, at_risk or recovered. Each
status_change row moves the base by delta = [to in base] - [from in base]; only the rows that
leave or enter the base move it (a change between two base statuses, active -> at_risk, does
not), and those rows, with every loss and return, are what the partial index
ix_status_change_moves holds, with everything the report reads from them. The base at a moment
is the base now (the client rows' statuses, which `store()` writes in the same transaction as
each status_change row) minus the deltas since then, so the report reads the history from its
first period on; it is true for past periods because the history is only ever appended to.
Losses and returns are the rows into `lost` and `recovered`, counted in the period they happened.

Groups are the client's current tier, manager or market (the client row): a status_change row
carries client, from, to, at and signals, not the client's attributes at the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.reports.models import BASE, MOVES_PREDICATE, REASON_EVENTS_PREDICATE

# How a change moves the base: +1 into it, -1 out of it, 0 within or outside it.
MOVED = f"((sc.to_status IN {BASE})::int - coalesce((sc.from_status IN {BASE})::int, 0))"
# The rows that move the base, or are losses or returns: not a change between two base statuses.
# The predicate of ix_status_change_moves itself, so the planner can prove the index applies.
MOVES = f"({MOVES_PREDICATE})"
GROUP_COLUMNS = {
    "tier": "c.tier",
    "manager": "c.manager_id",
    "market": "c.market",
    None: "CAST(NULL AS text)",
}
STEPS = {"week": "1 week", "month": "1 month", "quarter": "3 months"}

# Reports are short analytical queries whose estimates easily pass jit_above_cost: compiling
# them would take longer than running them. And a plan for the tally's values, never a generic
# one: `id > $1` generically reads as a third of the history, where it is the few rows recorded
# since the tally (ix_status_change_id). Both for this transaction, in one round trip.
NO_JIT = text("SET LOCAL jit = off")
REPORT_SETTINGS = text(
    "SELECT set_config('jit', 'off', true), "
    "set_config('plan_cache_mode', 'force_custom_plan', true)"
)
# The churn report joins the moves with every client: both come in client_id order from their
# indexes (ix_status_change_moves, and pk_client with the columns it includes), so a merge join
# needs no hash table of 100,000 client ids; the planner's costs prefer the hash join, which
# measured 2-3 x slower.
MERGE_JOIN = text("SET LOCAL enable_hashjoin = off")
RESET_JOIN = text("RESET enable_hashjoin")

# A client whose first recorded status is past `active` (its history came in late: an import,
# or a first event long after its first order) was in the base from its first order until that
# status began: its first change does not move the base itself (it entered the base then), and
# it is counted as entering at its first order (`entered`, in the period `k_entered`; 0 when
# that was before the first period). Rare in a live history, where a client's first change is
# into active or prospect.
LATE_ENTRY = (
    "(sc.from_status IS NULL AND sc.to_status IN ('at_risk', 'lost', 'recovered') "
    "AND coalesce(c.first_order_at < sc.at, false))"  # no first order: not late, never NULL
)

_CHURN = """
WITH bounds AS (  -- the periods' starts and the end of the last one, UTC
    SELECT array_agg(p AT TIME ZONE 'UTC' ORDER BY p) AS starts
    FROM generate_series(CAST(:first AS timestamp), CAST(:end AS timestamp),
                         CAST(CAST(:step AS text) AS interval)) AS p
)
SELECT {group} AS grp, NULL AS k, NULL AS k_entered, count(*) AS delta, 0 AS entered,
       0 AS lost, 0 AS lost_value, 0 AS recovered, 0 AS recovered_value
FROM client c
WHERE c.status IN {base}
GROUP BY 1
UNION ALL
SELECT {group} AS grp,
       width_bucket(sc.at, (SELECT starts FROM bounds)) AS k,  -- 1..n periods, n + 1 after
       CASE WHEN {late} THEN width_bucket(c.first_order_at, (SELECT starts FROM bounds)) END,
       sum({moved} - ({late})::int),
       count(*) FILTER (WHERE {late}),
       count(*) FILTER (WHERE sc.to_status = 'lost'),
       coalesce(sum(c.value) FILTER (WHERE sc.to_status = 'lost'), 0),
       count(*) FILTER (WHERE sc.to_status = 'recovered'),
       coalesce(sum(c.value) FILTER (WHERE sc.to_status = 'recovered'), 0)
FROM status_change sc
JOIN client c ON c.client_id = sc.client_id
WHERE sc.at >= :start AND {moves}
GROUP BY 1, 2, 3
"""


async def churn(
    session: AsyncSession,
    unit: str,
    first: datetime,
    end: datetime,
    group_by: str | None,
) -> list[dict[str, Any]]:
    """Rows (grp, k, k_entered, delta, entered, lost, lost_value, recovered, recovered_value):
    k None is the base now (delta = the clients in it; several such rows of a group add up);
    k 1..n the periods of `unit` from `first` to `end` (UTC); k n + 1 the changes after the last
    period; `entered` clients of a late history entered the base in period k_entered (see
    LATE_ENTRY). From the churn tally and the history since, or, before the worker made a
    tally, from the whole history."""
    await session.execute(REPORT_SETTINGS)
    state = await tally_state(session)
    parameters = {
        "step": STEPS[unit],
        "first": first.replace(tzinfo=None),
        "end": end.replace(tzinfo=None),
        "start": first,
    }
    if state is not None:
        statement = text(
            _CHURN_FROM_TALLY.format(
                group=GROUP_COLUMNS[group_by], base=BASE, moves=MOVES, late=LATE_ENTRY, moved=MOVED
            )
        )
        dimension = group_by or "all"
        rows = await session.execute(
            statement,
            {**parameters, "dimension": dimension, "first_day": first.date(), "through": state[1]},
        )
        return [dict(row) for row in rows.mappings()]
    return await churn_from_history(session, parameters, group_by)


async def churn_from_history(
    session: AsyncSession, parameters: dict[str, Any], group_by: str | None
) -> list[dict[str, Any]]:
    """`churn`'s rows from the whole history (no tally yet; and the tally's tests' oracle)."""
    group = GROUP_COLUMNS[group_by]
    statement = text(
        _CHURN.format(group=group, base=BASE, moves=MOVES, late=LATE_ENTRY, moved=MOVED)
    )
    await session.execute(MERGE_JOIN)
    rows = await session.execute(statement, parameters)
    await session.execute(RESET_JOIN)
    return [dict(row) for row in rows.mappings()]


# --- the churn tally: the same figures by UTC day, made by the worker ---------------------------
#
# Reading the whole year of history for each report costs a pass over every move and every
# client (a few hundred ms at 100,000 clients). The worker tallies them by UTC day and group
# instead (`refresh_tallies`, every `report_refresh_seconds`): per dimension (all, tier, manager,
# market), the base then (day NULL) and per day the movement, losses and returns, grouped by the
# client's group and valued at its value when the tally was made. A report sums the tally's days
# and adds what the history recorded since (status_change ids past `through_id`), so a status
# change counts at once; a client's move to another group, or a new value, shows from the next
# refresh. A late history's entry (LATE_ENTRY) is a +1 on the day of its first order.

TALLY_LOCK = 7_240_001  # pg_try_advisory_xact_lock key: one refresh at a time

# One statement, so one snapshot: the tally and `through_id` see the same rows.
_TALLY = """
WITH moves AS (
    SELECT c.tier, c.manager_id, c.market, CAST(sc.at AT TIME ZONE 'UTC' AS date) AS day,
           {moved} - ({late})::int AS delta,
           (sc.to_status = 'lost')::int AS lost,
           CASE WHEN sc.to_status = 'lost' THEN c.value ELSE 0 END AS lost_value,
           (sc.to_status = 'recovered')::int AS recovered,
           CASE WHEN sc.to_status = 'recovered' THEN c.value ELSE 0 END AS recovered_value
    FROM status_change sc
    JOIN client c ON c.client_id = sc.client_id
    WHERE {moves}
    UNION ALL  -- a late history's clients entered the base at their first order
    SELECT c.tier, c.manager_id, c.market, CAST(c.first_order_at AT TIME ZONE 'UTC' AS date),
           1, 0, 0, 0, 0
    FROM status_change sc
    JOIN client c ON c.client_id = sc.client_id
    WHERE {moves} AND {late}
    UNION ALL  -- the base now
    SELECT c.tier, c.manager_id, c.market, NULL, 1, 0, 0, 0, 0
    FROM client c
    WHERE c.status IN {base}
),
tallied AS (
INSERT INTO churn_tally (dimension, grp, day, delta, lost, lost_value, recovered, recovered_value)
SELECT CASE grouping(tier, manager_id, market)
           WHEN 7 THEN 'all' WHEN 3 THEN 'tier' WHEN 5 THEN 'manager' ELSE 'market' END,
       CASE grouping(tier, manager_id, market)
           WHEN 3 THEN tier WHEN 5 THEN manager_id WHEN 6 THEN market END,
       day, sum(delta), sum(lost), sum(lost_value), sum(recovered), sum(recovered_value)
FROM moves
GROUP BY GROUPING SETS ((day), (tier, day), (manager_id, day), (market, day))
),
{every_loss}
{reasoned},
losses AS (
INSERT INTO loss_tally
    (client_id, lost_at, next_lost_at, recorded_code, signal, market, value)
SELECT client_id, lost_at, next_lost_at, recorded_code, signal, market, value FROM reasoned
)
INSERT INTO report_tally_state (id, refreshed_at, through_id)
SELECT 1, :now, coalesce(max(id), 0) FROM status_change
ON CONFLICT (id) DO UPDATE
SET refreshed_at = excluded.refreshed_at, through_id = excluded.through_id
"""


# The report from the tally (the dimension's days from the first period on, and the base then)
# and from the history recorded since it (its moves in the periods, and how they moved the base).
_CHURN_FROM_TALLY = """
WITH bounds AS (
    SELECT array_agg(p AT TIME ZONE 'UTC' ORDER BY p) AS starts
    FROM generate_series(CAST(:first AS timestamp), CAST(:end AS timestamp),
                         CAST(CAST(:step AS text) AS interval)) AS p
),
since AS (
    SELECT {group} AS grp, sc.at, sc.to_status, c.value, c.first_order_at, {moved} AS moved,
           {late} AS late
    FROM status_change sc
    JOIN client c ON c.client_id = sc.client_id
    WHERE sc.id > :through AND {moves}
)
SELECT t.grp,
       CASE WHEN t.day IS NOT NULL
            THEN width_bucket(CAST(t.day AS timestamp) AT TIME ZONE 'UTC',
                              (SELECT starts FROM bounds)) END AS k,
       NULL AS k_entered, sum(t.delta) AS delta, 0 AS entered,
       sum(t.lost) AS lost, sum(t.lost_value) AS lost_value,
       sum(t.recovered) AS recovered, sum(t.recovered_value) AS recovered_value
FROM churn_tally t
WHERE t.dimension = :dimension AND (t.day IS NULL OR t.day >= :first_day)
GROUP BY 1, 2
UNION ALL
SELECT grp, width_bucket(at, (SELECT starts FROM bounds)),
       CASE WHEN late THEN width_bucket(first_order_at, (SELECT starts FROM bounds)) END,
       sum(moved - late::int),
       count(*) FILTER (WHERE late),
       count(*) FILTER (WHERE to_status = 'lost'),
       coalesce(sum(value) FILTER (WHERE to_status = 'lost'), 0),
       count(*) FILTER (WHERE to_status = 'recovered'),
       coalesce(sum(value) FILTER (WHERE to_status = 'recovered'), 0)
FROM since
WHERE at >= :start
GROUP BY 1, 2, 3
UNION ALL
SELECT grp, NULL, NULL,
       sum(moved), 0, 0, 0, 0, 0
FROM since
GROUP BY 1
"""


async def refresh_tallies(session: AsyncSession, now: datetime, codes: Sequence[str]) -> bool:
    """Replace the churn and loss tallies with ones made from the history now (recorded reasons
    among `codes`, the policy's), in the caller's transaction; False (and nothing done) while
    another transaction is making them."""
    lock = text("SELECT pg_try_advisory_xact_lock(:key)")
    locked = await session.scalar(lock, {"key": TALLY_LOCK})
    if not locked:
        return False
    await session.execute(NO_JIT)
    await session.execute(text("DELETE FROM churn_tally"))
    await session.execute(text("DELETE FROM loss_tally"))
    reasoned = (
        _REASONED.strip()
        .rstrip(",")
        .format(inferred=_INFERRED, moves=MOVES, reason_events=REASON_EVENTS_PREDICATE)
    )
    statement = _TALLY.format(
        base=BASE,
        moved=MOVED,
        moves=MOVES,
        late=LATE_ENTRY,
        every_loss=_EVERY_LOSS.strip().format(moves=MOVES),
        reasoned=reasoned,
    )
    await session.execute(text(statement), {"now": now, "codes": list(codes)})
    return True


async def tally_state(session: AsyncSession) -> tuple[datetime, int] | None:
    """(refreshed_at, through_id) of the churn tally, None if none was made."""
    row = (
        await session.execute(text("SELECT refreshed_at, through_id FROM report_tally_state"))
    ).first()
    return None if row is None else (row[0], row[1])


# Reasons of the clients lost in a window. Each client lost in it counts once, with its latest
# loss there. Its leading recorded reason is the latest reason code it gave from its last order
# before the loss until its return (its next change into `recovered`, dated by the order that
# brought it back) or now: in a contact (exit interview), a lost request, feedback or a churn
# notice. Without one, the reason is inferred from the signals of the status change into `lost`,
# the first of these (the order of the plan's diagnosis; a volume drop says nothing once a client
# is lost): dissatisfied, requests_not_converting, unresponsive.
#
# The last order before the loss is the client's last order unless it came back since; only then
# are its orders looked up. The reasons of a lost client that ever gave one are one backward
# probe of ix_event_reasons; most lost clients gave none and cost a hash lookup.
INFERRING_SIGNALS = ("dissatisfied", "requests_not_converting", "unresponsive")

# Each loss of `lost` (client_id, lost_at, signals, next_lost_at) with its leading reason: the
# CTEs after `lost`, ending in `reasoned` (client_id, lost_at, next_lost_at, recorded_code,
# signal, market, value).
_REASONED = """
episode AS (
    SELECT l.client_id, l.lost_at, l.next_lost_at, l.signals, c.market, c.value,
           -- gave any reason, ever (one hash of ix_event_reasons' client ids)
           l.client_id IN (SELECT e.client_id FROM event e WHERE {reason_events}) AS gave_reasons,
           CASE WHEN c.last_order_at IS NULL OR c.last_order_at <= l.lost_at
                THEN c.last_order_at
                ELSE (SELECT o.occurred_at FROM event o
                      WHERE o.client_id = l.client_id AND o.type = 'order.placed'
                        AND o.occurred_at <= l.lost_at
                      ORDER BY o.occurred_at DESC LIMIT 1) END AS since,
           CASE WHEN c.last_order_at IS NULL OR c.last_order_at <= l.lost_at
                THEN NULL
                ELSE (SELECT min(sc.at) FROM status_change sc
                      WHERE sc.client_id = l.client_id AND sc.at > l.lost_at
                        AND sc.to_status = 'recovered' AND {moves}) END AS until
    FROM lost l JOIN client c ON c.client_id = l.client_id
),
reasoned AS (
    SELECT p.client_id, p.lost_at, p.next_lost_at, r.code AS recorded_code,
           CASE {inferred} END AS signal, p.market, p.value
    FROM episode p
    LEFT JOIN LATERAL (
        SELECT e.body -> 'data' ->> 'reason_code' AS code
        FROM event e
        WHERE p.gave_reasons  -- most lost clients gave none: no probe for them
          AND e.client_id = p.client_id
          AND e.occurred_at >= coalesce(p.since, '-infinity')
          AND e.occurred_at < coalesce(p.until, 'infinity')
          AND ({reason_events})  -- ix_event_reasons
          AND e.body -> 'data' ->> 'reason_code' = ANY(:codes)
        ORDER BY e.occurred_at DESC, e.id DESC
        LIMIT 1
    ) r ON true
)
"""

# The clients lost in [start, end), each with its latest loss there (`lost` for _REASONED);
# {clients} narrows them (the tally's report reads only the clients that changed since).
_LOST_IN_WINDOW = """
lost AS (
    SELECT DISTINCT ON (sc.client_id) sc.client_id, sc.at AS lost_at, sc.signals,
           CAST(NULL AS timestamptz) AS next_lost_at
    FROM status_change sc
    WHERE sc.to_status = 'lost' AND sc.at >= :start AND sc.at < :end AND {moves} {clients}
    ORDER BY sc.client_id, sc.at DESC
),
"""

_REASONS = (
    "WITH "
    + _LOST_IN_WINDOW.replace("{clients}", "")
    + _REASONED
    + """
SELECT recorded_code, signal, market, count(*) AS clients, coalesce(sum(value), 0) AS value
FROM reasoned
GROUP BY 1, 2, 3
"""
)

# From the loss tally: the window's losses that are their client's latest there (its next loss,
# if any, after the window), but for the clients whose reasons may have changed since the tally
# (a loss or a return recorded since, a reason received since): those are read from the history
# as without a tally.
_REASONS_FROM_TALLY = (
    """
WITH changed AS (
    SELECT sc.client_id FROM status_change sc
    WHERE sc.id > :through AND sc.to_status IN ('lost', 'recovered')
    UNION
    SELECT e.client_id FROM event e
    WHERE ({reason_events}) AND e.received_at >= :received_since  -- ix_event_reasons_received
),
"""
    + _LOST_IN_WINDOW.replace("{clients}", "AND sc.client_id IN (SELECT client_id FROM changed)")
    + _REASONED
    + """
SELECT recorded_code, signal, market, count(*) AS clients, coalesce(sum(value), 0) AS value
FROM (
    SELECT t.recorded_code, t.signal, t.market, t.value
    FROM loss_tally t
    WHERE t.lost_at >= :start AND t.lost_at < :end
      AND (t.next_lost_at IS NULL OR t.next_lost_at >= :end)
      AND NOT EXISTS (SELECT FROM changed WHERE changed.client_id = t.client_id)
    UNION ALL
    SELECT recorded_code, signal, market, value FROM reasoned
) losses
GROUP BY 1, 2, 3
"""
)

# Every loss in the history, with the client's next loss (for the tally).
_EVERY_LOSS = """
lost AS (
    SELECT sc.client_id, sc.at AS lost_at, sc.signals,
           lead(sc.at) OVER (PARTITION BY sc.client_id ORDER BY sc.at, sc.id) AS next_lost_at
    FROM status_change sc
    WHERE sc.to_status = 'lost' AND {moves}
),
"""

# A reason received up to this long before a tally was made may still be missing from it (its
# transaction began before and committed after): its client is read from the history.
RECEIVED_MARGIN = timedelta(minutes=1)

_INFERRED = " ".join(
    f"WHEN '{signal}' = ANY(p.signals) THEN '{signal}'" for signal in INFERRING_SIGNALS
)


async def reasons(
    session: AsyncSession, start: datetime, end: datetime, codes: Sequence[str]
) -> list[dict[str, Any]]:
    """(recorded_code, signal, market, clients, value) of the clients lost in [start, end):
    recorded_code their leading recorded reason among `codes` (None if none), signal the first
    inferring signal at the loss. From the loss tally and the clients changed since, or, before
    the worker made a tally, from the whole history."""
    await session.execute(REPORT_SETTINGS)
    parameters: dict[str, Any] = {"start": start, "end": end, "codes": list(codes)}
    state = await tally_state(session)
    template = _REASONS
    if state is not None:
        template = _REASONS_FROM_TALLY
        parameters["through"] = state[1]
        parameters["received_since"] = state[0] - RECEIVED_MARGIN
    statement = text(
        template.format(inferred=_INFERRED, moves=MOVES, reason_events=REASON_EVENTS_PREDICATE)
    )
    rows = await session.execute(statement, parameters)
    return [dict(row) for row in rows.mappings()]
