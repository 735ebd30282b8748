"""The reasons report on constructed histories: recorded reasons (only those of the loss's
episode) win over inferred ones, one leading reason per client, ranked by value, A/B/C."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import StatusChange
from app.events.models import Event
from app.kit.history import History
from app.policy.schemas import Policy
from app.population import repository as population_repository
from app.reports import repository as reports_repository
from app.reports.models import LossTally
from app.reports.service import rank_reasons
from tests.campaigns.builders import THRESHOLDS, Headers, buyer, load, post_events
from tests.conftest import NOW

# Every buyer orders 4 times, 30 days apart: lost 90 days after its last order.


def histories() -> dict[str, History]:
    clients: dict[str, History] = {}

    def add(history: History) -> History:
        clients[history.client_id] = history
        return history

    # exit interview after the loss: competitor_price (value 10,000; lost 60 days ago)
    add(buyer("r1", 150, "2500.00")).contact(40, "reached", reason_code="competitor_price")
    # a lost request after its last order: delivery_failure; the budget_cut it gave before its
    # last order is an older episode (value 6,000; lost 70 days ago)
    r2 = add(buyer("r2", 160, "1500.00"))
    r2.feedback(170, "review", 7, "fb-r2", reason_code="budget_cut")
    r2.lose(r2.request(100, "rq-r2"), 99, "delivery_failure")
    # an open complaint without a code: inferred from `dissatisfied` (value 3,000)
    add(buyer("r3", 140, "750.00")).feedback(120, "complaint", feedback_id="fb-r3")
    # three unanswered calls: unresponsive; b2b -> key_contact_left (value 1,500)
    r4 = add(buyer("r4", 130, "375.00"))
    for days in (120, 110, 100):
        r4.contact(days, "no_answer")
    # the same in b2c -> no_contact (value 500)
    r5 = add(buyer("r5", 130, "125.00", market="b2c", manager_id=None))
    for days in (120, 110, 100):
        r5.contact(days, "no_answer", channel="email")
    # nothing known (value 2,000)
    add(buyer("r6", 150, "500.00"))
    # a churn notice with budget_cut 20 days ago (value 1,000)
    add(buyer("r7", 50, "250.00")).churned(20, "budget_cut")
    # lost long before the window (310 days ago): not in the report
    add(buyer("r8", 400, "9999.00")).contact(300, "reached", reason_code="competitor_terms")
    # lost 110 days ago, came back 60 days ago (value 4 x 750 + 1,000 = 4,000): price_increase,
    # given between its last order and its return, counts; service_quality, given after the
    # return, does not
    r9 = add(buyer("r9", 200, "750.00"))
    r9.feedback(150, "review", 5, "fb-r9a", reason_code="price_increase")
    r9.order(60, "1000.00", "r9-back")
    r9.feedback(40, "review", 4, "fb-r9b", reason_code="service_quality")
    # lost twice in the window (see `earlier_losses`), now with an exit interview: the latest
    # loss counts, once (value 2,000)
    add(buyer("r10", 160, "500.00")).contact(30, "replied", reason_code="competitor_price")
    return clients


async def earlier_losses(session: AsyncSession) -> None:
    """What the live write path would have recorded before the histories were loaded at once:
    r9's loss 110 days ago and its return 60 days ago, and r10's first loss and return."""
    rows = [
        ("r9", "at_risk", "lost", 110, ["lapsed"]),
        ("r9", "lost", "recovered", 60, []),
        ("r10", "at_risk", "lost", 190, ["lapsed", "unresponsive"]),
        ("r10", "lost", "recovered", 175, []),
    ]
    for client_id, from_status, to_status, days, signals in rows:
        await session.execute(
            insert(StatusChange).values(
                client_id=client_id,
                from_status=from_status,
                to_status=to_status,
                at=NOW - timedelta(days=days),
                signals=signals,
            )
        )


# How the report is made (app.reports.repository): from the whole history (before the worker made
# a tally); from a tally made after the history; from a tally made 45 days before NOW, the
# events since (exit interviews, a churn notice, feedback after a return) written after it.
TALLY_MODES = ["history", "tally", "tally_part_way"]
PART_WAY = NOW - timedelta(days=45)


@pytest.fixture(params=TALLY_MODES)
def tally(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def make_tally(session: AsyncSession) -> None:
    """The worker's tally, the events so far received a day before it (in a test they share
    one transaction, whose start is every row's `received_at`)."""
    await session.execute(update(Event).values(received_at=NOW - timedelta(days=1)))
    assert await reports_repository.refresh_tallies(session, NOW, list(Policy().reason_codes))


async def construct(api: AsyncClient, headers: Headers, session: AsyncSession, tally: str) -> None:
    clients = histories()
    if tally != "tally_part_way":
        await load(api, headers, session, clients)
        await earlier_losses(session)
        if tally == "tally":
            await make_tally(session)
        return
    await population_repository.save(session, THRESHOLDS, len(clients), {}, NOW)
    events = [event for history in clients.values() for event in history.in_time_order()]
    before = [e for e in events if datetime.fromisoformat(e["occurred_at"]) < PART_WAY]
    assert 0 < len(before) < len(events)
    await post_events(api, headers, before)
    await earlier_losses(session)
    await make_tally(session)
    after = [e for e in events if datetime.fromisoformat(e["occurred_at"]) >= PART_WAY]
    await post_events(api, headers, after)


async def test_reasons_ranked_by_value_with_classes(
    api: AsyncClient, headers: Headers, session: AsyncSession, tally: str
) -> None:
    await construct(api, headers, session, tally)
    window = {"from": (NOW - timedelta(days=200)).date().isoformat(), "to": NOW.date().isoformat()}
    response = await api.get("/v1/reports/reasons", params=window, headers=headers["reader"])
    assert response.status_code == 200, response.text
    body = response.json()
    got = [
        (
            r["rank"],
            r["reason"],
            r["reason_code"],
            r["signal"],
            r["group"],
            r["source"],
            r["clients"],
            r["value"],
            r["share"],
            r["cumulative_share"],
            r["class"],
        )
        for r in body["reasons"]
    ]
    # known value 28,000: shares of it; A while the share before a reason is under 80 %
    assert got == [
        (
            1,
            "competitor_price",
            "competitor_price",
            None,
            "competitor",
            "recorded",
            2,
            "12000.00",
            0.4286,
            0.4286,
            "A",
        ),
        (
            2,
            "delivery_failure",
            "delivery_failure",
            None,
            "company",
            "recorded",
            1,
            "6000.00",
            0.2143,
            0.6429,
            "A",
        ),
        (
            3,
            "price_increase",
            "price_increase",
            None,
            "company",
            "recorded",
            1,
            "4000.00",
            0.1429,
            0.7857,
            "A",
        ),
        (
            4,
            "dissatisfied",
            None,
            "dissatisfied",
            "company",
            "inferred",
            1,
            "3000.00",
            0.1071,
            0.8929,
            "A",
        ),
        (
            5,
            "key_contact_left",
            "key_contact_left",
            "unresponsive",
            "external",
            "inferred",
            1,
            "1500.00",
            0.0536,
            0.9464,
            "B",
        ),
        (
            6,
            "budget_cut",
            "budget_cut",
            None,
            "external",
            "recorded",
            1,
            "1000.00",
            0.0357,
            0.9821,
            "B",
        ),
        (
            7,
            "no_contact",
            "no_contact",
            "unresponsive",
            "company",
            "inferred",
            1,
            "500.00",
            0.0179,
            1.0,
            "C",
        ),
    ]
    assert body["groups"] == [
        {"group": "company", "clients": 4, "value": "13500.00", "share": 0.4821},
        {"group": "competitor", "clients": 2, "value": "12000.00", "share": 0.4286},
        {"group": "external", "clients": 2, "value": "2500.00", "share": 0.0893},
    ]
    assert body["unexplained"] == {"clients": 1, "value": "2000.00", "share_of_lost_value": 0.0667}
    assert body["lost_clients"] == 9 and body["lost_value"] == "30000.00"

    response = await api.get(
        "/v1/reports/reasons", params=window, headers={**headers["reader"], "Accept": "text/csv"}
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
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
    ]
    assert rows[1] == [
        "1",
        "competitor_price",
        "competitor_price",
        "",
        "competitor",
        "recorded",
        "2",
        "12000.00",
        "0.4286",
        "0.4286",
        "A",
    ]
    assert rows[-1] == ["", "unknown", "", "", "unknown", "none", "1", "2000.00", "", "", ""]


def test_ranking_without_value_and_with_removed_codes() -> None:
    rows: list[dict[str, Any]] = [
        {"recorded_code": "gone_code", "signal": None, "market": "b2b", "clients": 2, "value": 0},
        {
            "recorded_code": None,
            "signal": "dissatisfied",
            "market": "b2b",
            "clients": 1,
            "value": 0,
        },
    ]
    reasons, _, unexplained, clients, value = rank_reasons(rows, Policy())
    # a code the policy no longer knows has no group: its clients count as unexplained
    assert [r.reason for r in reasons] == ["dissatisfied"]
    assert reasons[0].abc_class == "A" and reasons[0].share == 0.0
    assert unexplained.clients == 2 and unexplained.share_of_lost_value is None
    assert clients == 3 and value == Decimal(0)


async def test_erasure_takes_the_client_out_of_the_loss_tally(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    """A tally row names its client: erasure deletes it with the rest."""
    await construct(api, headers, session, "tally")

    async def losses(client_id: str) -> int:
        statement = select(func.count()).where(LossTally.client_id == client_id)
        return int(await session.scalar(statement) or 0)

    assert await losses("r1") == 1 and await losses("r10") == 2
    response = await api.delete("/v1/clients/r1", headers=headers["admin"])
    assert response.status_code == 200, response.text
    assert await losses("r1") == 0 and await losses("r10") == 2
