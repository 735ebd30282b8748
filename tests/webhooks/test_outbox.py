"""The outbox: an event row is written in the same transaction as the change that causes it (a
write, the sweeper, a policy re-evaluation, a tier refresh, an import, a campaign); a rolled-back
change leaves none and an uncommitted one is never sent; only subscribed types are recorded;
erasure and retention remove rows; payloads are what the OpenAPI document says."""

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.schemas import event_adapter
from app.ingest.service import ingest
from app.policy.service import load_snapshot
from app.webhooks.crypto import Unreadable, sealing_key, unseal
from app.webhooks.docs import EXAMPLES
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.webhooks.repository import lease
from app.worker import jobs
from tests.conftest import NOW, Clock
from tests.conftest import test_settings as settings_with
from tests.imports.helpers import run_import
from tests.webhooks.conftest import Headers, deliverer, order, post, register
from tests.webhooks.receiver import Receiver

Sessions = async_sessionmaker[AsyncSession]
ALL = ["client.status_changed", "client.tier_changed", "campaign.created"]


async def outbox(sessionmaker: Sessions) -> list[WebhookEvent]:
    async with sessionmaker() as session:
        statement = select(WebhookEvent).order_by(WebhookEvent.id)
        return list((await session.execute(statement)).scalars())


def payloads(rows: list[WebhookEvent]) -> list[dict]:
    """The stored bodies, each validated against the model the OpenAPI document shows."""
    found = []
    for row in rows:
        model, _ = EXAMPLES[row.type]
        model.model_validate_json(row.body)
        found.append(json.loads(row.body))
    return found


def moves(found: list[dict]) -> list[tuple[str, str, str | None, str | None]]:
    return [(p["type"], p["data"]["client_id"], p["data"]["from"], p["data"]["to"]) for p in found]


async def test_a_rolled_back_write_leaves_no_outbox_row_and_an_open_one_sends_nothing(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    envelope = event_adapter.validate_python(order("acme", 1, 3))
    async with committed() as session:
        transaction = await session.begin()
        snapshot = await load_snapshot(session)
        await ingest(session, [(0, envelope)], snapshot, NOW)
        inside = await session.scalar(select(func.count()).select_from(WebhookEvent))
        assert inside == 1  # written, in this transaction
        async with deliverer(committed, clock) as worker:
            done = await worker.drain()  # another connection: nothing committed to send
        assert (done.dispatched, done.started) == (0, 0)
        await transaction.rollback()
    assert await outbox(committed) == []
    async with deliverer(committed, clock) as worker:
        assert (await worker.drain()).started == 0
    assert receiver.requests == []

    await post(hooks_api, headers, order("acme", 1, 3))  # the same write, committed
    async with deliverer(committed, clock) as worker:
        assert (await worker.drain()).started == 1
    assert receiver.requests[0].json()["data"]["client_id"] == "acme"


async def test_only_types_some_endpoint_subscribes_to_are_recorded(
    hooks_api: AsyncClient, committed: Sessions, headers: Headers
) -> None:
    await post(hooks_api, headers, order("before", 1, 3))
    assert await outbox(committed) == []  # no endpoint: the write path records nothing

    endpoint_id, _ = await register(hooks_api, headers, "https://crm.example.com/hook", ALL[2:])
    await post(hooks_api, headers, order("acme", 1, 3))
    assert await outbox(committed) == []  # campaign.created only

    await hooks_api.patch(
        f"/v1/webhook-endpoints/{endpoint_id}",
        json={"event_types": ["client.status_changed"], "enabled": False},
        headers=headers["admin"],
    )
    await post(hooks_api, headers, order("bolt", 1, 3))
    # a disabled endpoint still has its events recorded: re-enabled, it can replay them
    assert [row.type for row in await outbox(committed)] == ["client.status_changed"]


async def test_every_cause_writes_its_event_in_its_own_transaction(
    hooks_api: AsyncClient, committed: Sessions, clock: Clock, headers: Headers
) -> None:
    await register(hooks_api, headers, "https://crm.example.com/hook", ALL)
    weekly = [order("weekly", n, days) for n, days in enumerate([28, 21, 14, 7, 1])]
    steady = [order("steady", n, days, "900.00") for n, days in enumerate([40, 10])]
    await post(hooks_api, headers, *weekly, *steady)
    written = payloads(await outbox(committed))
    assert sorted(moves(written)) == [
        ("client.status_changed", "steady", None, "active"),
        ("client.status_changed", "weekly", None, "active"),
    ]  # a write: new clients' first status (no tier before the first refresh)

    # the tier refresh: cut points computed, the clients they move swept (tier_changed)
    await jobs.refresh_population(committed, NOW)
    await jobs.sweep(committed, lambda: NOW)
    tiers = payloads((await outbox(committed))[2:])
    assert sorted(moves(tiers)) == [
        ("client.tier_changed", "steady", None, "A"),
        ("client.tier_changed", "weekly", None, "B"),
    ]

    # time passes: the sweeper moves weekly to at_risk
    later = NOW + timedelta(days=9, hours=13)
    await jobs.sweep(committed, lambda: later)
    [swept] = payloads((await outbox(committed))[4:])
    assert swept["type"] == "client.status_changed"
    assert swept["data"]["client_id"] == "weekly"
    assert (swept["data"]["from"], swept["data"]["to"], swept["data"]["signals"]) == (
        "active",
        "at_risk",
        ["lapsed"],
    )
    assert swept["timestamp"].startswith(later.date().isoformat())
    assert swept["data"]["tier"] == "B" and swept["data"]["value"] == "500.00"

    # a policy change: the worker re-evaluates everyone, weekly is no longer at risk
    clock.now = later
    changed = await hooks_api.patch(
        "/v1/policy", json={"at_risk_cycles": 2, "lost_cycles": 4}, headers=headers["admin"]
    )
    assert changed.status_code == 200, changed.text
    await jobs.reevaluate_policy(committed, lambda: later)
    [back] = payloads((await outbox(committed))[5:])
    assert (back["data"]["client_id"], back["data"]["from"], back["data"]["to"]) == (
        "weekly",
        "at_risk",
        "active",
    )

    # a campaign: its creation, as GET /v1/campaigns/{id} shows it
    created = await hooks_api.post(
        "/v1/campaigns",
        json={"id": "cmp_x", "name": "All active", "segment": {"status": ["active"]}},
        headers=headers["admin"],
    )
    assert created.status_code == 201, created.text
    [campaign] = payloads((await outbox(committed))[6:])
    shown = await hooks_api.get("/v1/campaigns/cmp_x", headers=headers["admin"])
    assert campaign["type"] == "campaign.created" and campaign["data"] == shown.json()


async def test_an_import_writes_the_events_of_the_clients_it_folds(
    hooks_api: AsyncClient, committed: Sessions, headers: Headers, tmp_path: Path
) -> None:
    await register(hooks_api, headers, "https://crm.example.com/hook")
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(order("imp", n, d)) + "\n" for n, d in [(1, 40), (2, 9)]))
    summary = await run_import(committed, history, finish=False)
    assert summary.accepted == 2
    [row] = await outbox(committed)
    assert row.client_id == "imp"
    assert (json.loads(row.body)["data"]["from"], json.loads(row.body)["data"]["to"]) == (
        None,
        "active",
    )


async def test_erasure_takes_the_clients_events_out_of_the_outbox(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, order("gone@example.com", 1, 3), order("stays", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
    erased = await hooks_api.delete("/v1/clients/gone@example.com", headers=headers["admin"])
    assert erased.status_code == 200
    rows = await outbox(committed)
    assert [row.client_id for row in rows] == ["stays"]
    assert all("gone@example.com" not in row.body for row in rows)
    async with committed() as session:
        deliveries = await session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert deliveries == 1


async def test_retention_forgets_old_finished_events_only(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
    clock.now = NOW + timedelta(minutes=1)
    await post(hooks_api, headers, order("bolt", 1, 3))
    async with committed() as session, session.begin():  # a worker takes bolt's, then dies
        leased = await lease(session, clock.now, clock.now + timedelta(seconds=60), 10)
    assert len(leased) == 1
    clock.now = NOW + timedelta(days=31)
    async with deliverer(committed, clock) as worker:
        assert await worker.purge() == 1  # acme's: delivered, older than 30 days
        assert await worker.purge() == 0  # at most once an hour
    # bolt's is older than 30 days too, but it still waits to be sent
    assert [json.loads(r.body)["data"]["client_id"] for r in await outbox(committed)] == ["bolt"]
    async with committed() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0


async def test_secrets_are_sealed_at_rest_and_never_logged(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint_id, secret = await register(hooks_api, headers, receiver.url)
    rotated = await hooks_api.post(
        f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", headers=headers["admin"]
    )
    new_secret = rotated.json()["secret"]
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
    receiver.requests[0].verify(new_secret)

    async with committed() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        raw = await session.scalar(
            text(
                "SELECT encode(secret_sealed, 'escape') || encode(previous_secret_sealed, "
                "'escape') FROM webhook_endpoint"
            )
        )
    for shown in (secret, new_secret):
        assert shown not in raw and shown.removeprefix("whsec_") not in raw
    key = sealing_key(settings_with())
    assert unseal(key, row.secret_sealed, endpoint_id) == new_secret
    assert row.previous_secret_sealed is not None
    assert unseal(key, row.previous_secret_sealed, endpoint_id) == secret
    with pytest.raises(Unreadable):  # bound to its row
        unseal(key, row.secret_sealed, "we_another")
    other_key = sealing_key(settings_with(secret_key="another-key-" + "k" * 32))
    with pytest.raises(Unreadable):  # and to the server's key
        unseal(other_key, row.secret_sealed, endpoint_id)

    for path in (f"/v1/webhook-endpoints/{endpoint_id}", "/v1/webhook-endpoints"):
        answer = await hooks_api.get(path, headers=headers["admin"])
        assert secret not in answer.text and new_secret not in answer.text
        assert "secret" not in json.dumps(answer.json()).replace("secret_rotated_at", "").replace(
            "previous_secret_expires_at", ""
        )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the flow did log
    for shown in (secret, new_secret):
        assert shown.removeprefix("whsec_") not in logged


async def test_a_secret_sealed_with_another_key_is_an_attempt_error_not_a_crash(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock, secret_key="a-lost-and-replaced-key-" + "z" * 32) as w:
        await w.drain()
    assert receiver.requests == []
    async with committed() as session:
        [attempt] = (await session.execute(select(WebhookAttempt))).scalars().all()
    assert attempt.outcome == "error"
    assert "cannot be decrypted" in (attempt.error or "") and "rotate" in (attempt.error or "")


async def test_an_outbox_row_written_without_a_queue_row_is_queued_and_sent(
    hooks_api: AsyncClient, committed: Sessions, headers: Headers, receiver: Receiver, clock: Clock
) -> None:
    """During a rolling deploy an API process of the previous release writes outbox rows the
    way it knew (no queue row): the database queues them, and the worker sends them."""
    await register(hooks_api, headers, receiver.url, ["client.status_changed"])
    body = json.dumps({"type": "client.status_changed", "timestamp": NOW.isoformat(), "data": {}})
    async with committed() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO webhook_event (type, client_id, created_at, body) "
                "VALUES ('client.status_changed', 'acme', :at, :body)"
            ),
            {"at": NOW, "body": body},
        )
    async with committed() as session:
        queued = await session.scalar(text("SELECT count(*) FROM webhook_queue"))
    assert queued == 1
    async with deliverer(committed, clock) as worker:
        assert (await worker.drain()).started == 1
    assert [request.json()["type"] for request in receiver.requests] == ["client.status_changed"]
