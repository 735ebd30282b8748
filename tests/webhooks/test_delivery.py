"""Delivery to a real local receiver, verified with the reference `standardwebhooks` library:
signatures, the retry schedule on a controllable clock, Retry-After, 410, failing for days,
rotation, replay, several workers, a lost lease, redirects."""

import asyncio
import itertools
import json
import threading
from datetime import timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.webhooks import schedule
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookQueue
from app.webhooks.repository import claim, lease
from tests.conftest import NOW, Clock
from tests.webhooks.conftest import Headers, deliverer, order, post, register
from tests.webhooks.receiver import Receiver, Reply

Sessions = async_sessionmaker[AsyncSession]


async def endpoint_row(sessionmaker: Sessions, endpoint_id: str) -> WebhookEndpoint:
    async with sessionmaker() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        return row


async def deliveries(sessionmaker: Sessions) -> list[WebhookDelivery]:
    async with sessionmaker() as session:
        statement = select(WebhookDelivery).order_by(WebhookDelivery.id)
        return list((await session.execute(statement)).scalars())


async def test_a_status_change_reaches_the_receiver_signed_per_standard_webhooks(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, secret = await register(hooks_api, headers, receiver.url)
    assert secret.startswith("whsec_")
    await post(hooks_api, headers, order("acme", 1, 3))

    async with deliverer(committed, clock) as worker:
        done = await worker.drain()
    assert (done.dispatched, done.started, done.recorded) == (1, 1, 1)

    [message] = receiver.requests
    payload = message.verify(secret)  # the reference library: headers, timestamp, signature
    assert payload["type"] == "client.status_changed"
    assert payload["timestamp"].startswith("2026-11-23T12:00:00")
    assert payload["data"] == {
        "client_id": "acme",
        "from": None,
        "to": "active",
        "at": payload["data"]["at"],
        "signals": [],
        "tier": None,
        "value": "100.00",
        "market": "b2b",
        "manager_id": None,
        "decision": "no_action",
    }
    assert message.headers["content-type"] == "application/json"
    assert message.webhook_id.startswith("msg_")
    assert message.path == "/hooks/winback"

    log = await hooks_api.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=headers["admin"]
    )
    [item] = log.json()["items"]
    assert (item["status"], item["webhook_id"], item["event_type"]) == (
        "delivered",
        message.webhook_id,
        "client.status_changed",
    )
    [attempt] = item["attempts"]
    assert (attempt["number"], attempt["outcome"], attempt["status_code"]) == (1, "delivered", 200)
    assert attempt["response"] == "ok" and attempt["duration_ms"] >= 0


async def test_failures_then_success_follow_the_schedule_with_the_same_webhook_id(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, secret = await register(hooks_api, headers, receiver.url)
    receiver.answer(Reply(500), Reply(502, body="bad gateway"), Reply(504))
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()  # attempt 1, at once: 500
        [pending] = await deliveries(committed)
        assert pending.status == "pending" and pending.attempts == 1
        wait = (pending.next_attempt_at - clock.now).total_seconds()
        assert 5 * 0.9 <= wait <= 5 * 1.1  # the schedule's second slot, with jitter
        assert (await endpoint_row(committed, endpoint_id)).failing_since == NOW

        clock.now = NOW + timedelta(seconds=4)  # not due yet: nothing is sent
        assert (await worker.drain()).started == 0
        for slot, expected in ((2, 5 * 60), (3, 30 * 60)):
            clock.now = pending.next_attempt_at
            await worker.drain()  # attempt `slot` fails
            [pending] = await deliveries(committed)
            assert pending.attempts == slot
            wait = (pending.next_attempt_at - clock.now).total_seconds()
            assert expected * 0.9 <= wait <= expected * 1.1
        clock.now = pending.next_attempt_at
        await worker.drain()  # attempt 4: the default answer, 200
    [done] = await deliveries(committed)
    assert (done.status, done.attempts, done.next_attempt_at) == ("delivered", 4, None)
    assert len(receiver.requests) == 4
    assert len({message.webhook_id for message in receiver.requests}) == 1
    for message in receiver.requests:
        message.verify(secret)
    assert (await endpoint_row(committed, endpoint_id)).failing_since is None  # healthy again
    log = await hooks_api.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=headers["admin"]
    )
    attempts = log.json()["items"][0]["attempts"]
    assert [(a["number"], a["outcome"], a["status_code"]) for a in attempts] == [
        (1, "http_error", 500),
        (2, "http_error", 502),
        (3, "http_error", 504),
        (4, "delivered", 200),
    ]
    assert attempts[1]["error"] == "HTTP 502" and attempts[1]["response"] == "bad gateway"


async def test_after_eight_failed_attempts_the_delivery_has_failed(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    receiver.default = Reply(500)
    await post(hooks_api, headers, order("acme", 1, 3))
    moments = []
    async with deliverer(committed, clock) as worker:
        for _ in range(schedule.MAX_ATTEMPTS):
            await worker.drain()
            moments.append(clock.now)
            [delivery] = await deliveries(committed)
            if delivery.next_attempt_at is not None:
                clock.now = delivery.next_attempt_at
    assert (delivery.status, delivery.attempts) == ("failed", 8)
    assert delivery.failure == "gave up after 8 attempts"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(moments)]
    for gap, planned in zip(gaps, schedule.DELAYS[1:], strict=True):
        assert planned * 0.9 <= gap <= planned * 1.1
    assert sum(schedule.DELAYS) / 3600 == pytest.approx(27.6, abs=0.1)
    assert len(receiver.requests) == 8


async def test_retry_after_is_honoured_on_429_and_503(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    receiver.answer(Reply(503, {"Retry-After": "120"}), Reply(429, {"Retry-After": "1"}))
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
        [delivery] = await deliveries(committed)
        assert delivery.next_attempt_at == NOW + timedelta(seconds=120)  # not the schedule's 5 s
        clock.now = delivery.next_attempt_at
        await worker.drain()
        [delivery] = await deliveries(committed)
        # asked for 1 s, but never sooner than the schedule's slot (5 min)
        wait = (delivery.next_attempt_at - clock.now).total_seconds()
        assert 300 * 0.9 <= wait <= 300 * 1.1


async def test_410_gone_disables_the_endpoint(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, _ = await register(hooks_api, headers, receiver.url)
    receiver.answer(Reply(410, body="gone"))
    await post(hooks_api, headers, order("acme", 1, 3))
    for _ in range(2):  # two deliveries waiting to be sent
        ping = await hooks_api.post(
            f"/v1/webhook-endpoints/{endpoint_id}/test", headers=headers["admin"]
        )
        assert ping.status_code == 202
    async with deliverer(committed, clock, webhook_concurrency=1) as worker:
        await worker.drain()
        assert len(receiver.requests) == 1  # the others were not sent
        endpoint = await endpoint_row(committed, endpoint_id)
        assert (endpoint.enabled, endpoint.disabled_reason) == (False, "410 Gone")
        assert endpoint.disabled_at == NOW
        assert sorted((d.status, d.failure) for d in await deliveries(committed)) == [
            ("failed", "410 Gone: the endpoint was disabled"),
            ("failed", "endpoint disabled: 410 Gone"),
        ]  # acme's event, taken after the 410, is sent to no one

        await post(hooks_api, headers, order("cara", 1, 3))
        done = await worker.drain()  # recorded in the outbox, sent to no one
        assert (done.dispatched, done.started) == (1, 0)
        assert len(await deliveries(committed)) == 2
    read = await hooks_api.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=headers["admin"])
    assert read.json()["enabled"] is False and read.json()["disabled_reason"] == "410 Gone"


async def test_messages_waiting_in_a_worker_for_an_endpoint_it_disables_are_not_sent(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    """A worker takes several events at once; after a 410 the ones it has not sent yet to that
    endpoint fail (the endpoint is disabled) instead of being sent."""
    endpoint_id, _ = await register(hooks_api, headers, receiver.url)
    receiver.answer(Reply(410, body="gone"))
    await post(hooks_api, headers, *(order(f"c{n}", 1, 3) for n in range(4)))
    async with deliverer(committed, clock, webhook_concurrency=4, webhook_per_endpoint=1) as w:
        await w.drain()
    assert len(receiver.requests) == 1
    found = await deliveries(committed)
    assert sorted((d.status, d.failure) for d in found) == [
        ("failed", "410 Gone: the endpoint was disabled"),
        *[("failed", "endpoint disabled: 410 Gone")] * 3,
    ]
    assert not (await endpoint_row(committed, endpoint_id)).enabled


async def test_an_endpoint_failing_for_five_days_is_disabled(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, _ = await register(hooks_api, headers, receiver.url)
    receiver.default = Reply(500)
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
        assert (await endpoint_row(committed, endpoint_id)).failing_since == NOW
        clock.now = NOW + timedelta(days=4, hours=23)
        await post(hooks_api, headers, order("bolt", 1, 3))
        await worker.drain()
        assert (await endpoint_row(committed, endpoint_id)).enabled  # not five days yet
        clock.now = NOW + timedelta(days=5, seconds=1)
        await post(hooks_api, headers, order("cara", 1, 3))
        await worker.drain()
    endpoint = await endpoint_row(committed, endpoint_id)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failing for 5 days")
    assert all(d.status == "failed" for d in await deliveries(committed))


async def test_a_delivered_message_resets_the_failing_clock(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, _ = await register(hooks_api, headers, receiver.url)
    receiver.answer(Reply(500))
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
        clock.now = NOW + timedelta(days=4)
        await post(hooks_api, headers, order("bolt", 1, 3))
        await worker.drain()  # delivered (and acme's retry too)
        assert (await endpoint_row(committed, endpoint_id)).failing_since is None
        receiver.default = Reply(500)
        clock.now = NOW + timedelta(days=6)
        await post(hooks_api, headers, order("cara", 1, 3))
        await worker.drain()
    endpoint = await endpoint_row(committed, endpoint_id)
    assert endpoint.enabled and endpoint.failing_since == NOW + timedelta(days=6)


async def test_rotation_sends_two_signatures_until_the_overlap_ends(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, old = await register(hooks_api, headers, receiver.url)
    rotated = await hooks_api.post(
        f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", headers=headers["admin"]
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    expires = NOW + timedelta(hours=24)  # the policy's default overlap
    assert rotated.json()["previous_secret_expires_at"] == expires.isoformat().replace(
        "+00:00", "Z"
    )
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
        [message] = receiver.requests
        assert len(message.signatures) == 2 and all(s.startswith("v1,") for s in message.signatures)
        assert message.verify(new) == message.verify(old)  # a receiver with either secret verifies

        clock.now = expires + timedelta(seconds=1)
        await post(hooks_api, headers, order("bolt", 1, 3))
        await worker.drain()
    later = receiver.requests[1]
    assert len(later.signatures) == 1
    later.verify(new)
    with pytest.raises(Exception, match="No matching signature"):
        later.verify(old)


async def test_rotation_with_no_overlap_retires_the_old_secret_at_once(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, old = await register(hooks_api, headers, receiver.url)
    rotated = await hooks_api.post(
        f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        json={"overlap_seconds": 0},
        headers=headers["admin"],
    )
    assert rotated.json()["previous_secret_expires_at"] is None
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
    [message] = receiver.requests
    assert len(message.signatures) == 1
    message.verify(rotated.json()["secret"])
    with pytest.raises(Exception, match="No matching signature"):
        message.verify(old)


async def test_replay_sends_again_with_the_same_webhook_id(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, secret = await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
        clock.now = NOW + timedelta(hours=2)
        await post(hooks_api, headers, order("bolt", 1, 3))
        await worker.drain()
        _, second = receiver.requests
        replayed = await hooks_api.post(
            f"/v1/webhook-endpoints/{endpoint_id}/replay",
            json={"since": (NOW + timedelta(hours=1)).isoformat()},
            headers=headers["admin"],
        )
        assert replayed.status_code == 202, replayed.text
        assert replayed.json()["deliveries"] == 1  # bolt's only: acme's came before `since`
        await worker.drain()
    again = receiver.requests[2]
    assert again.webhook_id == second.webhook_id and again.body == second.body
    again.verify(secret)
    assert len(receiver.requests) == 3
    log = await hooks_api.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=headers["admin"]
    )
    assert [(i["origin"], i["status"]) for i in log.json()["items"]] == [
        ("replay", "delivered"),
        ("event", "delivered"),
        ("event", "delivered"),
    ]


async def test_a_test_message_is_signed_and_logged(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, secret = await register(hooks_api, headers, receiver.url, ["campaign.created"])
    sent = await hooks_api.post(
        f"/v1/webhook-endpoints/{endpoint_id}/test", headers=headers["admin"]
    )
    assert sent.status_code == 202, sent.text
    queued = sent.json()["delivery"]
    assert (queued["status"], queued["origin"], queued["event_type"]) == (
        "pending",
        "test",
        "webhook.test",
    )
    async with deliverer(committed, clock) as worker:
        await worker.drain()
    [message] = receiver.requests
    assert message.webhook_id == queued["webhook_id"]
    assert message.verify(secret) == {
        "type": "webhook.test",
        "timestamp": "2026-11-23T12:00:00Z",
        "data": {"endpoint_id": endpoint_id, "message": "a test message from winback"},
    }


async def test_several_workers_never_send_the_same_attempt_twice(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, *(order(f"c{n:02d}", 1, 3) for n in range(60)))
    workers = [deliverer(committed, clock, webhook_concurrency=4) for _ in range(3)]
    try:
        rounds = await asyncio.gather(*(worker.drain() for worker in workers))
    finally:
        for worker in workers:
            await worker.__aexit__(None, None, None)
    assert sum(r.started for r in rounds) == 60
    assert sum(1 for r in rounds if r.started) >= 2  # the work was shared
    ids = [message.webhook_id for message in receiver.requests]
    assert len(ids) == 60 and len(set(ids)) == 60
    assert {d.attempts for d in await deliveries(committed)} == {1}


async def test_a_worker_lost_after_leasing_leaves_the_message_to_another_with_its_id(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    _, secret = await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, order("acme", 1, 3))
    async with committed() as session, session.begin():  # a worker takes the event, then dies
        [[claimed]] = (await lease(session, NOW, NOW + timedelta(seconds=60), 10)).values()
    async with deliverer(committed, clock) as other:
        assert (await other.drain()).started == 0  # leased: nobody else sends it
        assert await deliveries(committed) == []  # nothing recorded
        clock.now = NOW + timedelta(seconds=61)  # the lease ran out
        assert (await other.drain()).started == 1
    [message] = receiver.requests
    assert message.webhook_id == claimed.webhook_id
    message.verify(secret)
    [delivery] = await deliveries(committed)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    async with committed() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookQueue)) == 0


async def test_a_late_worker_records_nothing_twice(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    """A worker whose lease ran out while it sent: another took the event over and recorded it;
    the first one's result is then not recorded (one delivery, one attempt)."""
    await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, order("acme", 1, 3))
    slow = deliverer(committed, clock)
    async with slow:
        await slow.step()  # leased, sending
        await asyncio.gather(*slow.in_flight.values())
        clock.now = NOW + timedelta(seconds=61)
        async with deliverer(committed, clock) as other:
            assert (await other.drain()).started == 1  # the lease ran out: sent again
        assert (await slow.step()).recorded == 0
    assert len(receiver.requests) == 2
    assert receiver.requests[0].webhook_id == receiver.requests[1].webhook_id
    [delivery] = await deliveries(committed)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    async with committed() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookAttempt)) == 1


async def test_a_worker_lost_after_claiming_leaves_the_delivery_to_another_with_its_id(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, secret = await register(hooks_api, headers, receiver.url)
    ping = await hooks_api.post(
        f"/v1/webhook-endpoints/{endpoint_id}/test", headers=headers["admin"]
    )
    assert ping.status_code == 202
    async with committed() as session, session.begin():  # a worker claims, then dies
        [claimed] = await claim(session, NOW, NOW + timedelta(seconds=60), 10, 8)
    async with deliverer(committed, clock) as other:
        assert (await other.drain()).started == 0  # leased: nobody else sends it
        clock.now = NOW + timedelta(seconds=61)  # the lease ran out
        assert (await other.drain()).started == 1
    [message] = receiver.requests
    assert message.webhook_id == claimed.webhook_id
    message.verify(secret)
    [delivery] = await deliveries(committed)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


async def test_redirects_are_never_followed(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    metadata = "http://169.254.169.254/latest/meta-data/"
    receiver.answer(
        Reply(302, {"Location": metadata}),
        Reply(307, {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}),
    )
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
        [delivery] = await deliveries(committed)
        clock.now = delivery.next_attempt_at
        await worker.drain()
    assert [m.path for m in receiver.requests] == ["/hooks/winback", "/hooks/winback"]
    async with committed() as session:
        attempts = (await session.execute(select(WebhookAttempt))).scalars().all()
    errors = sorted(a.error or "" for a in attempts)
    assert errors == [
        f"HTTP 302: redirect to {metadata} not followed",
        f"HTTP 307: redirect to http://127.0.0.1:{receiver.port}/elsewhere not followed",
    ]


async def test_disabling_by_hand_fails_what_waits_and_enabling_starts_clean(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    endpoint_id, _ = await register(hooks_api, headers, receiver.url)
    receiver.default = Reply(500)
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
    path = f"/v1/webhook-endpoints/{endpoint_id}"
    off = await hooks_api.patch(path, json={"enabled": False}, headers=headers["admin"])
    assert (off.json()["enabled"], off.json()["disabled_reason"]) == (False, "disabled by an admin")
    [delivery] = await deliveries(committed)
    assert (delivery.status, delivery.failure) == ("failed", "endpoint disabled")
    refused = await hooks_api.post(
        f"{path}/replay", json={"since": NOW.isoformat()}, headers=headers["admin"]
    )
    assert refused.status_code == 409
    on = await hooks_api.patch(path, json={"enabled": True}, headers=headers["admin"])
    assert on.json()["enabled"] is True
    assert on.json()["disabled_reason"] is None and on.json()["failing_since"] is None
    replay = await hooks_api.post(
        f"{path}/replay", json={"since": NOW.isoformat()}, headers=headers["admin"]
    )
    assert replay.json()["deliveries"] == 1


async def test_answers_are_read_only_so_far(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    """A receiver answering megabytes costs winback a few kilobytes and the log 200 characters."""
    await register(hooks_api, headers, receiver.url)
    receiver.answer(Reply(200, body="x" * 5_000_000))
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock) as worker:
        await worker.drain()
    async with committed() as session:
        [attempt] = (await session.execute(select(WebhookAttempt))).scalars().all()
        stored = await session.scalar(text("SELECT body FROM webhook_event"))
    assert attempt.outcome == "delivered" and attempt.response == "x" * 200
    assert json.loads(stored)["type"] == "client.status_changed"


async def test_a_slow_endpoint_never_holds_every_sending_slot(
    hooks_api: AsyncClient,
    committed: Sessions,
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    """4 slots, at most 2 to one endpoint: while the slow one holds its 2, the other gets the
    rest, and each of its messages is delivered."""
    with Receiver() as fast:
        await register(hooks_api, headers, receiver.url)
        await register(hooks_api, headers, fast.url)
        held = threading.Event()
        receiver.default = Reply(hold=held)
        await post(hooks_api, headers, *(order(f"c{n}", 1, 3) for n in range(6)))
        worker = deliverer(committed, clock, webhook_concurrency=4, webhook_per_endpoint=2)
        async with worker:
            draining = asyncio.create_task(worker.drain())
            try:
                await asyncio.to_thread(fast.wait_for, 6)
                assert len(receiver.requests) == 2  # the slow one: its cap, no more
            finally:
                held.set()
            await draining
        assert len(fast.requests) == 6
    async with committed() as session:
        attempts = (await session.execute(select(WebhookAttempt))).scalars().all()
    assert {d.status for d in await deliveries(committed)} == {"delivered"}, [
        (a.delivery_id, a.number, a.outcome, a.error) for a in attempts
    ]
