"""woocommerce.to_events on real-shaped payloads: pure, no database."""

from datetime import UTC, datetime
from typing import Any

from app.events.schemas import event_adapter
from app.integrations import woocommerce
from app.integrations.common import Known
from tests.integrations.payloads import woo_order


def events(topic: str, payload: Any, **kwargs: Any) -> list[dict[str, Any]]:
    translation = woocommerce.to_events(topic, payload, currency="EUR", **kwargs)
    for event in translation.events:
        event_adapter.validate_python(event)
    return translation.events


def test_a_processing_order_of_a_customer_with_a_zone_less_gmt_date() -> None:
    [placed] = events("order.created", woo_order())
    assert placed == {
        "id": "woo:order:727:placed",
        "type": "order.placed",
        "occurred_at": "2026-03-01T15:00:00Z",  # date_created_gmt has no zone: it is UTC
        "client_id": "woo:14",
        "data": {"order_id": "woo:727", "amount": "80.50", "currency": "EUR"},
        "client": {"name": "Cleo Park", "email": "Cleo@Example.com", "phone": "0113 496 0000"},
    }


def test_a_guest_is_the_normalised_billing_email() -> None:
    [placed] = events("order.created", woo_order(customer_id=0))
    assert placed["client_id"] == "woo:email:cleo@example.com"


def test_a_guest_without_an_email_is_unattributed() -> None:
    translation = woocommerce.to_events(
        "order.created", woo_order(customer_id=0, email=""), currency="EUR"
    )
    assert translation.events == [] and translation.skipped[0].reason == "unattributed"


def test_statuses_that_are_not_a_purchase_yet_are_ignored() -> None:
    for status in ("pending", "on-hold", "checkout-draft"):
        translation = woocommerce.to_events(
            "order.created", woo_order(status=status), currency="EUR"
        )
        assert translation.events == [] and translation.skipped[0].reason == "ignored", status


def test_cancelling_statuses_cancel_with_an_id_per_modification() -> None:
    for status in ("cancelled", "failed", "trash"):
        [cancelled] = events(
            "order.updated", woo_order(status=status, modified="2026-03-03T09:00:00")
        )
        assert cancelled == {
            "id": "woo:order:727:cancelled:20260303T090000Z",
            "type": "order.cancelled",
            "occurred_at": "2026-03-03T09:00:00Z",
            "client_id": "woo:14",
            "data": {"order_id": "woo:727"},
        }


def test_refunds_are_positive_and_one_event_each() -> None:
    order = woo_order(
        status="refunded",
        refunds=[
            {"id": 801, "reason": "damaged", "total": "-10.00"},
            {"id": 802, "reason": "", "total": "-70.50"},
        ],
    )
    placed, first, second = events("order.updated", order)
    assert placed["type"] == "order.placed"
    assert (first["id"], first["data"]["amount"]) == ("woo:refund:801", "10.00")
    assert (second["id"], second["data"]["amount"]) == ("woo:refund:802", "70.50")
    assert first["occurred_at"] == "2026-03-01T15:00:00Z"


def test_a_deletion_with_only_the_id_cancels_the_order_it_was_recorded_as() -> None:
    payload = {"id": 727}
    assert woocommerce.needs("order.deleted", payload) == ["woo:order:727:placed"]
    unknown = woocommerce.to_events("order.deleted", payload, currency="EUR")
    assert unknown.events == [] and unknown.skipped[0].reason == "unattributed"
    known = {"woo:order:727:placed": Known("woo:14", datetime(2026, 3, 1, 15, tzinfo=UTC), None)}
    [cancelled] = events("order.deleted", payload, known=known)
    assert cancelled["id"] == "woo:order:727:deleted"
    assert cancelled["client_id"] == "woo:14"
    assert cancelled["occurred_at"] == "2026-03-01T15:00:00Z"


def test_a_restore_comes_back_as_an_order_of_its_own() -> None:
    [placed] = events("order.restored", woo_order(modified="2026-03-04T10:00:00"))
    assert placed["id"] == "woo:order:727:restored:20260304T100000Z"
    assert placed["data"]["order_id"] == "woo:727:restored:20260304T100000Z"
    assert placed["occurred_at"] == "2026-03-01T15:00:00Z"


def test_another_currency_is_rejected() -> None:
    translation = woocommerce.to_events("order.created", woo_order(currency="GBP"), currency="EUR")
    assert translation.events == [] and translation.skipped[0].reason == "rejected"


def test_unknown_topics_are_ignored_and_the_ping_is_recognised() -> None:
    translation = woocommerce.to_events("product.updated", {"id": 1}, currency="EUR")
    assert translation.events == [] and translation.skipped[0].reason == "ignored"
    assert woocommerce.is_ping(b"webhook_id=12")
    assert not woocommerce.is_ping(b'{"webhook_id": 12}')
