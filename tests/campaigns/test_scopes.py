"""Who may do what: campaign writes need `campaigns:write`; campaign reads and reports need
`clients:read` (members are client data); `admin` may do everything."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

Headers = dict[str, dict[str, str]]

OPERATIONS = {
    ("POST", "/v1/campaigns"): "campaigns:write",
    ("GET", "/v1/campaigns"): "clients:read",
    ("GET", "/v1/campaigns/{campaign_id}"): "clients:read",
    ("GET", "/v1/campaigns/{campaign_id}/members"): "clients:read",
    ("GET", "/v1/campaigns/{campaign_id}/results"): "clients:read",
    ("POST", "/v1/campaigns/{campaign_id}/close"): "campaigns:write",
    ("GET", "/v1/reports/churn"): "clients:read",
    ("GET", "/v1/reports/reasons"): "clients:read",
}


async def test_the_openapi_document_names_each_operations_scope(api: AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    declared = {
        (method.upper(), path): operation["security"]
        for path, operations in document["paths"].items()
        if path.startswith(("/v1/campaigns", "/v1/reports"))
        for method, operation in operations.items()
    }
    assert declared == {operation: [{"bearer": [scope]}] for operation, scope in OPERATIONS.items()}


@pytest.mark.parametrize("key_name", ["reader", "campaigns", "writer", "admin"])
async def test_each_key_reaches_exactly_its_operations(
    api: AsyncClient, headers: Headers, key_name: str
) -> None:
    scopes = {"reader": "clients:read", "campaigns": "campaigns:write", "writer": "events:write"}
    for (method, template), scope in OPERATIONS.items():
        response = await api.request(
            method, template.format(campaign_id="nope"), headers=headers[key_name]
        )
        allowed = key_name == "admin" or scopes[key_name] == scope
        assert (response.status_code != 403) == allowed, (method, template, response.text)
        if not allowed:
            assert response.json()["detail"] == f"this key lacks the `{scope}` scope"
        assert response.status_code != 401
