"""The data the page tests look at: the campaign tests' small population (known statuses, tiers,
managers) posted through the API, and a campaign over its lost clients."""

from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.campaigns.builders import load, population

Headers = dict[str, dict[str, str]]


async def load_population(api: AsyncClient, headers: Headers, session: AsyncSession) -> None:
    await load(api, headers, session, population())


async def create_campaign(api: AsyncClient, headers: Headers) -> dict[str, Any]:
    body = {
        "id": "cmp_ui_lost",
        "name": "Lost tier A, autumn",
        "segment": {"status": ["lost"]},
        "holdout_pct": 30,
    }
    response = await api.post("/v1/campaigns", json=body, headers=headers["campaigns"])
    assert response.status_code == 201, response.text
    return dict(response.json())
