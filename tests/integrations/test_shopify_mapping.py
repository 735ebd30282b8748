"""shopify.to_events on real-shaped payloads: pure, no database."""

from datetime import UTC, datetime
from typing import Any

from app.events.schemas import event_adapter
from app.events.service import canonical_body
from app.integrations import shopify
from app.integrations.common import Known, parse_json
from tests.integrations.payloads import (
    BIG_CUSTOMER_ID,
    dump,
    shopify_customer,
    shopify_order,
    shopify_refund,
    shopify_transaction,
)


def events(topic: str, payload: Any, **kwargs: Any) -> list[dict[str, Any]]:
    translation = shopify.to_events(topic, payload, currency="EUR", **kwargs)
    for event in translation.events:
        event_adapter.validate_python(event)  # every derived event is a valid envelope
    return translation.events


def bodies(items: list[dict[str, Any]]) -> list[str]:
    return [canonical_body(event_adapter.validate_python(e))[1] for e in items]


def test_an_order_with_a_customer() -> None:
    placed, customer = events("orders/create", shopify_order())
    assert placed == {
        "id": "shopify:order:5800000000001:placed",
        "type": "order.placed",
        "occurred_at": "2026-03-01T15:00:00Z",  # -05:00 in the payload
        "client_id": "shopify:7340000001",
        "data": {"order_id": "shopify:5800000000001", "amount": "120.00", "currency": "EUR"},
    }
    assert customer == {
        "id": "shopify:order:5800000000001:customer:20260301T150000Z",
        "type": "client.updated",
        "occurred_at": "2026-03-01T15:00:00Z",
        "client_id": "shopify:7340000001",
        "client": {
            "name": "Ann Lee",
            "email": "ann@example.com",
            "phone": "+15555550100",
            "tags": ["wholesale", "north"],
        },
    }


def test_a_customer_id_above_2_53_keeps_every_digit() -> None:
    body = dump(shopify_order(customer=shopify_customer(BIG_CUSTOMER_ID)))
    assert b"9007199254740993" in body
    placed, customer = events("orders/create", parse_json(body))
    assert placed["client_id"] == customer["client_id"] == "shopify:9007199254740993"
    assert float(BIG_CUSTOMER_ID) != BIG_CUSTOMER_ID  # a float would have lost the last digit


def test_a_guest_order_is_the_normalised_email_with_the_checkout_contact() -> None:
    order = shopify_order(guest=True, email=" Ann@Example.COM ")
    [placed] = events("orders/paid", order)
    assert placed["client_id"] == "shopify:email:ann@example.com"
    assert placed["client"] == {
        "name": "Bob Guest",
        "email": "Ann@Example.COM",
        "phone": "+15555550199",
    }


def test_a_guest_order_without_an_email_is_unattributed() -> None:
    translation = shopify.to_events(
        "orders/create", shopify_order(guest=True, email=None), currency="EUR"
    )
    assert translation.events == []
    assert [s.reason for s in translation.skipped] == ["unattributed"]


def test_the_total_is_the_shop_money_as_placed_not_the_current_total() -> None:
    order = shopify_order(total="120.00")
    order["current_total_price"] = "99.50"  # lowered by a refund: refunds are events of their own
    order["total_price_set"]["presentment_money"] = {"amount": "130.00", "currency_code": "USD"}
    [placed, _] = events("orders/updated", order)
    assert placed["data"]["amount"] == "120.00"


def test_another_shop_currency_is_rejected_not_converted() -> None:
    translation = shopify.to_events("orders/create", shopify_order(currency="USD"), currency="EUR")
    assert translation.events == []
    [skipped] = translation.skipped
    assert skipped.reason == "rejected" and "USD" in skipped.detail


def test_a_cancellation_via_orders_updated() -> None:
    order = shopify_order(cancelled_at="2026-03-02T08:30:00+01:00")
    placed, _, cancelled = events("orders/updated", order)
    assert placed["id"] == "shopify:order:5800000000001:placed"
    assert cancelled == {
        "id": "shopify:order:5800000000001:cancelled",
        "type": "order.cancelled",
        "occurred_at": "2026-03-02T07:30:00Z",
        "client_id": "shopify:7340000001",
        "data": {"order_id": "shopify:5800000000001"},
    }


def test_a_refund_is_the_sum_of_its_successful_refund_transactions() -> None:
    refund = shopify_refund(
        transactions=[
            shopify_transaction(1, "15.00"),
            shopify_transaction(2, "5.50"),
            shopify_transaction(3, "99.00", status="failure"),
            shopify_transaction(4, "7.00", kind="sale"),
        ]
    )
    *_, refunded = events("orders/updated", shopify_order(refunds=[refund]))
    assert refunded == {
        "id": "shopify:refund:930000000001",
        "type": "order.refunded",
        "occurred_at": "2026-03-05T11:00:00Z",
        "client_id": "shopify:7340000001",
        "data": {"order_id": "shopify:5800000000001", "amount": "20.50"},
    }


def test_refunds_create_needs_the_order_and_then_says_the_same_as_the_order() -> None:
    refund = shopify_refund()
    assert shopify.needs("refunds/create", refund) == ["shopify:order:5800000000001:placed"]
    unknown = shopify.to_events("refunds/create", refund, currency="EUR")
    assert unknown.events == [] and unknown.skipped[0].reason == "unattributed"
    known = {
        "shopify:order:5800000000001:placed": Known(
            "shopify:7340000001", datetime(2026, 3, 1, 15, tzinfo=UTC), "EUR"
        )
    }
    from_refund = events("refunds/create", refund, known=known)
    from_order = events("orders/updated", shopify_order(refunds=[refund]))[-1:]
    assert bodies(from_refund) == bodies(from_order)


def test_every_order_topic_says_the_same_facts_with_the_same_bodies() -> None:
    order = shopify_order()
    seen = {topic: bodies(events(topic, order)) for topic in sorted(shopify.ORDER_TOPICS)}
    assert len({tuple(b) for b in seen.values()}) == 1, seen


def test_a_customer_update_is_attributes_only() -> None:
    [event] = events("customers/update", shopify_customer(BIG_CUSTOMER_ID, tags=""))
    assert event["type"] == "client.updated"
    assert event["id"] == "shopify:customer:9007199254740993:20260301T150000Z"
    assert event["client"]["tags"] == []


def test_test_orders_and_unknown_topics_are_ignored() -> None:
    test_order = shopify.to_events("orders/create", shopify_order(test=True), currency="EUR")
    other = shopify.to_events("products/update", {"id": 1}, currency="EUR")
    for translation in (test_order, other):
        assert translation.events == []
        assert [s.reason for s in translation.skipped] == ["ignored"]


def test_a_payload_that_is_not_an_object_is_rejected() -> None:
    translation = shopify.to_events("orders/create", [1, 2], currency="EUR")
    assert translation.events == [] and translation.skipped[0].reason == "rejected"
