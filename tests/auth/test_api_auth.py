"""Keys over HTTP: 401 for a missing, malformed, unknown or revoked key (after the per-process
cache lets go of it), 403 naming the missing scope, WINBACK_ADMIN_KEY, and no key in the logs."""

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import dependencies
from app.auth.dependencies import KEY_CACHE_SECONDS
from app.auth.models import ApiKey
from app.auth.service import create_key, revoke
from tests.conftest import NOW, Clock, build_app, share_session

Headers = dict[str, dict[str, str]]
MakeApi = Callable[..., Awaitable[AsyncClient]]

# docs/api.md and docs/decisions.md promise this to whoever revokes a leaked key
DOCUMENTED_REVOCATION_SECONDS = 30.0

# Every /v1 operation and the scope it needs (docs/api.md has the same table for users).
OPERATIONS = {
    ("GET", "/v1/clients"): "clients:read",
    ("GET", "/v1/clients/{client_id}"): "clients:read",
    ("PATCH", "/v1/clients/{client_id}"): "events:write",
    ("DELETE", "/v1/clients/{client_id}"): "admin",
    ("GET", "/v1/clients/{client_id}/timeline"): "clients:read",
    ("GET", "/v1/clients/{client_id}/recovery-plan"): "clients:read",
    ("POST", "/v1/events"): "events:write",
    ("POST", "/v1/events/batch"): "events:write",
    ("GET", "/v1/policy"): "clients:read",
    ("PUT", "/v1/policy"): "admin",
    ("PATCH", "/v1/policy"): "admin",
    ("GET", "/v1/policy/reevaluation"): "clients:read",
    ("GET", "/v1/stats"): "clients:read",
    ("POST", "/v1/backtests"): "admin",
    ("POST", "/v1/policy/tune"): "admin",
    ("GET", "/v1/models/current"): "clients:read",
    ("POST", "/v1/models/refit"): "admin",
    ("POST", "/v1/campaigns"): "campaigns:write",
    ("POST", "/v1/campaigns/{campaign_id}/close"): "campaigns:write",
    ("GET", "/v1/campaigns"): "clients:read",
    ("GET", "/v1/campaigns/{campaign_id}"): "clients:read",
    ("GET", "/v1/campaigns/{campaign_id}/members"): "clients:read",
    ("GET", "/v1/campaigns/{campaign_id}/results"): "clients:read",
    ("GET", "/v1/reports/churn"): "clients:read",
    ("GET", "/v1/reports/reasons"): "clients:read",
    ("POST", "/v1/webhook-endpoints"): "admin",
    ("GET", "/v1/webhook-endpoints"): "admin",
    ("GET", "/v1/webhook-endpoints/{endpoint_id}"): "admin",
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): "admin",
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): "admin",
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): "admin",
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/test"): "admin",
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): "admin",
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/replay"): "admin",
}
SIGNED_PATHS = ("/v1/integrations/shopify/webhooks", "/v1/integrations/woocommerce/webhooks")
# the conftest's keys and their scopes
KEY_SCOPES = {
    "admin": {"admin"},
    "writer": {"events:write"},
    "reader": {"clients:read"},
    "campaigns": {"campaigns:write"},
    "service": {"events:write", "clients:read"},
}


def secret_of(key: str) -> str:
    """What must never leak: the part after `wbk_<key id>_`, or all of a key of another shape."""
    return key.split("_", 2)[2] if key.startswith("wbk_") else key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_unauthorized(response: Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    problem = response.json()
    assert problem["type"] == "https://winback.dev/problems/unauthorized"
    assert problem["status"] == 401 and problem["detail"]


class MonotonicClock:
    """Stands in for the `time` module in app.auth.dependencies: only the key cache sees it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def key_clock(monkeypatch: pytest.MonkeyPatch) -> MonotonicClock:
    clock = MonotonicClock()
    monkeypatch.setattr(dependencies, "time", clock)
    return clock


@pytest.fixture
async def make_api(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    clock: Clock,
) -> AsyncIterator[MakeApi]:
    """Like the `api` fixture, for an app with its own settings (and its own key cache)."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**settings: Any) -> AsyncClient:
            app = share_session(build_app(engine, sessionmaker, clock, **settings), session)
            transport = ASGITransport(app=app)
            client = AsyncClient(transport=transport, base_url="http://test")
            return await stack.enter_async_context(client)

        yield make


# --- revocation and the key cache ---


async def test_a_revoked_key_works_only_until_its_cache_entry_expires(
    api: AsyncClient, session: AsyncSession, key_clock: MonotonicClock
) -> None:
    key_id, key = await create_key(session, "leaked", ["clients:read"], NOW)
    verified_at = key_clock.now
    assert (await api.get("/v1/stats", headers=bearer(key))).status_code == 200
    assert await revoke(session, key_id, NOW)

    # this process verified it a moment ago, so it still passes while the entry lives ...
    for elapsed in (1.0, KEY_CACHE_SECONDS - 0.001):
        key_clock.now = verified_at + elapsed
        assert (await api.get("/v1/stats", headers=bearer(key))).status_code == 200
    # ... (using it does not extend the entry) and is refused once it expires
    key_clock.now = verified_at + KEY_CACHE_SECONDS
    assert_unauthorized(await api.get("/v1/stats", headers=bearer(key)))
    key_clock.now += 3600  # and stays refused: a refusal is not cached as a pass
    assert_unauthorized(await api.get("/v1/stats", headers=bearer(key)))


async def test_a_revoked_key_is_refused_within_the_documented_time(
    api: AsyncClient, session: AsyncSession, key_clock: MonotonicClock
) -> None:
    key_id, key = await create_key(session, "leaked", ["admin"], NOW)
    assert (await api.get("/v1/policy", headers=bearer(key))).status_code == 200
    revoked_at = key_clock.now
    assert await revoke(session, key_id, NOW)
    key_clock.now = revoked_at + DOCUMENTED_REVOCATION_SECONDS
    assert_unauthorized(await api.get("/v1/policy", headers=bearer(key)))


async def test_a_revoked_key_not_seen_before_is_refused_at_once(
    api: AsyncClient, session: AsyncSession, key_clock: MonotonicClock
) -> None:
    key_id, key = await create_key(session, "leaked", ["clients:read"], NOW)
    assert await revoke(session, key_id, NOW)
    assert_unauthorized(await api.get("/v1/stats", headers=bearer(key)))


async def test_the_cache_does_not_cross_processes(
    make_api: MakeApi, session: AsyncSession, key_clock: MonotonicClock
) -> None:
    """Another process (another app) that never verified the key refuses it at once."""
    key_id, key = await create_key(session, "leaked", ["clients:read"], NOW)
    first, second = await make_api(), await make_api()
    assert (await first.get("/v1/stats", headers=bearer(key))).status_code == 200
    assert await revoke(session, key_id, NOW)
    assert (await first.get("/v1/stats", headers=bearer(key))).status_code == 200
    assert_unauthorized(await second.get("/v1/stats", headers=bearer(key)))


# --- scopes ---


async def test_every_v1_operation_needs_the_scope_listed_here(api: AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    declared = {
        (method.upper(), path): operation.get("security")
        for path, operations in document["paths"].items()
        if path.startswith("/v1")
        for method, operation in operations.items()
    }
    assert declared == {
        **{operation: [{"bearer": [scope]}] for operation, scope in OPERATIONS.items()},
        # platform webhooks: the platform's signature over the body, no key (tests/integrations)
        **{("POST", path): [] for path in SIGNED_PATHS},
    }


@pytest.mark.parametrize("key_name", sorted(KEY_SCOPES))
async def test_each_scope_admits_exactly_its_operations(
    api: AsyncClient, headers: Headers, key_name: str
) -> None:
    scopes = KEY_SCOPES[key_name]
    admitted, refused = [], []
    for (method, template), scope in OPERATIONS.items():
        path = template.format(client_id="nobody", campaign_id="nobody", endpoint_id="nobody")
        response = await api.request(method, path, headers=headers[key_name])
        assert response.status_code != 401, (method, path, response.text)
        if response.status_code == 403:
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["type"] == "https://winback.dev/problems/forbidden"
            assert problem["detail"] == f"this key lacks the `{scope}` scope", problem
            refused.append((method, template))
        else:
            admitted.append((method, template))
    expected = [op for op, scope in OPERATIONS.items() if "admin" in scopes or scope in scopes]
    assert admitted == expected
    assert len(admitted) + len(refused) == len(OPERATIONS)


async def test_no_key_is_401_before_any_scope_check(api: AsyncClient) -> None:
    assert_unauthorized(await api.put("/v1/policy", json={}))


# --- malformed Authorization headers ---


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNzd29yZA==",
        "Bearer",
        "Bearer ",
        "Bearer      ",
        "Bearer wbk_0123456789ab_not a key",
        "Bearer {key} {key}",
        "Token {key}",
        "{key}",
        "Bearer wbk_unknown_key",
    ],
)
async def test_a_malformed_or_unknown_authorization_is_a_401_problem(
    api: AsyncClient, keys: dict[str, str], authorization: str | None
) -> None:
    request_headers = {}
    if authorization is not None:
        request_headers["Authorization"] = authorization.format(key=keys["admin"])
    assert_unauthorized(await api.get("/v1/stats", headers=request_headers))


async def test_the_scheme_is_case_insensitive_and_extra_spaces_are_tolerated(
    api: AsyncClient, keys: dict[str, str]
) -> None:
    for authorization in (f"bearer {keys['reader']}", f"Bearer   {keys['reader']}  "):
        response = await api.get("/v1/stats", headers={"Authorization": authorization})
        assert response.status_code == 200, (authorization, response.text)


# --- WINBACK_ADMIN_KEY ---


async def test_the_environment_admin_key_works_without_being_stored(
    make_api: MakeApi, session: AsyncSession
) -> None:
    admin_key = secrets.token_urlsafe(32)
    api = await make_api(admin_key=admin_key)

    response = await api.put("/v1/policy", json={"lost_cycles": 4}, headers=bearer(admin_key))
    assert response.status_code == 200, response.text
    who = await session.scalar(text("SELECT updated_by FROM policy WHERE id = 1"))
    assert who == "env-admin"  # the change is attributed, without a key row behind it
    assert (await api.get("/v1/stats", headers=bearer(admin_key))).status_code == 200

    stored = select(func.count()).where(
        ApiKey.key_sha256 == hashlib.sha256(admin_key.encode()).hexdigest()
    )
    assert await session.scalar(stored) == 0
    rows = (await session.execute(text("SELECT row_to_json(k)::text FROM api_key AS k"))).scalars()
    assert not any(admin_key in row for row in rows)


async def test_the_environment_admin_key_is_not_accepted_by_another_app(
    make_api: MakeApi,
) -> None:
    admin_key = secrets.token_urlsafe(32)
    with_it, without_it = await make_api(admin_key=admin_key), await make_api()
    assert (await with_it.get("/v1/stats", headers=bearer(admin_key))).status_code == 200
    assert_unauthorized(await without_it.get("/v1/stats", headers=bearer(admin_key)))


@pytest.mark.parametrize(
    "near_miss",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # same length, last character off
        lambda k: ("A" if k[0] != "A" else "B") + k[1:],  # same length, first character off
        lambda k: k[:-1],
        lambda k: k + "x",
        lambda k: k.upper(),
    ],
)
async def test_a_near_miss_of_the_environment_admin_key_is_refused(
    make_api: MakeApi, near_miss: Callable[[str], str]
) -> None:
    admin_key = "env" + secrets.token_hex(24)
    api = await make_api(admin_key=admin_key)
    wrong = near_miss(admin_key)
    assert wrong != admin_key
    assert_unauthorized(await api.get("/v1/stats", headers=bearer(wrong)))


@contextlib.contextmanager
def compare_digest_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, Any]]]:
    """Record calls of hmac.compare_digest (secrets.compare_digest is the same function)."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    with monkeypatch.context() as patch:
        patch.setattr(hmac, "compare_digest", spy)
        patch.setattr(secrets, "compare_digest", spy)
        yield calls


async def test_the_environment_admin_key_is_compared_in_constant_time(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_key = "env" + secrets.token_hex(24)
    wrong = admin_key[:-1] + ("0" if admin_key[-1] != "0" else "1")
    api = await make_api(admin_key=admin_key)
    with compare_digest_calls(monkeypatch) as calls:
        assert_unauthorized(await api.get("/v1/stats", headers=bearer(wrong)))
        assert (await api.get("/v1/stats", headers=bearer(admin_key))).status_code == 200
    compared = [frozenset(call) for call in calls]
    assert frozenset({wrong.encode(), admin_key.encode()}) in compared
    assert frozenset({admin_key.encode()}) in compared


# --- logs ---


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG, SQLAlchemy's too (it sets its own to WARNING), before the test's
    database connection opens, so each statement is logged with its parameters."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    return caplog


def logged(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    return "\n".join(parts)


async def test_keys_never_appear_in_the_logs(
    all_logs: pytest.LogCaptureFixture, make_api: MakeApi, session: AsyncSession
) -> None:
    admin_key = secrets.token_urlsafe(32)
    api = await make_api(admin_key=admin_key)
    key_id, key = await create_key(session, "logged?", ["clients:read"], NOW)
    revoked_id, revoked_key = await create_key(session, "revoked", ["clients:read"], NOW)
    await revoke(session, revoked_id, NOW)
    unknown = f"wbk_{key_id}_{secrets.token_urlsafe(32)}"
    all_logs.clear()

    assert (await api.get("/v1/stats", headers=bearer(key))).status_code == 200
    assert (await api.get("/v1/stats", headers=bearer(admin_key))).status_code == 200
    assert (await api.put("/v1/policy", json={}, headers=bearer(key))).status_code == 403
    for refused in (unknown, revoked_key, admin_key + "x", "Bearer " + key):
        assert_unauthorized(await api.get("/v1/stats", headers=bearer(refused)))

    text_logged = logged(all_logs)
    assert "api_key" in text_logged  # the key lookups were logged, with their parameters ...
    for secret in map(secret_of, (key, revoked_key, unknown, admin_key)):
        # ... but no key, nor any 8 characters in a row of its secret (random: 48 bits)
        leaks = {secret[i : i + 8] for i in range(len(secret) - 7)} & set(
            re.findall(r"(?=([A-Za-z0-9_-]{8}))", text_logged)
        )
        assert not leaks, leaks
