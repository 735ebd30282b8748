"""/healthz, /readyz and /metrics."""

from httpx import AsyncClient


async def test_healthz(api: AsyncClient) -> None:
    response = await api.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_checks_the_database_and_migrations(api: AsyncClient) -> None:
    body = (await api.get("/readyz")).json()
    assert body["status"] == "ok"
    assert body["revision"] == body["head"]


async def test_metrics_count_events(api: AsyncClient, headers: dict) -> None:
    event = {
        "id": "m1",
        "type": "client.updated",
        "occurred_at": "2026-11-01T00:00:00Z",
        "client_id": "acme",
        "client": {"name": "Acme"},
    }
    await api.post("/v1/events", json=event, headers=headers["writer"])
    text = (await api.get("/metrics")).text
    assert 'winback_events_total{outcome="accepted",type="client.updated"}' in text
    assert "winback_http_request_seconds_bucket" in text
    # the write path's status changes are counted too (a new client starts as a prospect)
    assert 'winback_status_changes_total{to="prospect"}' in text


async def test_unknown_route_is_a_problem(api: AsyncClient) -> None:
    response = await api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/problems/not-found")
    assert "/v1/nothing-here" in problem["detail"]


async def test_wrong_method_is_a_problem_naming_the_allowed_ones(api: AsyncClient) -> None:
    response = await api.delete("/v1/events")
    assert response.status_code == 405
    problem = response.json()
    assert problem["type"].endswith("/problems/method-not-allowed")
    assert "POST" in problem["detail"]
    assert response.headers["allow"] == "POST"
