"""Results on a constructed history with a known answer, and closing after the window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.holdout import in_holdout
from app.campaigns.models import CampaignMember
from app.campaigns.uplift import newcombe
from app.kit.history import History, days_after
from tests.campaigns.builders import Headers, buyer, load, post_events
from tests.conftest import NOW

CAMPAIGN = "results-1"


def split(count_treatment: int, count_holdout: int) -> tuple[list[str], list[str]]:
    """Client ids the hash puts in each group of CAMPAIGN at 50 %."""
    treatment: list[str] = []
    holdout: list[str] = []
    n = 0
    while len(treatment) < count_treatment or len(holdout) < count_holdout:
        client_id = f"r{n:03d}"
        n += 1
        group = holdout if in_holdout(CAMPAIGN, client_id, 50) else treatment
        if len(group) < (count_holdout if group is holdout else count_treatment):
            group.append(client_id)
    return treatment, holdout


async def results(api: AsyncClient, headers: Headers) -> Any:
    response = await api.get(f"/v1/campaigns/{CAMPAIGN}/results", headers=headers["reader"])
    assert response.status_code == 200, response.text
    return response.json()


async def test_results_with_a_known_answer(
    api: AsyncClient, headers: Headers, session: AsyncSession, clock: Any
) -> None:
    treatment, holdout = split(6, 4)
    t1, t2, t3, t4, t5, t6 = treatment
    h1, h2, h3, h4 = holdout
    await load(api, headers, session, {c: buyer(c, 150, "3000.00") for c in treatment + holdout})
    # a touch with the campaign's id before the campaign started does not count
    before = History(t4, days_after(NOW), ids=lambda p: f"{t4}-before-{p}")
    before.contact(-1, "reached", campaign_id=CAMPAIGN)
    await post_events(api, headers, before.events)

    created = await api.post(
        "/v1/campaigns",
        json={
            "name": "results",
            "id": CAMPAIGN,
            "segment": {"status": ["lost"]},
            "holdout_pct": 50,
        },
        headers=headers["campaigns"],
    )
    assert created.status_code == 201, created.text
    assert created.json()["members"] == {"total": 10, "treatment": 6, "holdout": 4}

    clock.now = NOW + timedelta(days=90)  # the window (60 days) has ended
    events: list[dict[str, Any]] = []

    def add(client_id: str, build: Any) -> None:
        """Events on days after the start, built by `build(history)`."""
        h = History(
            client_id, days_after(NOW), ids=lambda p: f"{client_id}-late-{p}{len(h.events)}"
        )
        build(h)
        events.extend(h.events)

    # t1: touched with the campaign id and reached, ordered on day 10: returned, 1,000
    add(t1, lambda h: (h.contact(2, "reached", campaign_id=CAMPAIGN), h.order(10, "1000.00")))
    # t2: touched, no answer, ordered on day 70 (after the window): not returned
    add(t2, lambda h: (h.contact(3, "no_answer", campaign_id=CAMPAIGN), h.order(70, "900.00")))
    # t3: a touch without the campaign id that reached the client: responded, not contacted
    add(t3, lambda h: h.contact(4, "reached"))
    # t4: nothing after the start (its touch was before it)
    # t5: ordered in the window, then the order was cancelled: not returned
    add(
        t5,
        lambda h: (
            h.contact(1, "opened", campaign_id=CAMPAIGN),
            h.cancel(h.order(20, "700.00"), 21),
        ),
    )
    # t6: ordered 500 in the window, 200 refunded: returned, 300
    add(
        t6,
        lambda h: (
            h.contact(1, "replied", campaign_id=CAMPAIGN),
            h.refund(h.order(30, "500.00"), 35, "200.00"),
        ),
    )
    # h1: held out but contacted anyway (opened: not a response)
    add(h1, lambda h: h.contact(5, "opened", campaign_id=CAMPAIGN))
    # h2: came back by itself on day 59: returned, 2,500
    add(h2, lambda h: h.order(59, "2500.00"))
    # h3: called us (inbound) on day 8: responded
    add(h3, lambda h: h.contact(8, "reached", direction="inbound"))
    # h4: nothing; a touch of another campaign does not count
    add(h4, lambda h: h.contact(6, "reached", campaign_id="another"))
    await post_events(api, headers, events)

    body = await results(api, headers)
    assert body["window_complete"] is True
    assert body["treatment"] == {
        "members": 6,
        "contacted": 4,  # t1, t2, t5, t6
        "responded": 3,  # t1 reached, t3 reached (no campaign id), t6 replied
        "returned": 2,  # t1, t6
        "recovered_revenue": "1300.00",
        "win_back_rate": round(2 / 6, 4),
    }
    assert body["holdout"] == {
        "members": 4,
        "contacted": 1,  # h1, reported, kept in the holdout
        "responded": 2,  # h3 inbound, h4 reached (another campaign's touch is still an answer)
        "returned": 1,  # h2
        "recovered_revenue": "2500.00",
        "win_back_rate": 0.25,
    }
    expected = newcombe(2, 6, 1, 4)
    assert body["uplift"] == {
        "difference": round(2 / 6 - 1 / 4, 4),
        "low": round(expected.low, 4),
        "high": round(expected.high, 4),
        "confidence": 0.95,
        "method": "Newcombe hybrid score interval (method 10, Newcombe 1998)",
        "significant": False,
    }
    assert any("1 holdout member(s) were contacted" in note for note in body["notes"])
    assert any("2 treatment member(s) have no contact" in note for note in body["notes"])

    # while the window runs, the results say so
    clock.now = NOW + timedelta(days=30)
    early = await results(api, headers)
    assert early["window_complete"] is False
    assert any("returns may still come" in note for note in early["notes"])

    # closed after the window: each member's outcome is recorded
    clock.now = NOW + timedelta(days=90)
    closed = await api.post(f"/v1/campaigns/{CAMPAIGN}/close", headers=headers["campaigns"])
    assert closed.json()["outcomes_recorded"] is True
    rows = await session.execute(
        select(
            CampaignMember.client_id, CampaignMember.returned, CampaignMember.recovered_revenue
        ).where(CampaignMember.campaign_id == CAMPAIGN)
    )
    outcomes = {client_id: (returned, str(revenue)) for client_id, returned, revenue in rows}
    assert outcomes[t1] == (True, "1000.00") and outcomes[t6] == (True, "300.00")
    assert outcomes[t2] == (False, "0.00") and outcomes[t5] == (False, "0.00")
    assert outcomes[h2] == (True, "2500.00")
    assert await results(api, headers) == body | {"status": "closed", "as_of": body["as_of"]}


async def test_a_campaign_closed_before_its_window_ended_records_no_outcomes(
    api: AsyncClient, headers: Headers, session: AsyncSession, clock: Any
) -> None:
    await load(api, headers, session, {"early": buyer("early", 150, "3000.00")})
    await api.post(
        "/v1/campaigns",
        json={"name": "early", "id": "early-close", "holdout_pct": 0},
        headers=headers["campaigns"],
    )
    clock.now = NOW + timedelta(days=10)
    closed = await api.post("/v1/campaigns/early-close/close", headers=headers["campaigns"])
    assert closed.json()["status"] == "closed"
    assert closed.json()["outcomes_recorded"] is False
    returned = await session.scalar(
        select(CampaignMember.returned).where(CampaignMember.campaign_id == "early-close")
    )
    assert returned is None
    body = (await api.get("/v1/campaigns/early-close/results", headers=headers["reader"])).json()
    assert body["uplift"] is None
    assert any("no holdout members" in note for note in body["notes"])
