"""POST /v1/integrations/shopify/webhooks as Shopify sends it, against real PostgreSQL."""

import json
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import Event
from tests.integrations.payloads import (
    BIG_CUSTOMER_ID,
    SHOPIFY_OLD_SECRET,
    SHOPIFY_SECRET,
    dump,
    shopify_customer,
    shopify_order,
    shopify_refund,
    signature,
)

URL = "/v1/integrations/shopify/webhooks"
ORDER_CLIENT = "shopify:7340000001"


async def deliver(
    client: AsyncClient,
    topic: str,
    payload: Any,
    *,
    secret: str = SHOPIFY_SECRET,
    webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    body: bytes | None = None,
    signed: bytes | None = None,
) -> Response:
    raw = dump(payload) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature(secret, raw if signed is None else signed),
        "X-Shopify-Shop-Domain": "beans.myshopify.com",
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Triggered-At": "2026-03-01T15:00:01.000Z",
    }
    return await client.post(URL, content=raw, headers=headers)


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def client_state(api: AsyncClient, headers: dict, client_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/clients/{client_id}", headers=headers["reader"])
    assert response.status_code == 200, response.text
    state = response.json()
    return {
        key: state[key] for key in ("orders_count", "lifetime_revenue", "name", "email", "tags")
    }


async def test_an_order_with_a_customer_creates_the_client(
    hooks: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    response = await deliver(hooks, "orders/create", shopify_order())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "platform": "shopify",
        "topic": "orders/create",
        "accepted": 2,
        "duplicates": 0,
        "conflicts": 0,
        "ignored": 0,
        "unattributed": 0,
        "rejected": 0,
        "notes": [],
    }
    assert await client_state(hooks, headers, ORDER_CLIENT) == {
        "orders_count": 1,
        "lifetime_revenue": "120.00",
        "name": "Ann Lee",
        "email": "ann@example.com",
        "tags": ["wholesale", "north"],
    }


async def test_no_api_key_is_needed_and_the_old_secret_works_during_a_rotation(
    hooks: AsyncClient, headers: dict
) -> None:
    response = await deliver(hooks, "orders/create", shopify_order(), secret=SHOPIFY_OLD_SECRET)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2


async def test_a_guest_order_is_the_client_of_its_email(hooks: AsyncClient, headers: dict) -> None:
    order = shopify_order(guest=True, email="Bob@Example.com")
    assert (await deliver(hooks, "orders/create", order)).json()["accepted"] == 1
    state = await client_state(hooks, headers, "shopify:email:bob@example.com")
    assert state["name"] == "Bob Guest" and state["orders_count"] == 1


async def test_a_guest_order_without_an_email_is_unattributed(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    response = await deliver(hooks, "orders/create", shopify_order(guest=True, email=None))
    assert response.status_code == 200
    assert response.json()["unattributed"] == 1
    assert await count(session) == 0


async def test_a_customer_id_above_2_53_stays_exact(hooks: AsyncClient, headers: dict) -> None:
    order = shopify_order(customer=shopify_customer(BIG_CUSTOMER_ID))
    assert (await deliver(hooks, "orders/create", order)).status_code == 200
    state = await client_state(hooks, headers, f"shopify:{BIG_CUSTOMER_ID}")
    assert state["orders_count"] == 1
    missing = await hooks.get("/v1/clients/shopify:9007199254740992", headers=headers["reader"])
    assert missing.status_code == 404


async def test_a_refund_with_two_transactions(hooks: AsyncClient, headers: dict) -> None:
    await deliver(hooks, "orders/create", shopify_order())
    response = await deliver(hooks, "refunds/create", shopify_refund(), webhook_id="r-1")
    assert response.json()["accepted"] == 1, response.text
    state = await client_state(hooks, headers, ORDER_CLIENT)
    assert state["lifetime_revenue"] == "99.50"  # 120.00 - (15.00 + 5.50)
    # the order's next update carries the same refund: the same event, a duplicate
    again = await deliver(hooks, "orders/updated", shopify_order(refunds=[shopify_refund()]))
    assert again.json()["duplicates"] == 3 and again.json()["accepted"] == 0


async def test_a_refund_before_its_order_is_unattributed_and_arrives_with_the_order(
    hooks: AsyncClient, headers: dict
) -> None:
    early = await deliver(hooks, "refunds/create", shopify_refund())
    assert early.json()["unattributed"] == 1
    await deliver(hooks, "orders/updated", shopify_order(refunds=[shopify_refund()]))
    assert (await client_state(hooks, headers, ORDER_CLIENT))["lifetime_revenue"] == "99.50"


async def test_a_cancellation_via_orders_updated(hooks: AsyncClient, headers: dict) -> None:
    await deliver(hooks, "orders/create", shopify_order())
    cancelled = shopify_order(cancelled_at="2026-03-02T08:30:00+01:00")
    response = await deliver(hooks, "orders/updated", cancelled)
    assert response.json()["accepted"] == 1 and response.json()["duplicates"] == 2
    state = await client_state(hooks, headers, ORDER_CLIENT)
    assert state["orders_count"] == 0 and state["lifetime_revenue"] == "0.00"


async def test_the_same_delivery_twice_is_applied_once(
    hooks: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    first = await deliver(hooks, "orders/create", shopify_order(), webhook_id="same")
    again = await deliver(hooks, "orders/create", shopify_order(), webhook_id="same")
    assert first.json()["accepted"] == 2
    assert again.status_code == 200
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 2
    assert await count(session) == 2
    assert (await client_state(hooks, headers, ORDER_CLIENT))["orders_count"] == 1


async def test_an_update_that_changes_nothing_winback_reads_changes_nothing(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    await deliver(hooks, "orders/create", shopify_order())
    fulfilled = shopify_order(fulfillment_status="fulfilled", tags="gift", note="leave at door")
    response = await deliver(hooks, "orders/updated", fulfilled, webhook_id="u-1")
    assert response.json()["duplicates"] == 2 and response.json()["accepted"] == 0
    assert await count(session) == 2


async def test_an_edited_total_keeps_the_first_amount_and_counts_a_conflict(
    hooks: AsyncClient, headers: dict
) -> None:
    await deliver(hooks, "orders/create", shopify_order(total="120.00"))
    response = await deliver(hooks, "orders/updated", shopify_order(total="150.00"))
    assert response.status_code == 200
    assert response.json()["conflicts"] == 1
    assert (await client_state(hooks, headers, ORDER_CLIENT))["lifetime_revenue"] == "120.00"


async def test_an_update_before_its_create_ends_in_the_same_state(
    hooks: AsyncClient, headers: dict
) -> None:
    create = shopify_order(order_id=1001)
    update = shopify_order(order_id=1001, cancelled_at="2026-03-02T08:30:00+01:00")
    other_create = shopify_order(order_id=1002, customer=shopify_customer(7340000002))
    other_update = shopify_order(
        order_id=1002,
        customer=shopify_customer(7340000002),
        refunds=[shopify_refund(order_id=1002)],
    )
    await deliver(hooks, "orders/create", create)
    await deliver(hooks, "orders/updated", update)
    in_order = await client_state(hooks, headers, ORDER_CLIENT)
    await deliver(hooks, "orders/updated", other_update)
    await deliver(hooks, "orders/create", other_create)
    out_of_order = await client_state(hooks, headers, "shopify:7340000002")
    assert in_order == out_of_order | {"orders_count": 0, "lifetime_revenue": "0.00"}
    assert out_of_order["orders_count"] == 1 and out_of_order["lifetime_revenue"] == "99.50"


async def test_the_same_facts_in_either_order_end_in_the_same_state(
    hooks: AsyncClient, headers: dict
) -> None:
    """Two customers get the same deliveries, one in order and one reversed."""
    states = []
    for customer_id, reverse in ((7340000003, False), (7340000004, True)):
        customer = shopify_customer(customer_id)
        base = customer_id * 10
        deliveries = [
            ("orders/create", shopify_order(order_id=base, customer=customer)),
            (
                "orders/updated",
                shopify_order(
                    order_id=base, customer=customer, refunds=[shopify_refund(base + 1, base)]
                ),
            ),
            ("refunds/create", shopify_refund(base + 1, base)),
        ]
        for topic, payload in reversed(deliveries) if reverse else deliveries:
            assert (await deliver(hooks, topic, payload)).status_code == 200
        states.append(await client_state(hooks, headers, f"shopify:{customer_id}"))
    assert states[0] == states[1]
    assert states[0]["lifetime_revenue"] == "99.50"


async def test_a_foreign_currency_order_is_answered_200_and_rejected(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    response = await deliver(hooks, "orders/create", shopify_order(currency="USD"))
    assert response.status_code == 200
    assert response.json()["rejected"] == 1
    assert "USD" in response.json()["notes"][0]
    assert await count(session) == 0


async def test_a_customer_update_sets_attributes_only(hooks: AsyncClient, headers: dict) -> None:
    customer = shopify_customer(first_name="Annie", tags="vip")
    response = await deliver(hooks, "customers/update", customer)
    assert response.json()["accepted"] == 1
    state = await client_state(hooks, headers, ORDER_CLIENT)
    assert state["name"] == "Annie Lee" and state["tags"] == ["vip"]
    assert state["orders_count"] == 0


async def test_an_unknown_topic_is_200_ignored_and_counted_in_metrics(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    def ignored(text: str) -> float:
        for line in text.splitlines():
            if line.startswith("winback_integration_webhook_items_total{") and all(
                part in line
                for part in ('platform="shopify"', 'topic="other"', 'outcome="ignored"')
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = ignored((await hooks.get("/metrics")).text)
    response = await deliver(hooks, "products/update", {"id": 632910392, "title": "Beans"})
    assert response.status_code == 200
    assert response.json()["ignored"] == 1
    assert ignored((await hooks.get("/metrics")).text) == before + 1
    assert await count(session) == 0


async def test_a_wrong_secret_a_tampered_body_or_no_signature_is_401_and_stores_nothing(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    body = dump(shopify_order())
    tampered = body.replace(b'"120.00"', b'"1.00"')
    responses = [
        await deliver(hooks, "orders/create", None, body=body, secret="someone-else"),
        await deliver(hooks, "orders/create", None, body=tampered, signed=body),
        await hooks.post(
            URL,
            content=body,
            headers={"Content-Type": "application/json", "X-Shopify-Topic": "orders/create"},
        ),
    ]
    for response in responses:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid-signature")
    assert "missing" in responses[2].json()["detail"]
    assert await count(session) == 0


async def test_an_api_key_is_no_substitute_for_the_signature(
    hooks: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    response = await hooks.post(
        URL,
        content=dump(shopify_order()),
        headers={"X-Shopify-Topic": "orders/create", **headers["admin"]},
    )
    assert response.status_code == 401
    assert await count(session) == 0


async def test_bad_json_with_a_valid_signature_is_400_and_stores_nothing(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    for body in (b'{"id": 1,', b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"):
        response = await deliver(hooks, "orders/create", None, body=body)
        assert response.status_code == 400, response.text
        assert response.json()["type"].endswith("/malformed-json")
    assert await count(session) == 0


async def test_a_body_over_the_limit_is_413(hooks: AsyncClient) -> None:
    body = json.dumps({"note": "x" * 1_100_000}).encode()
    response = await deliver(hooks, "orders/create", None, body=body)
    assert response.status_code == 413


async def test_no_configured_secret_is_503_saying_how_to_configure(
    api: AsyncClient, session: AsyncSession
) -> None:
    response = await deliver(api, "orders/create", shopify_order())
    assert response.status_code == 503
    assert "WINBACK_SHOPIFY_WEBHOOK_SECRETS" in response.json()["detail"]
    assert await count(session) == 0


async def test_an_event_winback_refuses_is_rejected_with_the_field_named(
    hooks: AsyncClient, session: AsyncSession
) -> None:
    order = shopify_order(guest=True, created_at="2026-03-01T10:00:00")  # no zone
    response = await deliver(hooks, "orders/create", order)
    assert response.status_code == 200
    assert response.json()["rejected"] == 1
    assert "occurred_at" in response.json()["notes"][0]
    assert await count(session) == 0
