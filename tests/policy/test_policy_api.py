"""GET/PUT /v1/policy over HTTP: who may read and change it, the version bump, and that a refused
policy names the field to fix and leaves the stored one untouched."""

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.policy.models import PolicyRow
from app.policy.schemas import DEFAULT_POLICY

Headers = dict[str, dict[str, str]]

# a valid policy that differs from the defaults in several places
STORED = {
    "currency": "USD",
    "lost_cycles": 5,
    "min_offer_days": 10,
    "extra_reason_codes": {"late_courier": "company"},
    "extra_human_factor_codes": ["late_courier"],
}


async def get_policy(api: AsyncClient, headers: Headers) -> dict[str, Any]:
    response = await api.get("/v1/policy", headers=headers["reader"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(PolicyRow.version).where(PolicyRow.id == 1)) or 0)


@pytest.fixture
async def stored(api: AsyncClient, headers: Headers) -> dict[str, Any]:
    """The policy in force before each refused change: version and body."""
    response = await api.put("/v1/policy", json=STORED, headers=headers["admin"])
    assert response.status_code == 200, response.text
    return await get_policy(api, headers)


@pytest.mark.parametrize("key", ["reader", "service", "admin"])
async def test_get_policy_needs_clients_read(api: AsyncClient, headers: Headers, key: str) -> None:
    response = await api.get("/v1/policy", headers=headers[key])
    assert response.status_code == 200, response.text
    assert response.json()["policy"] == DEFAULT_POLICY.model_dump(mode="json")


@pytest.mark.parametrize("key", ["writer", "campaigns"])
async def test_get_policy_without_clients_read_is_403(
    api: AsyncClient, headers: Headers, key: str
) -> None:
    response = await api.get("/v1/policy", headers=headers[key])
    assert response.status_code == 403
    assert response.json()["detail"] == "this key lacks the `clients:read` scope"


@pytest.mark.parametrize("key", ["reader", "writer", "service", "campaigns"])
async def test_put_policy_needs_admin(
    api: AsyncClient, headers: Headers, session: AsyncSession, key: str
) -> None:
    before = await stored_version(session)
    response = await api.put("/v1/policy", json={"lost_cycles": 4}, headers=headers[key])
    assert response.status_code == 403
    assert response.json()["detail"] == "this key lacks the `admin` scope"
    assert await stored_version(session) == before


async def test_put_bumps_the_version_and_schedules_a_reevaluation(
    api: AsyncClient, headers: Headers
) -> None:
    start = (await get_policy(api, headers))["version"]

    response = await api.put("/v1/policy", json={"lost_cycles": 5}, headers=headers["admin"])
    assert response.status_code == 200, response.text
    changed = response.json()
    expected = DEFAULT_POLICY.model_dump(mode="json") | {"lost_cycles": 5.0}
    assert changed == {"version": start + 1, "policy": expected, "reevaluation": "scheduled"}
    assert await get_policy(api, headers) == {"version": start + 1, "policy": expected}

    # a PUT replaces the whole policy: what it leaves out goes back to its default
    response = await api.put("/v1/policy", json={"currency": "USD"}, headers=headers["admin"])
    assert response.json()["version"] == start + 2
    current = await get_policy(api, headers)
    assert (current["version"], current["policy"]["currency"]) == (start + 2, "USD")
    assert current["policy"]["lost_cycles"] == DEFAULT_POLICY.lost_cycles

    progress = await api.get("/v1/policy/reevaluation", headers=headers["reader"])
    assert progress.json()["version"] == start + 2


def band(below: float | None, p: float) -> dict[str, Any]:
    return {"below_cycles": below, "p_return": p}


# (the body's fields, the field a 422 names); the later field of a pair is sent first, to show
# the order of the JSON does not matter
REFUSED = [
    ({"max_cycle_days": 20, "min_cycle_days": 30}, "max_cycle_days"),
    ({"lost_cycles": 1.5, "at_risk_cycles": 1.5}, "lost_cycles"),
    ({"recovered_at_risk_cycles": 2, "at_risk_cycles": 1.5}, "recovered_at_risk_cycles"),
    ({"offer_valid_days": 13, "min_offer_days": 14}, "offer_valid_days"),
    ({"p_return_bands": [band(2, 0.4), band(4, 0.2)]}, "p_return_bands"),
    ({"p_return_bands": [band(4, 0.2), band(2, 0.4), band(None, 0.05)]}, "p_return_bands"),
    ({"p_return_bands": []}, "p_return_bands"),
    ({"p_return_bands": [band(2, 1.5), band(None, 0.05)]}, "p_return_bands[0].p_return"),
    ({"tier_cutoffs": [0.95, 0.75]}, "tier_cutoffs"),
    ({"tier_cutoffs": [0.5, 1.5]}, "tier_cutoffs"),
    ({"extra_reason_codes": {"late delivery": "company"}}, "extra_reason_codes"),
    ({"extra_reason_codes": {"late_courier": "weather"}}, "extra_reason_codes.late_courier"),
    ({"extra_human_factor_codes": ["rude_driver"]}, "extra_human_factor_codes"),
    ({"tier_scope": "country"}, "tier_scope"),
    ({"volume_drop_ratio": 0}, "volume_drop_ratio"),
    ({"max_discount_pct": 101}, "max_discount_pct"),
    ({"lost_cycle": 4}, "lost_cycle"),
]


@pytest.mark.parametrize(
    ("fields", "named"), REFUSED, ids=[f"{named}-{i}" for i, (_, named) in enumerate(REFUSED)]
)
async def test_a_refused_policy_names_the_field_and_changes_nothing(
    api: AsyncClient,
    headers: Headers,
    session: AsyncSession,
    stored: dict[str, Any],
    fields: dict[str, Any],
    named: str,
) -> None:
    response = await api.put("/v1/policy", json=stored["policy"] | fields, headers=headers["admin"])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["field"] == named, problem
    assert named in problem["detail"]

    assert await get_policy(api, headers) == stored
    assert await stored_version(session) == stored["version"]


async def test_the_edges_of_the_cross_field_rules_are_accepted(
    api: AsyncClient, headers: Headers
) -> None:
    edges = {
        "min_cycle_days": 30,
        "max_cycle_days": 30,
        "at_risk_cycles": 2,
        "recovered_at_risk_cycles": 2,
        "lost_cycles": 2.5,
        "min_offer_days": 21,
        "offer_valid_days": 21,
        "tier_cutoffs": [0.5, 1.0],
        "tier_scope": "global",
        "p_return_bands": [band(3, 0.3), band(None, 0.1)],
    }
    response = await api.put("/v1/policy", json=edges, headers=headers["admin"])
    assert response.status_code == 200, response.text
    policy = (await get_policy(api, headers))["policy"]
    assert {name: policy[name] for name in edges} == edges


async def test_what_get_returns_can_be_put_back_and_a_stale_version_is_a_409(
    api: AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    read = (await api.get("/v1/policy", headers=headers["reader"])).json()
    read["policy"]["at_risk_cycles"] = 2
    first = await api.put("/v1/policy", json=read, headers=headers["admin"])
    assert first.status_code == 200, first.text
    assert (first.json()["version"], first.json()["policy"]["at_risk_cycles"]) == (1, 2)
    # the same body again carries version 0, but the policy is at 1 now: refused, not lost
    stale = await api.put("/v1/policy", json=read, headers=headers["admin"])
    assert stale.status_code == 409
    assert "version 1" in stale.json()["detail"]
    bad = await api.put(
        "/v1/policy",
        json={"version": 1, "policy": read["policy"] | {"lost_cycles": 1}},
        headers=headers["admin"],
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "policy.lost_cycles"


async def test_patch_changes_only_the_fields_given(
    api: AsyncClient, headers: dict[str, dict[str, str]]
) -> None:
    response = await api.patch(
        "/v1/policy", json={"at_risk_cycles": 2, "version": 0}, headers=headers["admin"]
    )
    assert response.status_code == 200, response.text
    policy = response.json()["policy"]
    assert (policy["at_risk_cycles"], policy["lost_cycles"], response.json()["version"]) == (
        2,
        3,
        1,
    )
    for body, field in (
        ({"lost_cycles": 1.5}, "lost_cycles"),  # must stay above at_risk_cycles (now 2)
        ({"at_risk_cyles": 2}, "at_risk_cyles"),
        ({"version": "one"}, "version"),
    ):
        refused = await api.patch("/v1/policy", json=body, headers=headers["admin"])
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field
    stale = await api.patch(
        "/v1/policy", json={"version": 0, "max_losses": 3}, headers=headers["admin"]
    )
    assert stale.status_code == 409
    assert (await api.patch("/v1/policy", json={}, headers=headers["reader"])).status_code == 403
