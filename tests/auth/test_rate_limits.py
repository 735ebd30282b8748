"""Rate limits per key (SPEC §14): a token bucket per key and class of route; 429 with
Retry-After and RateLimit-* headers; other keys and other classes unaffected."""

from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import dependencies
from app.auth.ratelimit import Limit, RateLimiter
from tests.conftest import Clock, build_app

Headers = dict[str, dict[str, str]]


def test_a_bucket_refills_at_its_rate_and_never_above_its_burst() -> None:
    limiter = RateLimiter({"reads": Limit(per_second=2, burst=3)})
    taken = [limiter.take("k", "reads", 100.0) for _ in range(4)]
    assert [d.allowed for d in taken] == [True, True, True, False]
    assert (taken[2].remaining, taken[3].retry_after_seconds) == (0, 1)
    assert limiter.take("k", "reads", 100.5).allowed  # one token back after 0.5 s at 2/s
    assert not limiter.take("k", "reads", 100.5).allowed
    later = limiter.take("k", "reads", 1000.0)  # a long pause refills to the burst, not beyond
    assert (later.allowed, later.remaining) == (True, 2)
    assert limiter.take("other", "reads", 100.5).allowed  # another key has its own bucket


async def test_a_key_over_its_limit_gets_a_429_that_says_when_to_retry(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
    monkeypatch: object,
) -> None:
    app = build_app(
        engine,
        sessionmaker,
        clock,
        rate_limit_reads_per_second=0.5,
        rate_limit_reads_burst=2,
    )
    frozen = [500.0]
    monkeypatch.setattr(dependencies.time, "monotonic", lambda: frozen[0])  # type: ignore[attr-defined]
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        answers = [await client.get("/v1/stats", headers=headers["reader"]) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].headers["ratelimit-limit"] == "2"
        assert answers[0].headers["ratelimit-remaining"] == "1"
        refused = answers[2]
        assert refused.headers["retry-after"] == "2"  # one token at 0.5/s
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/problems/too-many-requests")
        # another key, and another class of route for the same key, are not held back
        assert (await client.get("/v1/stats", headers=headers["service"])).status_code == 200
        assert (await client.get("/v1/stats", headers=headers["admin"])).status_code == 200
        frozen[0] += 2.0
        assert (await client.get("/v1/stats", headers=headers["reader"])).status_code == 200


async def test_a_single_event_answer_carries_the_rate_limit_headers(
    engine: AsyncEngine,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
    monkeypatch: object,
) -> None:
    """POST /v1/events builds its own answer (app.ingest.endpoints): a new event's 201 and a
    repeat's 200 still say how many writes are left."""
    app = build_app(
        engine, committed, clock, rate_limit_writes_per_second=0.5, rate_limit_writes_burst=3
    )
    monkeypatch.setattr(dependencies.time, "monotonic", lambda: 500.0)  # type: ignore[attr-defined]
    event = {
        "id": "e1",
        "type": "order.placed",
        "occurred_at": "2026-11-20T10:00:00Z",
        "client_id": "acme",
        "data": {"order_id": "o1", "amount": "10.00"},
    }
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        answers = [
            await client.post("/v1/events", json=event, headers=headers["writer"]) for _ in range(2)
        ]
    assert [a.status_code for a in answers] == [201, 200]
    assert [a.headers["ratelimit-limit"] for a in answers] == ["3", "3"]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1"]
    assert answers[1].json()["duplicate"] is True
