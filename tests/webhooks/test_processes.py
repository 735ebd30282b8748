"""With real processes: a change committed just before the server is killed is still sent, by a
worker started afterwards; a worker killed while it sends leaves the message to the next worker,
which sends it with the same webhook-id."""

import asyncio
import signal
import threading

import httpx
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookQueue
from tests.ops.test_reliability import AUTH, Server, running
from tests.ops.test_reliability import order as live_order
from tests.webhooks.conftest import TEST_SECRET_KEY, Headers, order, post, register
from tests.webhooks.receiver import Receiver, Reply

# what a development machine sets to receive webhooks locally, and the key the API sealed with
ENV = {
    "WINBACK_SECRET_KEY": TEST_SECRET_KEY,
    "WINBACK_WEBHOOK_ALLOW_HTTP": "true",
    "WINBACK_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
}


async def test_a_change_committed_just_before_the_server_dies_is_still_sent(
    database_url: str,
    committed: async_sessionmaker[AsyncSession],
    receiver: Receiver,
) -> None:
    with running(Server(database_url, **ENV)) as server:
        async with httpx.AsyncClient(base_url=server.base, headers=AUTH, timeout=30) as client:
            created = await client.post(
                "/v1/webhook-endpoints",
                json={"url": receiver.url, "event_types": ["client.status_changed"]},
            )
            assert created.status_code == 201, created.text
            secret = created.json()["secret"]
            answer = await client.post("/v1/events", json=live_order("e1", "acme", 3))
            assert answer.status_code == 201  # committed
        server.signal(signal.SIGKILL)  # right after the commit, nothing else done
        server.wait()
    assert receiver.requests == []
    once = Server(database_url, "--once", **ENV)
    with running(once, "worker"):
        assert once.wait(timeout=120) == 0, once.output()
    [message] = receiver.requests
    payload = message.verify(secret)
    assert (payload["data"]["client_id"], payload["data"]["to"]) == ("acme", "active")


async def test_a_worker_killed_while_sending_leaves_the_message_to_the_next_one(
    database_url: str,
    committed: async_sessionmaker[AsyncSession],
    hooks_api: AsyncClient,
    headers: Headers,
    receiver: Receiver,
) -> None:
    _, secret = await register(hooks_api, headers, receiver.url)
    held = threading.Event()
    receiver.answer(Reply(hold=held))  # the first worker's request hangs, then it is killed
    await post(hooks_api, headers, order("acme", 1, 3))
    quick = {  # a short lease, so the test need not wait a minute for it to run out
        **ENV,
        "WINBACK_WEBHOOK_TIMEOUT_SECONDS": "2",
        "WINBACK_WEBHOOK_LEASE_SECONDS": "3",
    }
    worker = Server(database_url, **quick)
    try:
        with running(worker, "worker"):
            await asyncio.to_thread(receiver.wait_for, 1, 60)  # claimed and sending
            worker.signal(signal.SIGKILL)
            worker.wait()
        async with committed() as session:
            assert (await session.execute(select(WebhookDelivery))).scalars().all() == []
            [queued] = (await session.execute(select(WebhookQueue))).scalars().all()
        assert queued.lease_until is not None  # taken, nothing recorded
        await asyncio.sleep(3.5)  # the lease runs out
        once = Server(database_url, "--once", **quick)
        with running(once, "worker"):
            assert once.wait(timeout=120) == 0, once.output()
    finally:
        held.set()
    first, second = receiver.requests
    assert second.webhook_id == first.webhook_id
    assert second.verify(secret) == first.json()
    async with committed() as session:
        [delivery] = (await session.execute(select(WebhookDelivery))).scalars().all()
        attempts = (await session.execute(select(WebhookAttempt))).scalars().all()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert [(a.number, a.outcome) for a in attempts] == [(1, "delivered")]
