"""SQL for campaigns: the segment's candidates, members, results and outcomes from the events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Select,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.models import Campaign, CampaignMember
from app.campaigns.schemas import Segment
from app.clients.models import Client, has_signal
from app.clients.rows import ATTRIBUTE_FIELDS

# Every campaign creation takes this transaction-level lock, so two campaigns created at once
# cannot both take a client that "another running campaign" should have excluded.
CREATION_LOCK = 0x77696E6261636B01  # "winback" + 1


async def lock_creation(session: AsyncSession) -> None:
    await session.execute(select(func.pg_advisory_xact_lock(literal(CREATION_LOCK))))


async def get(session: AsyncSession, campaign_id: str) -> Campaign | None:
    return await session.get(Campaign, campaign_id)


async def add(session: AsyncSession, campaign: Campaign) -> None:
    session.add(campaign)
    await session.flush()


# --- the segment --------------------------------------------------------------------------------

# What evaluating and planning a client needs (clients.service.assess, profile_of), and the facts.
CANDIDATE_COLUMNS = tuple(
    getattr(Client, name) for name in ("client_id", *ATTRIBUTE_FIELDS, "facts")
)

# The moment of the last contact in the stored facts (named keys; `lc` in the positional form
# of facts version 1, which the worker upgrades).
_LAST_CONTACT = func.coalesce(Client.facts["last_contact_at"].astext, Client.facts["lc"].astext)


def segment_where(statement: Select[Any], segment: Segment, now: datetime) -> Select[Any]:
    """The segment on the stored state (at most one sweep behind): a superset that the service
    narrows with each client's state evaluated now."""
    if segment.status:
        statement = statement.where(Client.status.in_(segment.status))
    if segment.tier:
        statement = statement.where(Client.tier.in_(segment.tier))
    if segment.market:
        statement = statement.where(Client.market == segment.market)
    if segment.signals:  # any of them: each test is the predicate of that signal's index
        statement = statement.where(or_(*(text(has_signal(s)) for s in segment.signals)))
    if segment.decision:
        statement = statement.where(Client.decision.in_(segment.decision))
    if segment.min_value is not None:
        statement = statement.where(Client.value >= segment.min_value)
    if segment.lapsed_days_min is not None:
        latest = now - timedelta(days=segment.lapsed_days_min)
        statement = statement.where(Client.last_order_at <= latest)
    if segment.lapsed_days_max is not None:
        earliest = now - timedelta(days=segment.lapsed_days_max)
        statement = statement.where(Client.last_order_at >= earliest)
    if segment.manager_id:
        statement = statement.where(Client.manager_id == segment.manager_id)
    if segment.not_contacted_days is not None:
        since = now - timedelta(days=segment.not_contacted_days)
        statement = statement.where(
            or_(_LAST_CONTACT.is_(None), cast(_LAST_CONTACT, DateTime(timezone=True)) < since)
        )
    # min_risk: `Client.churn_risk >= segment.min_risk` once churn_risk exists ([models]).
    return statement


async def candidates(
    session: AsyncSession,
    segment: Segment,
    campaign_id: str,
    include_in_other_campaigns: bool,
    now: datetime,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One batch of the clients whose stored state matches, in client_id order after `after`,
    each with `in_other` (a member of another running campaign; false when those are included)."""
    if include_in_other_campaigns:
        in_other: Any = false()
    else:
        in_other = exists(
            select(literal(1))
            .select_from(CampaignMember)
            .join(Campaign, Campaign.id == CampaignMember.campaign_id)
            .where(
                CampaignMember.client_id == Client.client_id,
                Campaign.status == "running",
                Campaign.id != campaign_id,
            )
        )
    statement = segment_where(select(*CANDIDATE_COLUMNS, in_other.label("in_other")), segment, now)
    if after is not None:
        statement = statement.where(Client.client_id > after)
    statement = statement.order_by(Client.client_id).limit(limit)
    return [dict(row) for row in (await session.execute(statement)).mappings()]


_INSERT_MEMBER = insert(CampaignMember.__table__)  # type: ignore[arg-type]


async def insert_members(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        connection = await session.connection()
        await connection.execute(_INSERT_MEMBER, list(rows))


async def set_totals(session: AsyncSession, campaign: Campaign, totals: Mapping[str, Any]) -> None:
    """The snapshot's counts and values, once its members are stored."""
    for name, value in totals.items():
        setattr(campaign, name, value)
    await session.flush()


# --- reads --------------------------------------------------------------------------------------


async def page(
    session: AsyncSession,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Campaign]:
    """Newest first, keyset on (started_at, id)."""
    statement = select(Campaign)
    if status:
        statement = statement.where(Campaign.status == status)
    if after is not None:
        statement = statement.where(
            tuple_(Campaign.started_at, Campaign.id) < tuple_(literal(after[0]), literal(after[1]))
        )
    statement = statement.order_by(Campaign.started_at.desc(), Campaign.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


MEMBER_COLUMNS = (
    CampaignMember.client_id,
    CampaignMember.holdout,
    CampaignMember.tier,
    CampaignMember.status,
    CampaignMember.value,
    CampaignMember.decision,
    CampaignMember.urgency,
    CampaignMember.owner_role,
    CampaignMember.first_step_day,
    CampaignMember.first_step_channel,
    CampaignMember.first_step_action,
    CampaignMember.offer,
    CampaignMember.p_return,
    CampaignMember.expected_value,
)
CONTACT_COLUMNS = (Client.name, Client.email, Client.phone, Client.manager_id)


async def members_page(
    session: AsyncSession,
    campaign_id: str,
    holdout: bool,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One group's members in client_id order after `after` (ix_campaign_member_group), with
    the client's current contact fields. The page is cut before the join, so a page costs its
    own rows whatever the planner thinks of a campaign created a moment ago."""
    page = select(*MEMBER_COLUMNS).where(
        CampaignMember.campaign_id == campaign_id, CampaignMember.holdout == holdout
    )
    if after is not None:
        page = page.where(CampaignMember.client_id > after)
    members = page.order_by(CampaignMember.client_id).limit(limit).subquery("m")
    statement = (
        select(*members.c, *CONTACT_COLUMNS)
        .join(Client, Client.client_id == members.c.client_id)
        .order_by(members.c.client_id)
    )
    return [dict(row) for row in (await session.execute(statement)).mappings()]


# --- results and outcomes, from the events ------------------------------------------------------
#
# Per member: `contacted` — a contact.logged carrying this campaign's id since the start;
# `responded` — an inbound contact, or outcome reached/replied, in [start, end) (with or without a
# campaign id: a holdout member can answer too); `returned` — an order in [start, end) that was
# not cancelled; `revenue` — those orders' amounts (in the base currency) less their refunds.
# Each member's events are read through ix_event_client_occurred (client_id, occurred_at, id).

_PER_MEMBER = """
WITH member AS (
    SELECT client_id, holdout FROM campaign_member WHERE campaign_id = :campaign_id
),
touches AS (
    SELECT m.client_id, m.holdout,
           coalesce(bool_or(e.body -> 'data' ->> 'campaign_id' = :campaign_id), false)
               AS contacted,
           coalesce(bool_or(e.occurred_at < :ends_at
                            AND (e.body -> 'data' ->> 'direction' = 'inbound'
                                 OR e.body -> 'data' ->> 'outcome' IN ('reached', 'replied'))),
                    false) AS responded
    FROM member m
    LEFT JOIN event e ON e.client_id = m.client_id
                     AND e.occurred_at >= :started_at
                     AND e.type = 'contact.logged'
    GROUP BY m.client_id, m.holdout
),
orders AS (
    SELECT DISTINCT ON (e.client_id, e.body -> 'data' ->> 'order_id')
           e.client_id, e.body -> 'data' ->> 'order_id' AS order_id,
           CAST(coalesce(e.body -> 'data' ->> 'amount_in_base', e.body -> 'data' ->> 'amount')
                AS numeric) AS amount
    FROM member m
    JOIN event e ON e.client_id = m.client_id
    WHERE e.type = 'order.placed' AND e.occurred_at >= :started_at AND e.occurred_at < :ends_at
    ORDER BY e.client_id, e.body -> 'data' ->> 'order_id', e.occurred_at DESC
),
kept AS (
    SELECT o.client_id, greatest(o.amount - coalesce(r.refunded, 0), 0) AS net
    FROM orders o
    LEFT JOIN LATERAL (
        SELECT sum(CAST(x.body -> 'data' ->> 'amount' AS numeric)) AS refunded
        FROM event x
        WHERE x.client_id = o.client_id AND x.type = 'order.refunded'
          AND x.body -> 'data' ->> 'order_id' = o.order_id
    ) r ON true
    WHERE NOT EXISTS (
        SELECT 1 FROM event c
        WHERE c.client_id = o.client_id AND c.type = 'order.cancelled'
          AND c.body -> 'data' ->> 'order_id' = o.order_id
    )
),
back AS (
    SELECT client_id, sum(net) AS revenue FROM kept GROUP BY client_id
)
SELECT t.client_id, t.holdout, t.contacted, t.responded,
       b.client_id IS NOT NULL AS returned, coalesce(b.revenue, 0) AS revenue
FROM touches t LEFT JOIN back b USING (client_id)
"""

_RESULTS = text(
    f"""
WITH per_member AS ({_PER_MEMBER})
SELECT holdout,
       count(*) AS members,
       count(*) FILTER (WHERE contacted) AS contacted,
       count(*) FILTER (WHERE responded) AS responded,
       count(*) FILTER (WHERE returned) AS returned,
       coalesce(sum(revenue), 0) AS revenue
FROM per_member
GROUP BY holdout
"""
)

_RECORD_OUTCOMES = text(
    f"""
WITH per_member AS ({_PER_MEMBER})
UPDATE campaign_member m
SET returned = p.returned, recovered_revenue = round(p.revenue, 2)
FROM per_member p
WHERE m.campaign_id = :campaign_id AND m.client_id = p.client_id
"""
)


def _window(campaign_id: str, started_at: datetime, ends_at: datetime) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "started_at": started_at, "ends_at": ends_at}


async def results(
    session: AsyncSession, campaign_id: str, started_at: datetime, ends_at: datetime
) -> dict[bool, dict[str, Any]]:
    """Per group (holdout true/false): members, contacted, responded, returned, revenue."""
    rows = await session.execute(_RESULTS, _window(campaign_id, started_at, ends_at))
    return {row["holdout"]: dict(row) for row in rows.mappings()}


async def record_outcomes(
    session: AsyncSession, campaign_id: str, started_at: datetime, ends_at: datetime
) -> None:
    """Store each member's outcome (returned, recovered revenue): the evidence for p_return."""
    await session.execute(_RECORD_OUTCOMES, _window(campaign_id, started_at, ends_at))


async def close(
    session: AsyncSession, campaign_id: str, now: datetime, outcomes_recorded: bool
) -> Campaign | None:
    """Close a running campaign; returns it as stored now."""
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "running")
        .values(status="closed", closed_at=now, outcomes_recorded=outcomes_recorded)
        .execution_options(synchronize_session=False)
    )
    return await session.get(Campaign, campaign_id, populate_existing=True)
