"""The churn report against a constructed multi-month status history: clients at start, lost
(a client lost, won back and lost again in one month counts twice), churn rate, recovered, by
period and group."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client, StatusChange
from app.policy.schemas import Policy
from app.reports import repository as reports_repository
from app.reports.service import period_start, periods, refresh_tally, shift
from tests.conftest import NOW

Headers = dict[str, dict[str, str]]


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# client: (tier, market, manager, value, [(from, to, at), ...])
HISTORY: dict[str, tuple[str, str, str | None, str, list[tuple[str | None, str, str]]]] = {
    # lost in February, recovered in April, lost again in May
    "c1": (
        "A",
        "b2b",
        "m-1",
        "1000.00",
        [
            (None, "active", "2025-12-01"),
            ("active", "at_risk", "2026-01-10"),
            ("at_risk", "lost", "2026-02-15"),
            ("lost", "recovered", "2026-04-05"),
            ("recovered", "at_risk", "2026-05-10"),
            ("at_risk", "lost", "2026-05-20"),
        ],
    ),
    # a steady client
    "c2": ("A", "b2b", "m-2", "500.00", [(None, "active", "2025-11-01")]),
    # new in February; in March lost, back, and lost again: two losses, one return
    "c3": (
        "B",
        "b2c",
        None,
        "200.00",
        [
            (None, "active", "2026-02-10"),
            ("active", "lost", "2026-03-03"),
            ("lost", "recovered", "2026-03-20"),
            ("recovered", "lost", "2026-03-28T12:00:00"),
        ],
    ),
    # a prospect that bought in January
    "c4": (
        "B",
        "b2b",
        "m-1",
        "300.00",
        [(None, "prospect", "2025-10-01"), ("prospect", "active", "2026-01-20")],
    ),
    # lost before the report
    "c5": ("C", "b2c", None, "50.00", [(None, "lost", "2025-12-15")]),
    # lost after it (June 2026 is outside a report to May)
    "c6": (
        "A",
        "b2b",
        "m-2",
        "700.00",
        [(None, "active", "2025-06-01"), ("active", "lost", "2026-06-02")],
    ),
}


# How the report is made (app.reports.repository): from the whole history (before the worker made
# a tally); from a tally made after the history; from a tally made part-way (2026-03-01 here)
# and the history recorded since. Every test's figures hold for the three.
TALLY_MODES = ["history", "tally", "tally_part_way"]
CODES = list(Policy().reason_codes)
PART_WAY = day("2026-03-01")


@pytest.fixture(params=TALLY_MODES)
def tally(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client_row(client_id: str, status: str, **values: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "facts": {},
        "status": status,
        "cycle_days": 30,
        "cycle_source": "own",
        "evaluated_at": NOW,
        **values,
    }


async def construct(session: AsyncSession, tally: str = "history") -> None:
    """HISTORY's clients and changes, recorded as the write path would have: the changes up to
    PART_WAY, (a tally), then the rest, each client's status following its last change."""
    later: list[tuple[str, str, list[tuple[str | None, str, str]]]] = []
    for client_id, (tier, market, manager, value, changes) in HISTORY.items():
        before = changes
        if tally == "tally_part_way":
            before = [change for change in changes if day(change[2]) < PART_WAY]
        after = changes[len(before) :]
        if after:
            later.append((client_id, changes[-1][1], after))
        attributes = {"market": market, "manager_id": manager, "tier": tier}
        status = before[-1][1] if before else "prospect"
        await session.execute(
            insert(Client).values(client_row(client_id, status, value=Decimal(value), **attributes))
        )
        await record(session, client_id, before)
    if tally != "history":
        assert await reports_repository.refresh_tallies(session, NOW, CODES)
    for client_id, status, after in later:
        await record(session, client_id, after)
        await session.execute(
            update(Client).where(Client.client_id == client_id).values(status=status)
        )


async def record(
    session: AsyncSession, client_id: str, changes: list[tuple[str | None, str, str]]
) -> None:
    for from_status, to_status, at in changes:
        await session.execute(
            insert(StatusChange).values(
                client_id=client_id, from_status=from_status, to_status=to_status, at=day(at)
            )
        )


async def report(api: AsyncClient, headers: Headers, **params: Any) -> Any:
    response = await api.get("/v1/reports/churn", params=params, headers=headers["reader"])
    assert response.status_code == 200, response.text
    return response.json()


def table(body: Any) -> list[tuple[Any, ...]]:
    return [
        (
            row["period_start"],
            row["group"],
            row["clients_at_start"],
            row["lost"],
            row["churn_rate"],
            row["lost_value"],
            row["recovered"],
            row["recovered_value"],
        )
        for row in body["rows"]
    ]


async def test_monthly_churn_of_everyone(
    api: AsyncClient, headers: Headers, session: AsyncSession, tally: str
) -> None:
    await construct(session, tally)
    body = await report(api, headers, **{"from": "2026-01-15", "to": "2026-05-31"})
    assert body["from"] == "2026-01-01" and body["to"] == "2026-05-31"
    assert body["interval"] == "month" and body["group_by"] is None
    assert table(body) == [
        # Jan 1: c1, c2, c6 (c3 not yet, c4 a prospect, c5 lost)
        ("2026-01-01", None, 3, 0, 0.0, "0.00", 0, "0.00"),
        # Feb 1: + c4; c1 lost on the 15th
        ("2026-02-01", None, 4, 1, 0.25, "1000.00", 0, "0.00"),
        # Mar 1: - c1, + c3; c3 lost, back and lost again: two losses, one return
        ("2026-03-01", None, 4, 2, 0.5, "400.00", 1, "200.00"),
        # Apr 1: - c3; c1 came back
        ("2026-04-01", None, 3, 0, 0.0, "0.00", 1, "1000.00"),
        # May 1: + c1; c1 lost for the second time
        ("2026-05-01", None, 4, 1, 0.25, "1000.00", 0, "0.00"),
    ]
    assert body["rows"][0]["period_end"] == "2026-02-01"


async def test_a_history_that_came_in_late_counts_its_clients_from_their_first_order(
    api: AsyncClient, headers: Headers, session: AsyncSession, tally: str
) -> None:
    """An import (or a first event long after a client's first order) records each client's
    first status as it stands, dated when it began: a client first seen lost was a client one
    could lose from its first order until then, not a loss out of nowhere (a churn rate over
    100 %)."""
    late = {  # client: (first order, first recorded status, since)
        "imported-lost": ("2025-11-20", "lost", "2026-03-10"),
        "imported-at-risk": ("2026-01-05", "at_risk", "2026-02-20"),
        "imported-recovered": ("2025-10-01", "recovered", "2026-04-02"),
        "live": ("2026-02-03", "active", "2026-02-03"),  # the usual first change
    }
    for number, (client_id, (first_order, status, since)) in enumerate(late.items()):
        if number == 2 and tally == "tally_part_way":  # two clients tallied, two since
            assert await reports_repository.refresh_tallies(session, NOW, CODES)
        values = {"market": "b2b", "tier": "B", "value": Decimal("100.00")}
        await session.execute(
            insert(Client).values(
                client_row(client_id, status, first_order_at=day(first_order), **values)
            )
        )
        await record(session, client_id, [(None, status, since)])
    if tally == "tally":
        assert await reports_repository.refresh_tallies(session, NOW, CODES)
    body = await report(api, headers, **{"from": "2026-01-01", "to": "2026-04-30"})
    assert [
        (r["period_start"], r["clients_at_start"], r["lost"], r["recovered"]) for r in body["rows"]
    ] == [
        ("2026-01-01", 2, 0, 0),  # imported-lost, imported-recovered (at_risk's first order: Jan 5)
        ("2026-02-01", 3, 0, 0),  # + imported-at-risk
        ("2026-03-01", 4, 1, 0),  # + live; imported-lost lost on the 10th
        ("2026-04-01", 3, 0, 1),  # imported-recovered came back (counted in the base throughout)
    ]
    assert all(r["churn_rate"] is None or r["churn_rate"] <= 1 for r in body["rows"])


async def test_by_tier_manager_market_and_quarter(
    api: AsyncClient, headers: Headers, session: AsyncSession, tally: str
) -> None:
    await construct(session, tally)
    by_tier = await report(
        api, headers, **{"from": "2026-01-01", "to": "2026-04-30"}, group_by="tier"
    )
    assert table(by_tier) == [
        ("2026-01-01", "A", 3, 0, 0.0, "0.00", 0, "0.00"),
        ("2026-01-01", "B", 0, 0, None, "0.00", 0, "0.00"),
        ("2026-02-01", "A", 3, 1, 0.3333, "1000.00", 0, "0.00"),
        ("2026-02-01", "B", 1, 0, 0.0, "0.00", 0, "0.00"),
        ("2026-03-01", "A", 2, 0, 0.0, "0.00", 0, "0.00"),
        ("2026-03-01", "B", 2, 2, 1.0, "400.00", 1, "200.00"),
        ("2026-04-01", "A", 2, 0, 0.0, "0.00", 1, "1000.00"),
        ("2026-04-01", "B", 1, 0, 0.0, "0.00", 0, "0.00"),
    ]  # tier C: only c5, lost before the report and since: no row
    by_manager = await report(
        api, headers, **{"from": "2026-05-01", "to": "2026-06-30"}, group_by="manager"
    )
    assert [(r[0], r[1], r[2], r[3]) for r in table(by_manager)] == [
        ("2026-05-01", "m-1", 2, 1),  # c1 (back in April), c4; c1 lost
        ("2026-05-01", "m-2", 2, 0),  # c2, c6
        ("2026-06-01", "m-1", 1, 0),
        ("2026-06-01", "m-2", 2, 1),  # c6 lost on June 2
    ]  # c3 and c5 have no manager: lost before May and not back, they have no row
    by_quarter = await report(
        api,
        headers,
        **{"from": "2026-01-01", "to": "2026-06-30"},
        interval="quarter",
        group_by="market",
    )
    assert table(by_quarter) == [
        # Q1: b2b c1, c2, c6 at start (c4 a prospect); c1 lost, c4 became a client
        ("2026-01-01", "b2b", 3, 1, 0.3333, "1000.00", 0, "0.00"),
        # b2c: c3 arrived and was lost twice in the quarter; c5 was lost before
        ("2026-01-01", "b2c", 0, 2, None, "400.00", 1, "200.00"),
        # Q2: b2b c2, c4, c6 at start; c1 came back and was lost again, c6 lost
        ("2026-04-01", "b2b", 3, 2, 0.6667, "1700.00", 1, "1000.00"),
        ("2026-04-01", "b2c", 0, 0, None, "0.00", 0, "0.00"),
    ]


async def test_weeks_start_on_monday_and_csv(
    api: AsyncClient, headers: Headers, session: AsyncSession, tally: str
) -> None:
    await construct(session, tally)
    params = {"from": "2026-02-11", "to": "2026-02-20", "interval": "week"}
    body = await report(api, headers, **params)
    assert [(r["period_start"], r["clients_at_start"], r["lost"]) for r in body["rows"]] == [
        # Monday 9th: c1 (at risk), c2, c4, c6; c3 arrives on the 10th, c1 is lost on Sunday 15th
        ("2026-02-09", 4, 1),
        ("2026-02-16", 4, 0),
    ]
    response = await api.get(
        "/v1/reports/churn",
        params={**params, "group_by": "tier"},
        headers={**headers["reader"], "Accept": "text/csv"},
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "period_start",
        "period_end",
        "group",
        "clients_at_start",
        "lost",
        "churn_rate",
        "lost_value",
        "recovered",
        "recovered_value",
    ]
    assert len(rows) == 1 + 2 * 2  # two weeks, tiers A and B


async def test_bad_ranges_are_refused(api: AsyncClient, headers: Headers) -> None:
    for params, field in [
        ({"from": "2026-05-01", "to": "2026-04-01"}, "from"),
        ({"from": "1990-01-01", "to": "2026-01-01", "interval": "week"}, "from"),
        ({"interval": "year"}, "interval"),
        ({"group_by": "colour"}, "group_by"),
        ({"from": "yesterday"}, "from"),
    ]:
        response = await api.get("/v1/reports/churn", params=params, headers=headers["reader"])
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == field


def test_periods() -> None:
    today = NOW.date()
    span = periods("month", None, None, today)
    assert span.count == 12 and span.last == today.replace(day=1)
    assert period_start(datetime(2026, 8, 19).date(), "quarter").isoformat() == "2026-07-01"
    assert shift(datetime(2026, 11, 1).date(), "quarter", 1).isoformat() == "2027-02-01"
    assert shift(datetime(2026, 1, 1).date(), "month", -1).isoformat() == "2025-12-01"
    with pytest.raises(Exception, match="after"):
        periods("week", datetime(2026, 2, 1).date(), datetime(2026, 1, 1).date(), today)


async def test_the_tally_is_remade_when_due_and_a_group_move_shows_in_the_next(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    """The worker re-makes the tally every `report_refresh_seconds` (judged by the stored time);
    a status change counts at once (the history since the tally), a client's move to another
    group from the next tally."""
    await construct(session)
    every = 60.0
    assert await refresh_tally(session, NOW, every, Policy())
    assert not await refresh_tally(session, NOW + timedelta(seconds=30), every, Policy())
    params = {"from": "2026-05-01", "to": "2026-05-31", "group_by": "tier"}

    def base(body: Any) -> dict[str | None, int]:
        return {row["group"]: row["clients_at_start"] for row in body["rows"]}

    assert base(await report(api, headers, **params)) == {"A": 3, "B": 1}  # c1, c2, c6; c4
    await session.execute(update(Client).where(Client.client_id == "c2").values(tier="B"))
    assert base(await report(api, headers, **params)) == {"A": 3, "B": 1}  # the tally's groups
    assert await refresh_tally(session, NOW + timedelta(seconds=61), every, Policy())
    assert base(await report(api, headers, **params)) == {"A": 2, "B": 2}
