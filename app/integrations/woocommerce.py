"""WooCommerce webhooks as winback events: a pure mapping of (topic, payload), no I/O.

Client ids: `woo:<customer_id>` for a registered customer, `woo:email:<email>` for a guest
(`customer_id` 0; the billing email trimmed and lowercase); a guest without an email has no
client (unattributed). Order ids: `woo:<order id>`, and `woo:<order id>:restored:<moment>` for an
order brought back from the trash. docs/integrations.md lists every rule.
"""

import re
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

PLATFORM = "woocommerce"
TOPICS = frozenset({"order.created", "order.updated", "order.deleted", "order.restored"})
# statuses in which the order is a purchase, and those that undo it
ACTIVE = frozenset({"processing", "completed", "refunded"})
CANCELLING = frozenset({"cancelled", "failed", "trash"})
# what WooCommerce posts, unsigned, when a webhook is saved as active
PING = re.compile(rb"^webhook_id=\d+$")


def is_ping(body: bytes) -> bool:
    return PING.match(body.strip()) is not None


def client_id(customer_id: str) -> str:
    return f"woo:{customer_id}"


def guest_client_id(email: str) -> str:
    return f"woo:email:{email}"


def order_ref(order_id: str) -> str:
    return f"woo:{order_id}"


def placed_event_id(order_id: str) -> str:
    return f"woo:order:{order_id}:placed"


def needs(topic: str, payload: Any) -> list[str]:
    """A deletion may carry only the order's id: its client is the one the order was recorded
    for, so the endpoint looks that `order.placed` up."""
    if topic == "order.deleted" and isinstance(payload, Mapping):
        order_id = exact_id(payload.get("id"))
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
    """The events one delivery says, for a winback whose policy currency is `currency`."""
    out = Translation()
    if topic not in TOPICS:
        return out.skip("ignored", f"topic {topic!r} is not one winback reads")
    if not isinstance(payload, Mapping):
        return out.skip("rejected", f"{topic}: the payload is not a JSON object")
    order_id = exact_id(payload.get("id"))
    if order_id is None:
        return out.skip("rejected", f"{topic}: no order id")
    if topic == "order.deleted" and "status" not in payload:
        return _deleted(out, order_id, (known or {}).get(placed_event_id(order_id)))
    status = text(payload.get("status"))
    if topic == "order.deleted":
        status = "trash"
    if status not in ACTIVE and status not in CANCELLING:
        return out.skip("ignored", f"order {order_id}: status {status!r} is not a purchase yet")

    customer_id = exact_id(payload.get("customer_id"))  # 0 (a guest) is no id
    billing = payload.get("billing")
    if not isinstance(billing, Mapping):
        billing = {}
    guest_email = email_key(billing.get("email"))
    if customer_id is not None:
        client = client_id(customer_id)
    elif guest_email is not None:
        client = guest_client_id(guest_email)
    else:
        return out.skip("unattributed", f"order {order_id}: a guest without a billing email")
    order_currency = text(payload.get("currency"))
    if order_currency is not None and order_currency != currency:
        return out.skip(
            "rejected",
            f"order {order_id}: currency {order_currency} differs from the policy currency "
            f"{currency}",
        )
    created = utc_text(payload.get("date_created_gmt"), assume_utc=True)
    modified = utc_text(payload.get("date_modified_gmt"), assume_utc=True) or created
    if created is None or modified is None:
        return out.skip("rejected", f"order {order_id}: no date_created_gmt")

    if status in ACTIVE:
        amount = money(payload.get("total"))
        if amount is None:
            return out.skip("rejected", f"order {order_id}: no total")
        contact = attributes(
            name=full_name(billing.get("first_name"), billing.get("last_name")),
            email=text(billing.get("email")),
            phone=text(billing.get("phone")),
        )
        if topic == "order.restored":
            # a cancel is final in winback, so the order comes back as a new order of its own
            event_id = f"woo:order:{order_id}:restored:{stamp(modified)}"
            winback_order = f"{order_ref(order_id)}:restored:{stamp(modified)}"
        else:
            event_id, winback_order = placed_event_id(order_id), order_ref(order_id)
        placed: dict[str, Any] = {
            "id": event_id,
            "type": "order.placed",
            "occurred_at": created,
            "client_id": client,
            "data": {"order_id": winback_order, "amount": amount}
            | ({"currency": order_currency} if order_currency else {}),
        }
        if contact:
            placed["client"] = contact
        out.events.append(placed)
    else:
        out.events.append(
            {
                "id": f"woo:order:{order_id}:cancelled:{stamp(modified)}",
                "type": "order.cancelled",
                "occurred_at": modified,
                "client_id": client,
                "data": {"order_id": order_ref(order_id)},
            }
        )
    refunds = payload.get("refunds")
    for refund in refunds if isinstance(refunds, list) else []:
        if isinstance(refund, Mapping):
            _refund(out, refund, order_id, client, created)
    return out


def _refund(
    out: Translation, refund: Mapping[str, Any], order_id: str, client: str, created: str
) -> None:
    """A refund from the order's `refunds` list (`total` is negative in WooCommerce). The list
    carries no refund date, so the refund is dated at the order's creation: the same refund is
    then the same event in every later delivery."""
    refund_id = exact_id(refund.get("id"))
    amount = money(refund.get("total"))
    if refund_id is None or amount is None:
        out.skip("rejected", f"order {order_id}: a refund without an id or a total")
        return
    value = Decimal(amount).copy_abs()
    if value == 0:
        out.skip("ignored", f"refund {refund_id}: zero")
        return
    out.events.append(
        {
            "id": f"woo:refund:{refund_id}",
            "type": "order.refunded",
            "occurred_at": created,
            "client_id": client,
            "data": {"order_id": order_ref(order_id), "amount": str(value)},
        }
    )


def _deleted(out: Translation, order_id: str, order: Known | None) -> Translation:
    """A deletion that carries only the order's id: the order is cancelled for the client it
    was recorded for, dated at its placing (the payload has no time; the same deletion is the
    same event whatever the delivery)."""
    if order is None:
        return out.skip("unattributed", f"deleted order {order_id}, which winback has not seen")
    out.events.append(
        {
            "id": f"woo:order:{order_id}:deleted",
            "type": "order.cancelled",
            "occurred_at": utc_text(order.occurred_at.isoformat()),
            "client_id": order.client_id,
            "data": {"order_id": order_ref(order_id)},
        }
    )
    return out
