"""The webhook endpoints API: admin only, validation naming the field, the secret shown once,
paging, changes, deletion, rotation, tests, the delivery log and replay's rules."""

from datetime import timedelta

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import NOW, Clock, build_app
from tests.webhooks.conftest import Headers

BASE = "/v1/webhook-endpoints"
URL = "https://crm.example.com/hooks/winback"


async def create(api: AsyncClient, headers: Headers, **body: object) -> dict:
    response = await api.post(
        BASE,
        json={"url": URL, "event_types": ["client.status_changed"], **body},
        headers=headers["admin"],
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_register_then_read_without_the_secret(api: AsyncClient, headers: Headers) -> None:
    created = await create(
        api,
        headers,
        event_types=["client.status_changed", "campaign.created"],
        description="CRM: at-risk alerts",
    )
    assert created["id"].startswith("we_") and created["secret"].startswith("whsec_")
    assert created["enabled"] is True and created["disabled_reason"] is None
    assert created["event_types"] == ["client.status_changed", "campaign.created"]
    assert created["created_at"] == NOW.isoformat().replace("+00:00", "Z")
    read = await api.get(f"{BASE}/{created['id']}", headers=headers["admin"])
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert read.json() == {k: v for k, v in created.items() if k != "secret"}


async def test_the_list_pages_oldest_first(api: AsyncClient, headers: Headers) -> None:
    ids = [(await create(api, headers))["id"] for _ in range(3)]
    first = await api.get(BASE, params={"limit": 2}, headers=headers["admin"])
    assert [e["id"] for e in first.json()["items"]] == sorted(ids)[:2]
    assert all("secret" not in e for e in first.json()["items"])
    rest = await api.get(
        BASE, params={"cursor": first.json()["next_cursor"]}, headers=headers["admin"]
    )
    assert [e["id"] for e in rest.json()["items"]] == sorted(ids)[2:]
    assert rest.json()["next_cursor"] is None
    bad = await api.get(BASE, params={"cursor": "nope"}, headers=headers["admin"])
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"url": "http://crm.example.com/x"}, "url", "must use https"),
        ({"url": "https://192.168.0.10/x"}, "url", "private"),
        ({"url": "https://[::1]/x"}, "url", "loopback"),
        ({"url": "not a url"}, "url", "https"),
        ({"url": ""}, "url", "at least 1"),
        ({"url": "https://x.example/" + "a" * 2000}, "url", "at most 2000"),
        ({"event_types": []}, "event_types", "at least 1"),
        ({"event_types": ["client.deleted"]}, "event_types[0]", "client.status_changed"),
        ({"event_types": ["webhook.test"]}, "event_types[0]", "client.status_changed"),
        (
            {"event_types": ["campaign.created", "campaign.created"]},
            "event_types",
            "twice",
        ),
        ({"description": "d" * 501}, "description", "at most 500"),
        ({"description": "a\x00b"}, "description", "NUL"),
        ({"secret": "whsec_mine"}, "secret", "Extra inputs"),
    ],
)
async def test_refused_registrations_name_the_field(
    api: AsyncClient, headers: Headers, body: dict, field: str, says: str
) -> None:
    full = {"url": URL, "event_types": ["client.status_changed"], **body}
    response = await api.post(BASE, json=full, headers=headers["admin"])
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and says in e["message"] for e in errors), errors


@pytest.mark.parametrize("key", ["writer", "reader", "campaigns", "service"])
async def test_only_admin_keys_manage_endpoints(
    api: AsyncClient, headers: Headers, key: str
) -> None:
    endpoint = await create(api, headers)
    path = f"{BASE}/{endpoint['id']}"
    calls = [
        ("POST", BASE, {"url": URL, "event_types": ["client.status_changed"]}),
        ("GET", BASE, None),
        ("GET", path, None),
        ("PATCH", path, {"enabled": False}),
        ("DELETE", path, None),
        ("POST", f"{path}/rotate-secret", None),
        ("POST", f"{path}/test", None),
        ("GET", f"{path}/deliveries", None),
        ("POST", f"{path}/replay", {"since": NOW.isoformat()}),
    ]
    for method, url, body in calls:
        response = await api.request(method, url, json=body, headers=headers[key])
        assert response.status_code == 403, (method, url, response.text)
        anonymous = await api.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)


async def test_patch_changes_what_is_given(api: AsyncClient, headers: Headers) -> None:
    endpoint = await create(api, headers, description="old")
    path = f"{BASE}/{endpoint['id']}"
    changed = await api.patch(
        path,
        json={"url": "https://crm2.example.com/in", "event_types": ["client.tier_changed"]},
        headers=headers["admin"],
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == "https://crm2.example.com/in"
    assert changed.json()["event_types"] == ["client.tier_changed"]
    assert changed.json()["description"] == "old"
    cleared = await api.patch(path, json={"description": None}, headers=headers["admin"])
    assert cleared.json()["description"] is None
    for body, field in (
        ({"url": None}, "url"),
        ({"enabled": None}, "enabled"),
        ({"event_types": None}, "event_types"),
        ({"url": "https://10.0.0.1/in"}, "url"),
        ({"enabled": "yes"}, "enabled"),
        ({"id": "we_x"}, "id"),
    ):
        refused = await api.patch(path, json=body, headers=headers["admin"])
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["errors"][0]["field"] == field, refused.json()


async def test_delete_then_nothing_is_there(api: AsyncClient, headers: Headers) -> None:
    endpoint = await create(api, headers)
    path = f"{BASE}/{endpoint['id']}"
    deleted = await api.delete(path, headers=headers["admin"])
    assert deleted.status_code == 204 and deleted.content == b""
    for method, url in (
        ("GET", path),
        ("PATCH", path),
        ("DELETE", path),
        ("POST", f"{path}/rotate-secret"),
        ("POST", f"{path}/test"),
        ("GET", f"{path}/deliveries"),
        ("POST", f"{path}/replay"),
    ):
        body = {"since": NOW.isoformat()} if url.endswith("replay") else {}
        response = await api.request(method, url, json=body, headers=headers["admin"])
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["type"].endswith("/not-found")


async def test_rotation_returns_a_new_secret_once(api: AsyncClient, headers: Headers) -> None:
    endpoint = await create(api, headers)
    path = f"{BASE}/{endpoint['id']}/rotate-secret"
    rotated = await api.post(path, json={"overlap_seconds": 3600}, headers=headers["admin"])
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] not in (endpoint["secret"], None)
    assert rotated.json()["previous_secret_expires_at"] == (
        (NOW + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    )
    read = await api.get(f"{BASE}/{endpoint['id']}", headers=headers["admin"])
    assert read.json()["secret_rotated_at"] == NOW.isoformat().replace("+00:00", "Z")
    for overlap in (-1, 7 * 86400 + 1, True, "1h", float("nan")):
        refused = await api.post(
            path,
            content=f'{{"overlap_seconds": {str(overlap).lower()}}}'
            if not isinstance(overlap, str)
            else f'{{"overlap_seconds": "{overlap}"}}',
            headers={**headers["admin"], "content-type": "application/json"},
        )
        assert refused.status_code in (400, 422), (overlap, refused.text)


async def test_the_deployment_sets_the_default_overlap(
    engine: AsyncEngine,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
) -> None:
    app = build_app(engine, committed, clock, webhook_secret_overlap_seconds=600)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        endpoint = await create(client, headers)
        rotated = await client.post(
            f"{BASE}/{endpoint['id']}/rotate-secret", headers=headers["admin"]
        )
    assert rotated.json()["previous_secret_expires_at"] == (
        (NOW + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    )


async def test_a_test_message_is_queued_and_logged(api: AsyncClient, headers: Headers) -> None:
    endpoint = await create(api, headers)
    sent = await api.post(f"{BASE}/{endpoint['id']}/test", headers=headers["admin"])
    assert sent.status_code == 202, sent.text
    delivery = sent.json()["delivery"]
    assert delivery["webhook_id"].startswith("msg_") and delivery["attempts"] == []
    log = await api.get(f"{BASE}/{endpoint['id']}/deliveries", headers=headers["admin"])
    assert log.json()["items"] == [delivery]
    pending = await api.get(
        f"{BASE}/{endpoint['id']}/deliveries",
        params={"status": "pending"},
        headers=headers["admin"],
    )
    assert pending.json()["items"] == [delivery]
    delivered = await api.get(
        f"{BASE}/{endpoint['id']}/deliveries",
        params={"status": "delivered"},
        headers=headers["admin"],
    )
    assert delivered.json()["items"] == []


async def test_the_delivery_log_pages_newest_first(api: AsyncClient, headers: Headers) -> None:
    endpoint = await create(api, headers)
    path = f"{BASE}/{endpoint['id']}"
    ids = [
        (await api.post(f"{path}/test", headers=headers["admin"])).json()["delivery"]["id"]
        for _ in range(3)
    ]
    first = await api.get(f"{path}/deliveries", params={"limit": 2}, headers=headers["admin"])
    assert [d["id"] for d in first.json()["items"]] == ids[::-1][:2]
    rest = await api.get(
        f"{path}/deliveries",
        params={"cursor": first.json()["next_cursor"]},
        headers=headers["admin"],
    )
    assert [d["id"] for d in rest.json()["items"]] == ids[:1]
    for params in ({"status": "sent"}, {"cursor": "eyJ4Ijp0cnVlfQ"}, {"limit": 0}, {"x": 1}):
        refused = await api.get(f"{path}/deliveries", params=params, headers=headers["admin"])
        assert refused.status_code == 422, (params, refused.text)


async def test_replay_takes_a_past_moment(api: AsyncClient, headers: Headers) -> None:
    endpoint = await create(api, headers)
    path = f"{BASE}/{endpoint['id']}/replay"
    started = await api.post(path, json={"since": "2026-11-01T00:00:00Z"}, headers=headers["admin"])
    assert started.status_code == 202, started.text
    assert started.json() == {
        "endpoint_id": endpoint["id"],
        "since": "2026-11-01T00:00:00Z",
        "deliveries": 0,
    }
    for body, field in (
        ({"since": (NOW + timedelta(hours=1)).isoformat()}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-01T00:00:00"}, "since"),  # no zone
        ({}, "since"),
        ({"since": "2026-11-01T00:00:00Z", "until": "x"}, "until"),
    ):
        refused = await api.post(path, json=body, headers=headers["admin"])
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["errors"][0]["field"] == field, refused.json()


async def test_http_is_accepted_when_the_deployment_allows_it(
    hooks_api: AsyncClient, headers: Headers
) -> None:
    """WINBACK_WEBHOOK_ALLOW_HTTP and the allow-list open the development URLs, and only them."""
    for url, status in (
        ("http://127.0.0.1:9000/hook", 201),
        ("http://localhost:9000/hook", 201),
        ("http://127.0.0.2:9000/hook", 422),
        ("http://10.0.0.5/hook", 422),
    ):
        response = await hooks_api.post(
            BASE,
            json={"url": url, "event_types": ["client.status_changed"]},
            headers=headers["admin"],
        )
        assert response.status_code == status, (url, response.text)
