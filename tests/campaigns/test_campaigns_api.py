"""Campaigns over HTTP: segment filters, exclusions, preview, create, list, members, close."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.holdout import in_holdout
from tests.campaigns.builders import Headers, load, population
from tests.conftest import NOW


@pytest.fixture
async def loaded(api: AsyncClient, headers: Headers, session: AsyncSession) -> AsyncClient:
    await load(api, headers, session, population())
    return api


async def preview(api: AsyncClient, headers: Headers, segment: dict[str, Any], **body: Any) -> Any:
    response = await api.post(
        "/v1/campaigns",
        params={"preview": "true"},
        json={"name": "preview", "segment": segment, "holdout_pct": 0, **body},
        headers=headers["campaigns"],
    )
    assert response.status_code == 200, response.text
    return response.json()


async def create(api: AsyncClient, headers: Headers, **body: Any) -> Any:
    response = await api.post(
        "/v1/campaigns", json={"name": "test", **body}, headers=headers["campaigns"]
    )
    assert response.status_code == 201, response.text
    return response.json()


async def member_ids(
    api: AsyncClient, headers: Headers, campaign_id: str, group: str = "treatment"
) -> list[str]:
    response = await api.get(
        f"/v1/campaigns/{campaign_id}/members",
        params={"group": group, "limit": 1000},
        headers=headers["reader"],
    )
    assert response.status_code == 200, response.text
    return [item["client_id"] for item in response.json()["items"]]


async def matching(api: AsyncClient, headers: Headers, segment: dict[str, Any]) -> list[str]:
    """The members a campaign with this segment (no holdout) takes, by id."""
    campaign = await create(api, headers, segment=segment, holdout_pct=0)
    ids = await member_ids(api, headers, campaign["id"])
    close = await api.post(f"/v1/campaigns/{campaign['id']}/close", headers=headers["campaigns"])
    assert close.status_code == 200
    return ids


LOST_A = ["lost-a1", "lost-a2", "lost-touched", "lost-unresp"]


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ({"status": ["at_risk"]}, ["risk-a"]),
        ({"status": ["at_risk", "active"]}, ["active-a", "risk-a"]),
        ({"status": ["lost"], "tier": ["B", "C"]}, ["lost-b", "lost-c"]),
        ({"market": "b2c"}, ["lost-b2c"]),
        ({"signals": ["unresponsive"]}, ["lost-unresp"]),
        ({"signals": ["unresponsive", "lapsed"], "status": ["at_risk"]}, ["risk-a"]),
        ({"decision": ["should_return"]}, ["lost-b"]),
        ({"decision": ["retain"]}, ["risk-a"]),
        ({"min_value": "12000", "status": ["lost"]}, LOST_A),
        ({"min_value": "2000", "status": ["lost"], "tier": ["B"]}, ["lost-b"]),
        ({"lapsed_days_min": 150, "lapsed_days_max": 160}, ["lost-b", "lost-b2c", "lost-c"]),
        ({"lapsed_days_max": 60}, ["active-a", "risk-a"]),
        ({"lapsed_days_min": 199}, ["lost-a1"]),
        ({"manager_id": "m-2"}, ["lost-a2"]),
        (
            {"not_contacted_days": 30, "tier": ["A"], "status": ["lost"]},
            ["lost-a1", "lost-a2", "lost-b2c", "lost-unresp"],
        ),
        (
            {"not_contacted_days": 80, "tier": ["A"], "status": ["lost"]},
            ["lost-a1", "lost-a2", "lost-b2c"],
        ),
        (
            {"status": ["lost"], "tier": ["A"], "market": "b2b", "manager_id": "m-1"},
            ["lost-a1", "lost-touched", "lost-unresp"],
        ),
        (
            {
                "status": ["lost"],
                "tier": ["A"],
                "decision": ["return_first"],
                "lapsed_days_max": 135,
                "not_contacted_days": 30,
            },
            ["lost-a2", "lost-unresp"],
        ),
    ],
)
async def test_each_segment_filter_and_combinations(
    loaded: AsyncClient, headers: Headers, segment: dict[str, Any], expected: list[str]
) -> None:
    assert await matching(loaded, headers, segment) == sorted(expected)


async def test_do_not_contact_is_never_taken_and_the_preview_says_so(
    loaded: AsyncClient, headers: Headers
) -> None:
    body = await preview(loaded, headers, {"status": ["lost"], "tier": ["A"], "market": "b2b"})
    snapshot = body["snapshot"]
    assert snapshot["matched"] == 5
    assert snapshot["excluded"] == {
        "do_not_contact": 1,
        "in_other_campaigns": 0,
        "no_longer_matching": 0,
    }
    assert snapshot["members"] == snapshot["treatment"] == 4
    assert snapshot["holdout"] == 0
    assert snapshot["value_at_stake"] == {
        "total": "48000.00",
        "treatment": "48000.00",
        "holdout": "0.00",
    }
    assert snapshot["by_decision"] == {"return_first": 4}
    assert body["id"].startswith("cmp_")


async def test_clients_in_another_running_campaign_are_excluded_unless_asked(
    loaded: AsyncClient, headers: Headers
) -> None:
    first = await create(loaded, headers, segment={"manager_id": "m-2"}, holdout_pct=0)
    assert first["members"]["total"] == 1
    segment = {"status": ["lost"], "tier": ["A"]}
    body = await preview(loaded, headers, segment)
    assert body["snapshot"]["excluded"]["in_other_campaigns"] == 1
    assert body["snapshot"]["members"] == 4  # lost-a2 is in the first campaign
    both = await preview(loaded, headers, segment, include_in_other_campaigns=True)
    assert both["snapshot"]["members"] == 5
    # once the first campaign is closed, its members are free again
    await loaded.post(f"/v1/campaigns/{first['id']}/close", headers=headers["campaigns"])
    assert (await preview(loaded, headers, segment))["snapshot"]["members"] == 5


async def test_the_snapshot_keeps_each_members_plan(loaded: AsyncClient, headers: Headers) -> None:
    campaign = await create(loaded, headers, id="q4-lost-a", segment={"tier": ["A"]}, holdout_pct=0)
    assert campaign["id"] == "q4-lost-a"
    assert campaign["status"] == "running"
    response = await loaded.get(
        "/v1/campaigns/q4-lost-a/members", params={"limit": 1000}, headers=headers["reader"]
    )
    items = {item["client_id"]: item for item in response.json()["items"]}
    plan = (await loaded.get("/v1/clients/lost-a1/recovery-plan", headers=headers["reader"])).json()
    member = items["lost-a1"]
    assert member["decision"] == plan["decision"] == "return_first"
    assert member["owner_role"] == plan["owner"]["role"] == "leadership"
    step = plan["steps"][0]
    assert member["first_step"] == {
        "day": step["day"],
        "channel": step["channel"],
        "action": step["action"],
    }
    assert member["urgency"] == plan["urgency"]
    assert member["p_return"] == plan["economics"]["p_return"]
    assert member["expected_value"] == plan["economics"]["expected_value"]
    assert member["offer"].endswith("(valid 30 days)")
    assert member["name"] == "Client lost-a1" and member["manager_id"] == "m-1"
    assert member["tier"] == "A" and member["status"] == "lost"
    assert member["value"] == "12000.00" and member["group"] == "treatment"
    assert campaign["members"]["total"] == len(items) == 7  # lost-dnc left out


async def test_the_holdout_is_the_hash_split_and_a_preview_with_the_id_matches(
    loaded: AsyncClient, headers: Headers
) -> None:
    body = {"segment": {}, "holdout_pct": 50, "id": "split-1"}
    shown = await preview(loaded, headers, **body)
    campaign = await create(loaded, headers, **body)
    treatment = await member_ids(loaded, headers, "split-1")
    holdout = await member_ids(loaded, headers, "split-1", "holdout")
    everyone = sorted(treatment + holdout)
    assert holdout == sorted(c for c in everyone if in_holdout("split-1", c, 50))
    assert campaign["snapshot"]["holdout"] == shown["snapshot"]["holdout"] == len(holdout)
    assert campaign["members"] == {
        "total": len(everyone),
        "treatment": len(treatment),
        "holdout": len(holdout),
    }


async def test_an_id_in_use_is_a_conflict(loaded: AsyncClient, headers: Headers) -> None:
    await create(loaded, headers, id="dup", segment={"tier": ["B"]})
    again = await loaded.post(
        "/v1/campaigns", json={"name": "again", "id": "dup"}, headers=headers["campaigns"]
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_scopes_list_get_and_close(loaded: AsyncClient, headers: Headers, clock: Any) -> None:
    forbidden = await loaded.post("/v1/campaigns", json={"name": "x"}, headers=headers["reader"])
    assert forbidden.status_code == 403
    first = await create(loaded, headers, id="c1", segment={"tier": ["B"]})
    clock.now = NOW + timedelta(hours=1)
    await create(loaded, headers, id="c2", segment={"tier": ["C"]})
    page = (
        await loaded.get("/v1/campaigns", params={"limit": 1}, headers=headers["reader"])
    ).json()
    assert [c["id"] for c in page["items"]] == ["c2"]
    rest = (
        await loaded.get(
            "/v1/campaigns", params={"cursor": page["next_cursor"]}, headers=headers["reader"]
        )
    ).json()
    assert [c["id"] for c in rest["items"]] == ["c1"] and rest["next_cursor"] is None
    got = (await loaded.get("/v1/campaigns/c1", headers=headers["reader"])).json()
    assert got == {**{k: v for k, v in first.items() if k != "snapshot"}}
    assert got["attribution_ends_at"].startswith((NOW + timedelta(days=60)).date().isoformat())
    closed = await loaded.post("/v1/campaigns/c1/close", headers=headers["campaigns"])
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed" and closed.json()["outcomes_recorded"] is False
    again = await loaded.post("/v1/campaigns/c1/close", headers=headers["campaigns"])
    assert again.json() == closed.json()
    running = await loaded.get(
        "/v1/campaigns", params={"status": "running"}, headers=headers["reader"]
    )
    assert [c["id"] for c in running.json()["items"]] == ["c2"]
    missing = await loaded.get("/v1/campaigns/nope", headers=headers["reader"])
    assert missing.status_code == 404


async def test_bad_segments_are_refused_naming_the_field(
    loaded: AsyncClient, headers: Headers
) -> None:
    for body, field in [
        ({"name": "x", "holdout_pct": 60}, "holdout_pct"),
        ({"name": "x", "segment": {"status": ["gone"]}}, "segment.status[0]"),
        ({"name": "x", "segment": {"lapsed_days_min": 10, "lapsed_days_max": 5}}, "segment"),
        ({"name": "x", "segment": {"min_risk": 0.5}}, "segment.min_risk"),
        ({"name": "x", "id": "has space"}, "id"),
    ]:
        response = await loaded.post("/v1/campaigns", json=body, headers=headers["campaigns"])
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field, response.json()


async def test_an_erased_client_leaves_every_campaign(
    loaded: AsyncClient, headers: Headers
) -> None:
    await create(loaded, headers, id="gdpr", segment={"tier": ["B"]}, holdout_pct=0)
    assert await member_ids(loaded, headers, "gdpr") == ["lost-b"]
    erased = await loaded.delete("/v1/clients/lost-b", headers=headers["admin"])
    assert erased.status_code == 200, erased.text
    assert await member_ids(loaded, headers, "gdpr") == []
    results = (await loaded.get("/v1/campaigns/gdpr/results", headers=headers["reader"])).json()
    assert results["treatment"]["members"] == 0


async def test_the_snapshot_evaluates_each_client_now(
    loaded: AsyncClient, headers: Headers, clock: Any
) -> None:
    """The stored state lags (no sweep ran): risk-a is stored at risk, but 40 days later it is
    lost. A segment of at-risk clients finds it by its stored state and leaves it out."""
    clock.now = NOW + timedelta(days=40)
    body = await preview(loaded, headers, {"status": ["at_risk"]})
    assert body["snapshot"]["matched"] == 1
    assert body["snapshot"]["excluded"]["no_longer_matching"] == 1
    assert body["snapshot"]["members"] == 0
    # a preview stores nothing
    listed = await loaded.get("/v1/campaigns", headers=headers["reader"])
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_a_campaign_id_the_database_cannot_store_is_refused_naming_it(
    loaded: AsyncClient, headers: Headers
) -> None:
    for method, path in [
        ("GET", "/v1/campaigns/c%00"),
        ("GET", "/v1/campaigns/c%00/members"),
        ("GET", "/v1/campaigns/c%00/results"),
        ("POST", "/v1/campaigns/c%00/close"),
    ]:
        response = await loaded.request(method, path, headers=headers["admin"])
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["field"] == "campaign_id", response.json()
