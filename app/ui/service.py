"""What each page shows, gathered from the services the API uses (no SQL here, no commit)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns import service as campaigns
from app.campaigns.schemas import CampaignRead, CampaignResults, Group, MemberPage
from app.churn.engine import ClientState
from app.clients import service as clients
from app.clients.schemas import ClientRead, Stats, TimelineItem
from app.kit.time import utcnow
from app.plans import plan
from app.plans.schemas import RecoveryPlan
from app.policy.service import Snapshot, load_snapshot
from app.reports import service as reports
from app.reports.schemas import ChurnReport, ReasonsReport
from app.ui import format
from app.ui.charts import Timeline

HISTORY_ITEMS = 200
log = logging.getLogger("winback.ui")
T = TypeVar("T")


@dataclass(frozen=True)
class Overview:
    stats: Stats
    by_month: ChurnReport  # the last 12 calendar months
    this_week: ChurnReport  # the current ISO week
    reasons: ReasonsReport  # the last 365 days
    as_of: datetime  # when these figures were computed


async def warm_overview(
    cache: "FiguresCache[Overview]", sessionmaker: Callable[[], AsyncSession]
) -> None:
    """At start (serve's lifespan): compute the overview's figures once in the background, so a
    manager's first view is served from them rather than waiting a second for the reports."""
    try:
        async with sessionmaker() as session:
            snapshot = await load_snapshot(session)
            now = utcnow()
            await cache.get(session, sessionmaker, lambda s: overview(s, snapshot, now))
    except Exception:  # a first view computes them instead
        log.exception("dashboard overview warm-up failed")


async def overview(session: AsyncSession, snapshot: Snapshot, now: datetime) -> Overview:
    today = now.date()
    return Overview(
        stats=await clients.stats(session),
        by_month=await reports.churn(session, "month", None, None, None, now),
        this_week=await reports.churn(session, "week", today, today, None, now),
        reasons=await reports.reasons(session, None, None, snapshot.policy, now),
        as_of=now,
    )


class FiguresCache(Generic[T]):
    """Figures a page shows that take long to compute, per process: the overview's (four reports
    over every client and the status history, about a second at 100,000 clients) and a
    campaign's results (every member's events since the start: 0.2-0.5 s for 13,000 members).
    A page that must answer in 100 ms serves them for `fresh_seconds` (60: the lists' own lag,
    one sweep interval), then serves them while one refresh runs in the background in a session
    of its own, up to `stale_seconds` (a day); older ones (a process idle for a day) are
    recomputed before the page answers. `winback serve` computes the overview's once at start
    (`warm_overview`). The pages say when their figures were computed."""

    def __init__(self, fresh_seconds: float = 60.0, stale_seconds: float = 86400.0) -> None:
        self.fresh_seconds = fresh_seconds
        self.stale_seconds = stale_seconds
        self._found: T | None = None
        self._computed = 0.0  # time.monotonic() of _found
        self._refresh: asyncio.Task[None] | None = None

    async def get(
        self,
        session: AsyncSession,
        sessionmaker: Callable[[], AsyncSession],
        compute: Callable[[AsyncSession], Awaitable[T]],
    ) -> T:
        age = time.monotonic() - self._computed
        if self._found is not None and age < self.fresh_seconds:
            return self._found
        if self._found is not None and age < self.stale_seconds:
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.create_task(self._recompute(sessionmaker, compute))
            return self._found
        found = await compute(session)
        self._keep(found)
        return found

    async def settled(self) -> None:
        """Wait for a background refresh under way (tests; a graceful stop)."""
        if self._refresh is not None:
            await self._refresh

    def _keep(self, found: T) -> None:
        self._found, self._computed = found, time.monotonic()

    async def _recompute(
        self,
        sessionmaker: Callable[[], AsyncSession],
        compute: Callable[[AsyncSession], Awaitable[T]],
    ) -> None:
        try:
            async with sessionmaker() as session:  # read-only: its transaction ends unused
                self._keep(await compute(session))
        except Exception:  # the stale figures stay; the next request past fresh_seconds retries
            log.exception("dashboard overview refresh failed")


@dataclass(frozen=True)
class ClientPage:
    client: ClientRead
    plan: RecoveryPlan
    timeline: Timeline
    status_changes: list[TimelineItem]
    events: list[TimelineItem]
    more_history: bool


def timeline_of(state: ClientState, now: datetime, currency: str) -> Timeline:
    lines, last = state.lines, state.last_order_at
    at_risk = lost = None
    if lines is not None and last is not None:
        at_risk = last + timedelta(days=lines.at_risk(state.in_watch))
        lost = last + timedelta(days=lines.lost_days)
    orders = [(o.first_at, o.amount) for o in state.occasions]
    peak = max((amount for _, amount in orders), default=None)
    return Timeline(
        orders=orders,
        now=now,
        expected_next=state.expected_next_order_at,
        at_risk_at=at_risk,
        lost_at=lost,
        money="" if peak is None else format.money(peak, currency),
    )


async def client_page(
    session: AsyncSession, snapshot: Snapshot, client_id: str, now: datetime
) -> ClientPage:
    """The client evaluated now, its recovery plan (as GET .../recovery-plan computes it), its
    purchase timeline and its recent history."""
    found = await clients.evaluated_client(session, client_id, snapshot, now, None)
    profile = found.profile()
    evidence = await clients.return_evidence(
        session, snapshot.policy, (profile.tier, profile.market), None
    )
    state = found.assessment.state
    recovery = plan(
        profile,
        state,
        found.facts,
        snapshot.policy,
        found.moment,
        evidence,
        found.assessment.scores.p_alive,
    )
    history = await clients.timeline(session, client_id, None, HISTORY_ITEMS)
    return ClientPage(
        client=clients.read_model(found.client, found.assessment, found.moment),
        plan=recovery,
        timeline=timeline_of(state, found.moment, snapshot.policy.currency),
        status_changes=[i for i in history.items if i.kind == "status_change"],
        events=[i for i in history.items if i.kind == "event"][:30],
        more_history=history.next_cursor is not None,
    )


@dataclass(frozen=True)
class CampaignPage:
    campaign: CampaignRead
    results: CampaignResults
    members: MemberPage
    group: Group


async def campaign_page(
    session: AsyncSession,
    sessionmaker: Callable[[], AsyncSession],
    results_kept: dict[str, FiguresCache[CampaignResults]],
    campaign_id: str,
    group: Group,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> CampaignPage:
    campaign = await campaigns.get(session, campaign_id)  # a 404 before anything is kept
    kept = results_kept.setdefault(campaign_id, FiguresCache[CampaignResults]())
    return CampaignPage(
        campaign=campaign,
        results=await kept.get(
            session,
            sessionmaker,
            lambda in_session: campaigns.results(in_session, campaign_id, now),
        ),
        members=await campaigns.members_page(session, campaign_id, group, cursor, limit),
        group=group,
    )
