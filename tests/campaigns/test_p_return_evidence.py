"""p_return from evidence: below 30 similar finished treatment members the policy's band, at 30
and above their observed win-back rate, with a reason that says so. Pure (the planner gets the
rates as data), then end to end (campaign, returns, close, the recovery-plan endpoint)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.history import History as EventHistory
from app.kit.history import days_after
from app.plans import plan
from app.plans.economics import EVIDENCE_MIN_CLIENTS, ObservedReturns, band_of, band_text
from app.policy.schemas import Policy
from tests.campaigns.builders import Headers, buyer, load, post_events
from tests.churn.helpers import at
from tests.conftest import NOW
from tests.plans.builders import History, situation

POLICY = Policy()
DAY_240 = at(240)


def reasons(recovery: Any, code: str) -> list[str]:
    return [r.text for r in recovery.decision_reasons if r.code == code]


def lost_a() -> tuple[Any, Any, Any]:
    """Monthly orders of 1,000 on days 0..120 (value 5,000): lost at day 210; at day 240 it is
    lost 30 days = 1 cycle ago, band 0 (< 2 cycles)."""
    return situation(History().regular(), 240, tier="A", market="b2b")


@pytest.mark.parametrize(
    ("members", "returned", "p_return"),
    [(EVIDENCE_MIN_CLIENTS - 1, 9, 0.4), (EVIDENCE_MIN_CLIENTS, 9, 0.3), (200, 50, 0.25)],
)
def test_the_observed_rate_replaces_the_band_from_30_similar_clients(
    members: int, returned: int, p_return: float
) -> None:
    profile, state, facts = lost_a()
    evidence = {("A", "b2b", 0): ObservedReturns(members, returned, 2)}
    recovery = plan(profile, state, facts, POLICY, DAY_240, evidence)
    assert recovery.economics.p_return == p_return
    [text] = reasons(recovery, "p_return")
    if members < EVIDENCE_MIN_CLIENTS:
        assert text == "p_return 0.4: lost 1.00 cycles ago < 2 (p_return_bands)"
    else:
        assert text == (
            f"p_return {p_return:g}: observed win-back rate of {members} similar clients "
            f"(tier A, b2b, lost < 2 cycles ago) in the treatment groups of 2 closed campaigns: "
            f"{returned} returned within the attribution window (at least 30 needed; replaces "
            "p_return_bands and its multipliers)"
        )
    # expected value and max spend follow the rate
    value = 5000 * p_return * 0.3
    assert recovery.economics.expected_value == f"{value:.2f}"


def test_evidence_of_other_kinds_of_clients_is_not_used() -> None:
    profile, state, facts = lost_a()
    evidence = {
        ("B", "b2b", 0): ObservedReturns(100, 90, 1),  # another tier
        ("A", "b2c", 0): ObservedReturns(100, 90, 1),  # another market
        ("A", "b2b", 1): ObservedReturns(100, 90, 1),  # another lapse band
        ("A", "b2b", None): ObservedReturns(100, 90, 1),  # clients not lost
    }
    recovery = plan(profile, state, facts, POLICY, DAY_240, evidence)
    assert recovery.economics.p_return == 0.4


def test_bands_follow_the_policy() -> None:
    assert [band_of(x, POLICY) for x in (None, 0, 1.99, 2, 3.99, 4, 7.99, 8, 50)] == [
        None,
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert [band_text(b, POLICY) for b in (None, 0, 1, 3)] == [
        "not lost",
        "lost < 2 cycles ago",
        "lost 2-4 cycles ago",
        "lost ≥ 8 cycles ago",
    ]


# --- end to end ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("members", "p_return"), [(29, 0.4), (30, 0.3)])
async def test_plans_learn_from_closed_campaigns(
    api: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    clock: Any,
    members: int,
    p_return: float,
) -> None:
    # `members` lost tier-A b2b clients, lost 20 days ago (0.67 cycles: band 0)
    histories = {f"ev{n:02d}": buyer(f"ev{n:02d}", 110, "3000.00") for n in range(members)}
    # the client we plan for later: its last order 30 days ago, so it is lost on day 60 and,
    # on day 90, lost 1 cycle ago (band 0 as well)
    histories["later"] = buyer("later", 30, "3000.00")
    await load(api, headers, session, histories)
    body = {"name": "learn", "id": "learn", "segment": {"status": ["lost"]}, "holdout_pct": 0}
    created = await api.post("/v1/campaigns", json=body, headers=headers["campaigns"])
    assert created.json()["members"]["treatment"] == members

    clock.now = NOW + timedelta(days=90)
    returns = []
    for n in range(9):  # nine of them ordered within the 60-day window
        history = EventHistory(f"ev{n:02d}", days_after(NOW), ids=lambda p, n=n: f"back-{n}-{p}")
        history.order(15 + n, "800.00")
        returns += history.events
    await post_events(api, headers, returns)

    before = await api.get("/v1/clients/later/recovery-plan", headers=headers["reader"])
    assert before.json()["economics"]["p_return"] == 0.4  # the campaign is still running

    closed = await api.post("/v1/campaigns/learn/close", headers=headers["campaigns"])
    assert closed.json()["outcomes_recorded"] is True
    after = (await api.get("/v1/clients/later/recovery-plan", headers=headers["reader"])).json()
    assert after["status"] == "lost" and after["tier"] == "A"
    assert after["economics"]["p_return"] == p_return
    [text] = [r["text"] for r in after["decision_reasons"] if r["code"] == "p_return"]
    if members >= 30:
        assert text.startswith(
            "p_return 0.3: observed win-back rate of 30 similar clients (tier A, b2b, lost < 2 "
            "cycles ago) in the treatment groups of 1 closed campaign: 9 returned"
        )
    else:
        assert "p_return_bands" in text and "observed" not in text

    # a plan as of a moment before the campaign was closed does not see its evidence
    past = (NOW + timedelta(days=89)).isoformat()
    then = await api.get(
        "/v1/clients/later/recovery-plan", params={"as_of": past}, headers=headers["reader"]
    )
    assert then.json()["economics"]["p_return"] == 0.4
