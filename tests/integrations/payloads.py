"""Real-shaped platform payloads (the fields of Shopify's REST order, refund and customer
webhooks and of WooCommerce's order webhook, as they send them) and real signatures."""

import base64
import hashlib
import hmac
import json
from typing import Any

# Above 2**53: a float would turn it into ...992
BIG_CUSTOMER_ID = 9007199254740993
SHOPIFY_SECRET = "shpss_new_8f2c"
SHOPIFY_OLD_SECRET = "shpss_old_19ab"
WOO_SECRET = "wc-secret-7d1e"


def signature(secret: str, body: bytes) -> str:
    """Computed here with the standard library, not with winback's own helper."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def dump(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def shopify_customer(customer_id: int = 7340000001, **fields: Any) -> dict[str, Any]:
    return {
        "id": customer_id,
        "email": "ann@example.com",
        "created_at": "2025-11-02T09:00:00-05:00",
        "updated_at": "2026-03-01T10:00:00-05:00",
        "first_name": "Ann",
        "last_name": "Lee",
        "orders_count": 3,
        "state": "enabled",
        "total_spent": "480.00",
        "note": None,
        "verified_email": True,
        "tax_exempt": False,
        "phone": "+15555550100",
        "tags": "wholesale, north,  wholesale",
        "currency": "EUR",
        "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
        "default_address": {"id": 1, "customer_id": customer_id, "country_code": "DE"},
        **fields,
    }


def shopify_transaction(
    transaction_id: int, amount: str, kind: str = "refund", status: str = "success"
) -> dict[str, Any]:
    return {
        "id": transaction_id,
        "order_id": 5800000000001,
        "kind": kind,
        "gateway": "shopify_payments",
        "status": status,
        "message": None,
        "created_at": "2026-03-05T12:00:00+01:00",
        "test": False,
        "authorization": None,
        "parent_id": 1,
        "processed_at": "2026-03-05T12:00:00+01:00",
        "source_name": "1830279",
        "amount": amount,
        "currency": "EUR",
    }


def shopify_refund(
    refund_id: int = 930000000001,
    order_id: int = 5800000000001,
    transactions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if transactions is None:
        transactions = [
            shopify_transaction(1, "15.00"),
            shopify_transaction(2, "5.50"),
        ]
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-03-05T12:00:00+01:00",
        "note": "wrong size",
        "user_id": None,
        "processed_at": "2026-03-05T12:00:00+01:00",
        "restock": True,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "refund_line_items": [],
        "transactions": transactions,
        "order_adjustments": [],
    }


def shopify_order(
    order_id: int = 5800000000001,
    customer: dict[str, Any] | None = None,
    *,
    guest: bool = False,
    total: str = "120.00",
    currency: str = "EUR",
    email: str | None = "ann@example.com",
    created_at: str = "2026-03-01T10:00:00-05:00",
    cancelled_at: str | None = None,
    refunds: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    money = {
        "shop_money": {"amount": total, "currency_code": currency},
        "presentment_money": {"amount": total, "currency_code": currency},
    }
    order: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "app_id": 580111,
        "browser_ip": "203.0.113.9",
        "buyer_accepts_marketing": False,
        "cancel_reason": "customer" if cancelled_at else None,
        "cancelled_at": cancelled_at,
        "closed_at": None,
        "confirmed": True,
        "contact_email": email,
        "created_at": created_at,
        "currency": currency,
        "current_total_price": total,
        "current_total_price_set": money,
        "email": email,
        "financial_status": "voided" if cancelled_at else "paid",
        "fulfillment_status": None,
        "name": "#1001",
        "number": 1,
        "order_number": 1001,
        "phone": None,
        "presentment_currency": currency,
        "processed_at": created_at,
        "source_name": "web",
        "subtotal_price": total,
        "tags": "",
        "test": False,
        "total_discounts": "0.00",
        "total_price": total,
        "total_price_set": money,
        "total_tax": "0.00",
        "updated_at": created_at,
        "billing_address": {
            "first_name": "Bob",
            "last_name": "Guest",
            "address1": "1 Main St",
            "phone": "+15555550199",
            "city": "Berlin",
            "zip": "10115",
            "country": "Germany",
        },
        "customer": None if guest else (customer or shopify_customer()),
        "line_items": [
            {
                "id": 13000000000001,
                "variant_id": 42000000000001,
                "title": "Espresso beans 1 kg",
                "quantity": 4,
                "sku": "BEAN-1KG",
                "price": "30.00",
                "price_set": money,
                "total_discount": "0.00",
                "tax_lines": [{"price": "0.00", "rate": 0.19, "title": "VAT"}],
            }
        ],
        "refunds": refunds or [],
        "shipping_lines": [],
    }
    order.update(fields)
    return order


def woo_order(
    order_id: int = 727,
    *,
    status: str = "processing",
    customer_id: int = 14,
    email: str = "Cleo@Example.com",
    total: str = "80.50",
    currency: str = "EUR",
    created: str = "2026-03-01T15:00:00",
    modified: str = "2026-03-01T15:00:00",
    refunds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": order_id,
        "parent_id": 0,
        "status": status,
        "currency": currency,
        "version": "9.4.2",
        "prices_include_tax": False,
        "date_created": "2026-03-01T16:00:00",
        "date_modified": "2026-03-01T16:00:00",
        "discount_total": "0.00",
        "shipping_total": "5.00",
        "total": total,
        "total_tax": "0.00",
        "customer_id": customer_id,
        "order_key": "wc_order_abc123",
        "billing": {
            "first_name": "Cleo",
            "last_name": "Park",
            "company": "",
            "address_1": "2 High St",
            "city": "Leeds",
            "postcode": "LS1",
            "country": "GB",
            "email": email,
            "phone": "0113 496 0000",
        },
        "shipping": {"first_name": "Cleo", "last_name": "Park"},
        "payment_method": "bacs",
        "payment_method_title": "Direct bank transfer",
        "transaction_id": "",
        "customer_ip_address": "203.0.113.7",
        "created_via": "checkout",
        "date_completed": None,
        "date_paid": "2026-03-01T16:00:00",
        "date_created_gmt": created,
        "date_modified_gmt": modified,
        "date_completed_gmt": None,
        "date_paid_gmt": created,
        "number": str(order_id),
        "meta_data": [],
        "line_items": [
            {"id": 315, "name": "Tea sampler", "product_id": 93, "quantity": 1, "total": "75.50"}
        ],
        "refunds": refunds or [],
    }
