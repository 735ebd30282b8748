"""POST /v1/integrations/woocommerce/webhooks as WooCommerce sends it, against real PostgreSQL."""

from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import Event
from tests.integrations.payloads import WOO_SECRET, dump, signature, woo_order

URL = "/v1/integrations/woocommerce/webhooks"
CLIENT = "woo:14"


async def deliver(
    client: AsyncClient,
    topic: str,
    payload: Any,
    *,
    secret: str = WOO_SECRET,
    body: bytes | None = None,
    signed: bytes | None = None,
    delivery: str = "4c1f0e2a9b",
) -> Response:
    raw = dump(payload) if body is None else body
    resource, event = topic.split(".", 1)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7)",
        "X-WC-Webhook-Source": "https://tea.example/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": signature(secret, raw if signed is None else signed),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery,
    }
    return await client.post(URL, content=raw, headers=headers)


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def client_state(api: AsyncClient, headers: dict, client_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/clients/{client_id}", headers=headers["reader"])
    assert response.status_code == 200, response.text
    state = response.json()
    return {key: state[key] for key in ("orders_count", "lifetime_revenue", "name")}


async def test_the_activation_ping_is_200_and_stores_nothing(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    response = await hooks.post(
        URL,
        content=b"webhook_id=12",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["topic"] == "ping"
    assert await count(session) == 0


async def test_a_processing_order_with_a_zone_less_date(
    hooks: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    response = await deliver(hooks, "order.created", woo_order())
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert await client_state(hooks, headers, CLIENT) == {
        "orders_count": 1,
        "lifetime_revenue": "80.50",
        "name": "Cleo Park",
    }
    stored = await session.scalar(select(Event).where(Event.id == "woo:order:727:placed"))
    assert stored is not None
    assert stored.occurred_at.isoformat() == "2026-03-01T15:00:00+00:00"


async def test_a_guest_order_is_the_client_of_its_billing_email(
    hooks: AsyncClient, headers: dict
) -> None:
    await deliver(hooks, "order.created", woo_order(customer_id=0))
    state = await client_state(hooks, headers, "woo:email:cleo@example.com")
    assert state["orders_count"] == 1


async def test_a_guest_without_an_email_is_unattributed(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    response = await deliver(hooks, "order.created", woo_order(customer_id=0, email=""))
    assert response.status_code == 200 and response.json()["unattributed"] == 1
    assert await count(session) == 0


async def test_the_same_delivery_twice_is_applied_once(
    hooks: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    first = await deliver(hooks, "order.created", woo_order())
    again = await deliver(hooks, "order.created", woo_order())
    assert first.json()["accepted"] == 1
    assert again.json()["duplicates"] == 1 and again.json()["accepted"] == 0
    assert await count(session) == 1


async def test_a_refund_is_applied_once_whatever_the_delivery(
    hooks: AsyncClient, headers: dict
) -> None:
    await deliver(hooks, "order.created", woo_order())
    refunded = woo_order(
        status="completed",
        modified="2026-03-04T10:00:00",
        refunds=[{"id": 801, "reason": "damaged", "total": "-10.00"}],
    )
    first = await deliver(hooks, "order.updated", refunded)
    later = woo_order(
        status="completed",
        modified="2026-03-06T10:00:00",
        refunds=[{"id": 801, "reason": "damaged", "total": "-10.00"}],
    )
    second = await deliver(hooks, "order.updated", later)
    assert first.json()["accepted"] == 1 and second.json()["duplicates"] == 2
    assert (await client_state(hooks, headers, CLIENT))["lifetime_revenue"] == "70.50"


async def test_cancel_delete_and_restore(hooks: AsyncClient, headers: dict) -> None:
    await deliver(hooks, "order.created", woo_order())
    await deliver(hooks, "order.deleted", woo_order(status="trash", modified="2026-03-02T09:00:00"))
    assert (await client_state(hooks, headers, CLIENT))["orders_count"] == 0
    restored = woo_order(status="processing", modified="2026-03-03T09:00:00")
    response = await deliver(hooks, "order.restored", restored)
    assert response.json()["accepted"] == 1
    state = await client_state(hooks, headers, CLIENT)
    assert state["orders_count"] == 1 and state["lifetime_revenue"] == "80.50"


async def test_a_deletion_carrying_only_the_id(hooks: AsyncClient, headers: dict) -> None:
    unknown = await deliver(hooks, "order.deleted", {"id": 999})
    assert unknown.status_code == 200 and unknown.json()["unattributed"] == 1
    await deliver(hooks, "order.created", woo_order())
    response = await deliver(hooks, "order.deleted", {"id": 727})
    assert response.json()["accepted"] == 1
    assert (await client_state(hooks, headers, CLIENT))["orders_count"] == 0


async def test_an_update_before_its_create_ends_in_the_same_state(
    hooks: AsyncClient, headers: dict
) -> None:
    states = []
    for customer_id, reverse in ((21, False), (22, True)):
        created = woo_order(order_id=customer_id * 10, customer_id=customer_id)
        cancelled = woo_order(
            order_id=customer_id * 10,
            customer_id=customer_id,
            status="cancelled",
            modified="2026-03-02T09:00:00",
        )
        kept = woo_order(order_id=customer_id * 10 + 1, customer_id=customer_id, total="30.00")
        kept_refunded = woo_order(
            order_id=customer_id * 10 + 1,
            customer_id=customer_id,
            total="30.00",
            status="refunded",
            modified="2026-03-05T09:00:00",
            refunds=[{"id": customer_id * 100, "reason": "", "total": "-30.00"}],
        )
        deliveries = [
            ("order.created", created),
            ("order.updated", cancelled),
            ("order.created", kept),
            ("order.updated", kept_refunded),
        ]
        for topic, payload in reversed(deliveries) if reverse else deliveries:
            assert (await deliver(hooks, topic, payload)).status_code == 200
        states.append(await client_state(hooks, headers, f"woo:{customer_id}"))
    assert states[0] == states[1]
    assert states[0]["orders_count"] == 1 and states[0]["lifetime_revenue"] == "0.00"


async def test_an_unknown_topic_is_200_and_ignored(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    response = await deliver(hooks, "product.updated", {"id": 93, "name": "Tea sampler"})
    assert response.status_code == 200 and response.json()["ignored"] == 1
    assert await count(session) == 0


async def test_a_wrong_secret_a_tampered_body_or_no_signature_is_401_and_stores_nothing(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    body = dump(woo_order())
    tampered = body.replace(b'"80.50"', b'"0.50"')
    responses = [
        await deliver(hooks, "order.created", None, body=body, secret="wrong"),
        await deliver(hooks, "order.created", None, body=tampered, signed=body),
        await hooks.post(
            URL,
            content=body,
            headers={"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created"},
        ),
    ]
    for response in responses:
        assert response.status_code == 401, response.text
        assert response.json()["type"].endswith("/invalid-signature")
    assert await count(session) == 0


async def test_bad_json_with_a_valid_signature_is_400_and_stores_nothing(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    response = await deliver(hooks, "order.created", None, body=b'{"id": 727, "status": ')
    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-json")
    assert await count(session) == 0


async def test_no_configured_secret_is_503_but_the_ping_still_answers(api: AsyncClient) -> None:
    response = await deliver(api, "order.created", woo_order())
    assert response.status_code == 503
    assert "WINBACK_WOOCOMMERCE_WEBHOOK_SECRETS" in response.json()["detail"]
    ping = await api.post(URL, content=b"webhook_id=3")
    assert ping.status_code == 200
