"""Campaigns (SPEC §7): snapshot a segment with each member's plan, split off a holdout by a
stable hash, export the members, measure the results against the holdout, close.

The snapshot reads the segment's candidates from the stored state in client_id batches, evaluates
each one now (`clients.service.assess`, the same function as every read) and keeps those that
still match, then plans each with the pure planner (`plans.plan`, as the recovery-plan endpoint
does, with the same p_return evidence). A preview runs the same code and writes nothing.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns import repository
from app.campaigns.holdout import in_holdout
from app.campaigns.models import Campaign
from app.campaigns.schemas import (
    CampaignCreate,
    CampaignCreated,
    CampaignPage,
    CampaignPreview,
    CampaignRead,
    CampaignResults,
    Exclusions,
    FirstStep,
    Group,
    GroupResult,
    MemberPage,
    MemberRead,
    Members,
    Segment,
    SnapshotSummary,
    Uplift,
    ValueAtStake,
)
from app.campaigns.uplift import newcombe
from app.churn.engine import ClientState
from app.churn.facts import ClientFacts
from app.clients import service as clients
from app.clients.rows import ClientAttributesRow
from app.kit import csv, pagination
from app.kit.money import to_money
from app.kit.problems import ProblemError, invalid, not_found
from app.kit.time import days_between
from app.plans import RecoveryPlan, plan
from app.plans.decision import cycles_since_lost
from app.plans.economics import ReturnEvidence
from app.plans.schemas import Offer
from app.policy.service import Snapshot
from app.webhooks import service as webhooks

BATCH = 500  # candidates evaluated and planned per round trip
RATE_PLACES = 4


def new_id() -> str:
    return f"cmp_{secrets.token_hex(8)}"


# --- the segment, on the state evaluated now ------------------------------------------------------


def matches(
    segment: Segment,
    row: Mapping[str, Any],
    state: ClientState,
    tier: str | None,
    decision: str | None,
    facts: ClientFacts,
    now: datetime,
) -> bool:
    """Whether the client, as evaluated now, is in the segment (every filter given holds)."""
    if segment.status and state.status not in segment.status:
        return False
    if segment.tier and tier not in segment.tier:
        return False
    if segment.market and row["market"] != segment.market:
        return False
    if segment.signals and not set(segment.signals) & set(state.signal_codes):
        return False
    if segment.decision and decision not in segment.decision:
        return False
    if segment.min_value is not None and state.value < segment.min_value:
        return False
    lapse = state.days_since_last_order
    if segment.lapsed_days_min is not None and (lapse is None or lapse < segment.lapsed_days_min):
        return False
    if segment.lapsed_days_max is not None and (lapse is None or lapse > segment.lapsed_days_max):
        return False
    if segment.manager_id and row.get("manager_id") != segment.manager_id:
        return False
    # min_risk: `state.churn_risk >= segment.min_risk` once the engine computes it ([models]).
    quiet = segment.not_contacted_days
    last_contact = facts.last_contact_at
    return quiet is None or last_contact is None or days_between(last_contact, now) >= quiet


def offer_summary(offer: Offer | None) -> str | None:
    """The offer in one line for a CRM: 'personal control; compensation 160.00; special terms;
    discount up to 10%; something new (valid 30 days)'."""
    if offer is None or not offer.components:
        return None
    parts = []
    for component in offer.components:
        part = component.kind.replace("_", " ")
        if component.kind == "compensation" and component.amount:
            part += f" {component.amount}"
        elif component.kind == "discount":
            part += f" up to {offer.max_discount_pct:g}%"
        parts.append(part)
    return "; ".join(parts) + f" (valid {offer.valid_days} days)"


def member_row(
    campaign_id: str,
    row: Mapping[str, Any],
    state: ClientState,
    recovery: RecoveryPlan,
    holdout: bool,
    now: datetime,
) -> dict[str, Any]:
    step = recovery.steps[0] if recovery.steps else None
    return {
        "campaign_id": campaign_id,
        "client_id": row["client_id"],
        "holdout": holdout,
        "status": state.status,
        "tier": recovery.tier,
        "market": row["market"],
        "value": to_money(state.value),
        "cycles_since_lost": cycles_since_lost(state, now),
        "decision": recovery.decision,
        "urgency": recovery.urgency,
        "owner_role": recovery.owner.role,
        "first_step_day": step.day if step else None,
        "first_step_channel": step.channel if step else None,
        "first_step_action": step.action if step else None,
        "offer": offer_summary(recovery.offer),
        "p_return": recovery.economics.p_return,
        "expected_value": Decimal(recovery.economics.expected_value),
    }


@dataclass
class Tally:
    matched: int = 0
    do_not_contact: int = 0
    in_other_campaigns: int = 0
    no_longer_matching: int = 0
    treatment: int = 0
    holdout: int = 0
    treatment_value: Decimal = Decimal(0)
    holdout_value: Decimal = Decimal(0)
    expected_value: Decimal = Decimal(0)
    by_decision: Counter[str] = field(default_factory=Counter)

    def add(self, member: Mapping[str, Any]) -> None:
        self.by_decision[member["decision"]] += 1
        if member["holdout"]:
            self.holdout += 1
            self.holdout_value += member["value"]
        else:
            self.treatment += 1
            self.treatment_value += member["value"]
            self.expected_value += member["expected_value"]

    def summary(self) -> SnapshotSummary:
        return SnapshotSummary(
            matched=self.matched,
            excluded=Exclusions(
                do_not_contact=self.do_not_contact,
                in_other_campaigns=self.in_other_campaigns,
                no_longer_matching=self.no_longer_matching,
            ),
            members=self.treatment + self.holdout,
            treatment=self.treatment,
            holdout=self.holdout,
            value_at_stake=ValueAtStake(
                total=self.treatment_value + self.holdout_value,
                treatment=self.treatment_value,
                holdout=self.holdout_value,
            ),
            expected_value=self.expected_value,
            by_decision=dict(sorted(self.by_decision.items())),  # type: ignore[arg-type]
        )


async def take_snapshot(
    session: AsyncSession,
    campaign_id: str,
    body: CampaignCreate,
    snapshot: Snapshot,
    now: datetime,
    write: bool,
) -> Tally:
    """Evaluate, plan and split the segment batch by batch; with `write`, store the members."""
    policy = snapshot.policy
    evidence: ReturnEvidence = await clients.return_evidence(session, policy)
    tally = Tally()
    after: str | None = None
    while True:
        rows = await repository.candidates(
            session, body.segment, campaign_id, body.include_in_other_campaigns, now, after, BATCH
        )
        candidates = []
        for row in rows:
            tally.matched += 1
            if row["do_not_contact"]:
                tally.do_not_contact += 1
            elif row["in_other"]:
                tally.in_other_campaigns += 1
            else:
                candidates.append((cast(ClientAttributesRow, row), clients.facts_of(row)))
        # evaluated as every read evaluates a client (the batch's model scores in one call)
        assessments = clients.assess_many(candidates, snapshot, now)
        members = []
        for (client, facts), assessment in zip(candidates, assessments, strict=True):
            state = assessment.state
            tier, decision = assessment.tier, assessment.decision
            if not matches(body.segment, client, state, tier, decision, facts, now):
                tally.no_longer_matching += 1
                continue
            profile = clients.profile_of(client, tier)
            p_alive = assessment.scores.p_alive  # as the recovery-plan endpoint passes it
            recovery = plan(profile, state, facts, policy, now, evidence, p_alive)
            holdout = in_holdout(campaign_id, client["client_id"], body.holdout_pct)
            member = member_row(campaign_id, client, state, recovery, holdout, now)
            members.append(member)
            tally.add(member)
        if write:
            await repository.insert_members(session, members)
        if len(rows) < BATCH:
            return tally
        after = rows[-1]["client_id"]


async def _free_id(session: AsyncSession, campaign_id: str) -> None:
    if await repository.get(session, campaign_id) is not None:
        raise ProblemError(
            409, "Conflict", f"a campaign with id {campaign_id!r} exists", slug="conflict"
        )


async def preview(
    session: AsyncSession, body: CampaignCreate, snapshot: Snapshot, now: datetime
) -> CampaignPreview:
    """What creating the campaign would take now; nothing is written."""
    campaign_id = body.id or new_id()
    await _free_id(session, campaign_id)
    tally = await take_snapshot(session, campaign_id, body, snapshot, now, write=False)
    return CampaignPreview(id=campaign_id, snapshot=tally.summary())


async def create(
    session: AsyncSession,
    body: CampaignCreate,
    snapshot: Snapshot,
    now: datetime,
    created_by: str | None,
) -> CampaignCreated:
    campaign_id = body.id or new_id()
    # one creation at a time: "already in a running campaign" must see the other's members
    await repository.lock_creation(session)
    await _free_id(session, campaign_id)
    campaign = Campaign(
        id=campaign_id,
        name=body.name,
        segment=body.segment.model_dump(mode="json", exclude_defaults=True),
        holdout_pct=body.holdout_pct,
        attribution_days=body.attribution_days,
        include_in_other_campaigns=body.include_in_other_campaigns,
        status="running",
        started_at=now,
        closed_at=None,
        outcomes_recorded=False,
        created_by=created_by,
        policy_version=snapshot.version,
        treatment_count=0,
        holdout_count=0,
        treatment_value=Decimal(0),
        holdout_value=Decimal(0),
        expected_value=Decimal(0),
    )
    await repository.add(session, campaign)
    tally = await take_snapshot(session, campaign_id, body, snapshot, now, write=True)
    totals = {
        "treatment_count": tally.treatment,
        "holdout_count": tally.holdout,
        "treatment_value": tally.treatment_value,
        "holdout_value": tally.holdout_value,
        "expected_value": tally.expected_value,
    }
    await repository.set_totals(session, campaign, totals)
    created = read_model(campaign)
    # CRMs subscribed to campaign.created hear of it once this transaction commits (the outbox)
    await webhooks.enqueue(session, [webhooks.outgoing("campaign.created", created, now)])
    return CampaignCreated(**created.model_dump(), snapshot=tally.summary())


# --- reads --------------------------------------------------------------------------------------


def ends_at(campaign: Campaign) -> datetime:
    return campaign.started_at + timedelta(days=campaign.attribution_days)


def read_model(campaign: Campaign) -> CampaignRead:
    return CampaignRead(
        id=campaign.id,
        name=campaign.name,
        status=campaign.status,  # type: ignore[arg-type]
        segment=Segment.model_validate(campaign.segment),
        holdout_pct=campaign.holdout_pct,
        attribution_days=campaign.attribution_days,
        include_in_other_campaigns=campaign.include_in_other_campaigns,
        started_at=campaign.started_at,
        attribution_ends_at=ends_at(campaign),
        closed_at=campaign.closed_at,
        outcomes_recorded=campaign.outcomes_recorded,
        policy_version=campaign.policy_version,
        members=Members(
            total=campaign.treatment_count + campaign.holdout_count,
            treatment=campaign.treatment_count,
            holdout=campaign.holdout_count,
        ),
        value_at_stake=ValueAtStake(
            total=campaign.treatment_value + campaign.holdout_value,
            treatment=campaign.treatment_value,
            holdout=campaign.holdout_value,
        ),
        expected_value=campaign.expected_value,
    )


async def campaign_or_404(session: AsyncSession, campaign_id: str) -> Campaign:
    campaign = await repository.get(session, campaign_id)
    if campaign is None:
        raise not_found(f"campaign {campaign_id!r}")
    return campaign


async def get(session: AsyncSession, campaign_id: str) -> CampaignRead:
    return read_model(await campaign_or_404(session, campaign_id))


async def list_page(
    session: AsyncSession, status: str | None, cursor: str | None, limit: int
) -> CampaignPage:
    after = pagination.decode_moment_key(cursor)
    rows = await repository.page(session, status, after, limit + 1)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = pagination.encode([last.started_at.isoformat(), last.id])
    return CampaignPage(items=[read_model(c) for c in rows[:limit]], next_cursor=next_cursor)


# --- members ------------------------------------------------------------------------------------

CSV_PAGE = 1000
CSV_COLUMNS = (
    "client_id",
    "name",
    "email",
    "phone",
    "manager_id",
    "tier",
    "status",
    "value",
    "decision",
    "first_step_channel",
    "first_step_action",
    "first_step_day",
    "offer",
    "owner_role",
    "campaign_id",
    "group",
)


def _after(cursor: str | None, group: Group) -> str | None:
    if cursor is None:
        return None
    cursor_group, client_id = pagination.decode(cursor, 2)
    if cursor_group != group:
        message = f"was issued for group={cursor_group}, not {group}"
        raise invalid("cursor", message, "invalid_cursor")
    if not isinstance(client_id, str):
        raise pagination.bad_cursor()
    return client_id


def member_model(row: Mapping[str, Any]) -> MemberRead:
    step = None
    if row["first_step_action"] is not None:
        step = FirstStep(
            day=row["first_step_day"],
            channel=row["first_step_channel"],
            action=row["first_step_action"],
        )
    return MemberRead(
        client_id=row["client_id"],
        name=row["name"],
        email=row["email"],
        phone=row["phone"],
        manager_id=row["manager_id"],
        group="holdout" if row["holdout"] else "treatment",
        tier=row["tier"],
        status=row["status"],
        value=row["value"],
        decision=row["decision"],
        urgency=row["urgency"],
        owner_role=row["owner_role"],
        first_step=step,
        offer=row["offer"],
        p_return=row["p_return"],
        expected_value=row["expected_value"],
    )


async def members_page(
    session: AsyncSession, campaign_id: str, group: Group, cursor: str | None, limit: int
) -> MemberPage:
    after = _after(cursor, group)
    await campaign_or_404(session, campaign_id)
    rows = await repository.members_page(session, campaign_id, group == "holdout", after, limit + 1)
    next_cursor = None
    if len(rows) > limit:
        next_cursor = pagination.encode([group, rows[limit - 1]["client_id"]])
    return MemberPage(items=[member_model(row) for row in rows[:limit]], next_cursor=next_cursor)


def _csv_row(campaign_id: str, row: Mapping[str, Any]) -> list[Any]:
    member = member_model(row).model_dump(mode="json")
    step = member.pop("first_step") or {}
    member.update(
        first_step_channel=step.get("channel"),
        first_step_action=step.get("action"),
        first_step_day=step.get("day"),
        campaign_id=campaign_id,
    )
    return [member[column] for column in CSV_COLUMNS]


async def members_csv(
    session: AsyncSession,
    sessionmaker: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    campaign_id: str,
    group: Group,
    cursor: str | None,
) -> AsyncIterator[str]:
    """The group's members from the cursor on, as CSV, read in a session of its own that lives
    as long as the response streams (a 404 or a bad cursor is answered before anything is sent)."""
    after = _after(cursor, group)
    await campaign_or_404(session, campaign_id)
    holdout = group == "holdout"

    async def pages() -> AsyncIterator[list[list[Any]]]:
        nonlocal after
        async with sessionmaker() as own:
            while True:
                rows = await repository.members_page(own, campaign_id, holdout, after, CSV_PAGE)
                yield [_csv_row(campaign_id, row) for row in rows]
                if len(rows) < CSV_PAGE:
                    return
                after = rows[-1]["client_id"]

    return csv.rows_to_text(CSV_COLUMNS, pages())


# --- results and close --------------------------------------------------------------------------


def group_result(row: Mapping[str, Any] | None) -> GroupResult:
    row = row or {}
    members = int(row.get("members", 0))
    returned = int(row.get("returned", 0))
    return GroupResult(
        members=members,
        contacted=int(row.get("contacted", 0)),
        responded=int(row.get("responded", 0)),
        returned=returned,
        recovered_revenue=to_money(row.get("revenue", 0)),
        win_back_rate=round(returned / members, RATE_PLACES) if members else None,
    )


def uplift_of(treatment: GroupResult, holdout: GroupResult) -> Uplift | None:
    if not treatment.members or not holdout.members:
        return None
    interval = newcombe(treatment.returned, treatment.members, holdout.returned, holdout.members)
    return Uplift(
        difference=round(interval.difference, RATE_PLACES),
        low=round(interval.low, RATE_PLACES),
        high=round(interval.high, RATE_PLACES),
        significant=interval.significant,
    )


def notes_of(
    campaign: Campaign, treatment: GroupResult, holdout: GroupResult, now: datetime
) -> list[str]:
    notes = []
    end = ends_at(campaign)
    if now < end:
        notes.append(f"the attribution window runs until {end.isoformat()}: returns may still come")
    if not holdout.members:
        notes.append("no holdout members: the uplift cannot be measured")
    if holdout.contacted:
        notes.append(
            f"{holdout.contacted} holdout member(s) were contacted with this campaign's id: they "
            "stay in the holdout (groups are compared as assigned), which understates the uplift "
            "if the touches worked"
        )
    untouched = treatment.members - treatment.contacted
    if treatment.members and untouched:
        notes.append(
            f"{untouched} treatment member(s) have no contact logged with this campaign's id"
        )
    return notes


async def results(session: AsyncSession, campaign_id: str, now: datetime) -> CampaignResults:
    campaign = await campaign_or_404(session, campaign_id)
    end = ends_at(campaign)
    rows = await repository.results(session, campaign.id, campaign.started_at, end)
    treatment, holdout = group_result(rows.get(False)), group_result(rows.get(True))
    return CampaignResults(
        campaign_id=campaign.id,
        status=campaign.status,  # type: ignore[arg-type]
        as_of=now,
        started_at=campaign.started_at,
        attribution_ends_at=end,
        window_complete=now >= end,
        treatment=treatment,
        holdout=holdout,
        uplift=uplift_of(treatment, holdout),
        notes=notes_of(campaign, treatment, holdout, now),
    )


async def close(session: AsyncSession, campaign_id: str, now: datetime) -> CampaignRead:
    """Stop the campaign: its members are free for other campaigns. Closed after its attribution
    window, it records each member's outcome, and its treatment group becomes evidence for
    p_return. Closing a closed campaign changes nothing."""
    campaign = await campaign_or_404(session, campaign_id)
    if campaign.status == "running":
        end = ends_at(campaign)
        complete = now >= end
        if complete:
            await repository.record_outcomes(session, campaign.id, campaign.started_at, end)
        campaign = await repository.close(session, campaign.id, now, complete) or campaign
    return read_model(campaign)
