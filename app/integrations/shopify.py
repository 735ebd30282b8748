"""Shopify webhooks as winback events: a pure mapping of (topic, payload), no I/O.

Client ids: `shopify:<customer id>` for a customer, `shopify:email:<email>` for a guest order
(the email trimmed and lowercase); a guest order without an email has no client (unattributed).
Order ids: `shopify:<order id>`. Event ids are derived from the facts, never from the delivery,
so a redelivery, an `orders/updated` that changes nothing winback reads, and deliveries out of
order all end in the same events (docs/integrations.md lists every rule).
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.integrations.common import (
    Known,
    Translation,
    attributes,
    email_key,
    exact_id,
    full_name,
    money,
    stamp,
    text,
    utc_text,
)

PLATFORM = "shopify"
ORDER_TOPICS = frozenset({"orders/create", "orders/paid", "orders/updated", "orders/cancelled"})
REFUND_TOPICS = frozenset({"refunds/create"})
CUSTOMER_TOPICS = frozenset({"customers/create", "customers/update"})
TOPICS = ORDER_TOPICS | REFUND_TOPICS | CUSTOMER_TOPICS
MAX_TAGS = 50
MAX_TAG_LENGTH = 64


def client_id(customer_id: str) -> str:
    return f"shopify:{customer_id}"


def guest_client_id(email: str) -> str:
    return f"shopify:email:{email}"


def order_ref(order_id: str) -> str:
    """The `data.order_id` of every event about a Shopify order."""
    return f"shopify:{order_id}"


def placed_event_id(order_id: str) -> str:
    return f"shopify:order:{order_id}:placed"


def needs(topic: str, payload: Any) -> list[str]:
    """Ids of stored `order.placed` events the mapping needs to know about: a refund names its
    order but not its client, so the client is the one that order was recorded for."""
    if topic in REFUND_TOPICS and isinstance(payload, Mapping):
        order_id = exact_id(payload.get("order_id"))
        if order_id:
            return [placed_event_id(order_id)]
    return []


def to_events(
    topic: str,
    payload: Any,
    *,
    currency: str,
    known: Mapping[str, Known] | None = None,
) -> Translation:
    """The events one delivery says, for a winback whose policy currency is `currency`.

    `known` holds the stored orders that `needs` asked for. Unknown topics are ignored (Shopify
    disables an endpoint that keeps failing, so they are answered 200 and counted)."""
    out = Translation()
    if not isinstance(payload, Mapping):
        return out.skip("rejected", f"{topic}: the payload is not a JSON object")
    if topic in ORDER_TOPICS:
        return _order(out, payload, currency)
    if topic in REFUND_TOPICS:
        return _refund_delivery(out, payload, currency, known or {})
    if topic in CUSTOMER_TOPICS:
        customer_id = exact_id(payload.get("id"))
        if customer_id is None:
            return out.skip("rejected", f"{topic}: no customer id")
        event = _customer_event(payload, customer_id, f"shopify:customer:{customer_id}")
        if event is None:
            return out.skip("ignored", f"customer {customer_id}: no attributes or no updated_at")
        out.events.append(event)
        return out
    return out.skip("ignored", f"topic {topic!r} is not one winback reads")


def _order(out: Translation, order: Mapping[str, Any], currency: str) -> Translation:
    order_id = exact_id(order.get("id"))
    if order_id is None:
        return out.skip("rejected", "order without an id")
    if order.get("test") is True:
        return out.skip("ignored", f"order {order_id} is a test order")
    customer = order.get("customer") if isinstance(order.get("customer"), Mapping) else None
    customer_id = exact_id(customer.get("id")) if customer else None
    guest_email = email_key(order.get("email")) or email_key(order.get("contact_email"))
    if customer_id is not None:
        client = client_id(customer_id)
    elif guest_email is not None:
        client = guest_client_id(guest_email)
    else:
        return out.skip("unattributed", f"order {order_id}: no customer and no email")

    amount, order_currency = _total(order)
    if amount is None:
        return out.skip("rejected", f"order {order_id}: no total price")
    if order_currency is not None and order_currency != currency:
        return out.skip(
            "rejected",
            f"order {order_id}: shop currency {order_currency} differs from the policy "
            f"currency {currency}",
        )
    placed: dict[str, Any] = {
        "id": placed_event_id(order_id),
        "type": "order.placed",
        "occurred_at": utc_text(order.get("created_at")) or order.get("created_at"),
        "client_id": client,
        "data": {"order_id": order_ref(order_id), "amount": amount}
        | ({"currency": order_currency} if order_currency else {}),
    }
    if customer_id is None:  # a guest: what the order says about them, fixed at checkout
        billing = order.get("billing_address")
        if not isinstance(billing, Mapping):
            billing = {}
        contact = attributes(
            name=full_name(billing.get("first_name"), billing.get("last_name")),
            email=text(order.get("email")) or text(order.get("contact_email")),
            phone=text(order.get("phone")) or text(billing.get("phone")),
        )
        if contact:
            placed["client"] = contact
    out.events.append(placed)
    if customer is not None and customer_id is not None:
        event = _customer_event(customer, customer_id, f"shopify:order:{order_id}:customer")
        if event is not None:
            out.events.append(event)
    cancelled_at = order.get("cancelled_at")
    if cancelled_at:
        out.events.append(
            {
                "id": f"shopify:order:{order_id}:cancelled",
                "type": "order.cancelled",
                "occurred_at": utc_text(cancelled_at) or cancelled_at,
                "client_id": client,
                "data": {"order_id": order_ref(order_id)},
            }
        )
    refunds = order.get("refunds")
    for refund in refunds if isinstance(refunds, list) else []:
        if isinstance(refund, Mapping):
            _refund(out, refund, order_id, client, order_currency)
    return out


def _total(order: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The order's total in the shop currency, as placed: `total_price_set.shop_money`, else
    `total_price` with the order's `currency`. Not `current_total_price`: Shopify lowers that one
    when items are refunded or removed, and refunds arrive as their own events."""
    price_set = order.get("total_price_set")
    shop_money = price_set.get("shop_money") if isinstance(price_set, Mapping) else None
    if isinstance(shop_money, Mapping) and money(shop_money.get("amount")) is not None:
        return money(shop_money.get("amount")), text(shop_money.get("currency_code")) or text(
            order.get("currency")
        )
    return money(order.get("total_price")), text(order.get("currency"))


def _refund_delivery(
    out: Translation, refund: Mapping[str, Any], currency: str, known: Mapping[str, Known]
) -> Translation:
    order_id = exact_id(refund.get("order_id"))
    if order_id is None:
        return out.skip("rejected", "refund without an order_id")
    order = known.get(placed_event_id(order_id))
    if order is None:
        # the refund names no client; the order's next `orders/updated` carries it again
        return out.skip("unattributed", f"refund for order {order_id}, which winback has not seen")
    order_currency = order.currency or currency
    if order_currency != currency:
        return out.skip(
            "rejected", f"refund for order {order_id}: currency {order_currency} is not {currency}"
        )
    _refund(out, refund, order_id, order.client_id, order_currency)
    return out


def _refund(
    out: Translation,
    refund: Mapping[str, Any],
    order_id: str,
    client: str,
    order_currency: str | None,
) -> None:
    """One refund: the sum of its successful refund transactions (the money that went back)."""
    refund_id = exact_id(refund.get("id"))
    if refund_id is None:
        out.skip("rejected", f"a refund of order {order_id} without an id")
        return
    total = Decimal(0)
    transactions = refund.get("transactions")
    for transaction in transactions if isinstance(transactions, list) else []:
        if not isinstance(transaction, Mapping):
            continue
        if transaction.get("kind") != "refund" or transaction.get("status") != "success":
            continue
        amount = money(transaction.get("amount"))
        if amount is None:
            out.skip("rejected", f"refund {refund_id}: a transaction without an amount")
            return
        paid_in = text(transaction.get("currency"))
        if paid_in and order_currency and paid_in != order_currency:
            out.skip(
                "rejected",
                f"refund {refund_id}: paid back in {paid_in}, not the shop currency "
                f"{order_currency}",
            )
            return
        total += Decimal(amount)
    if total <= 0:
        out.skip("ignored", f"refund {refund_id}: no successful refund transaction")
        return
    moment = refund.get("created_at") or refund.get("processed_at")
    out.events.append(
        {
            "id": f"shopify:refund:{refund_id}",
            "type": "order.refunded",
            "occurred_at": utc_text(moment) or moment,
            "client_id": client,
            "data": {"order_id": order_ref(order_id), "amount": str(total)},
        }
    )


def _customer_event(
    customer: Mapping[str, Any], customer_id: str, prefix: str
) -> dict[str, Any] | None:
    """The customer's attributes as a `client.updated` dated by the customer's `updated_at`
    (the id carries that moment: the same customer state is the same event)."""
    updated = utc_text(customer.get("updated_at")) or utc_text(customer.get("created_at"))
    values = attributes(
        name=full_name(customer.get("first_name"), customer.get("last_name")),
        email=text(customer.get("email")),
        phone=text(customer.get("phone")),
        tags=tags(customer["tags"]) if "tags" in customer else None,
    )
    if updated is None or not values:
        return None
    return {
        "id": f"{prefix}:{stamp(updated)}",
        "type": "client.updated",
        "occurred_at": updated,
        "client_id": client_id(customer_id),
        "client": values,
    }


def tags(value: Any) -> list[str]:
    """Shopify's tags are one comma-separated string: split, trimmed, blanks and repeats
    dropped, each cut to 64 characters, at most 50 (winback's limits)."""
    if isinstance(value, list):
        parts = [str(item) for item in value]
    elif isinstance(value, str):
        parts = value.split(",")
    else:
        return []
    out: list[str] = []
    for part in parts:
        tag = part.strip()[:MAX_TAG_LENGTH].strip()
        if tag and tag not in out:
            out.append(tag)
    return out[:MAX_TAGS]
