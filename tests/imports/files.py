"""History files as the tests write them: a Shopify admin order export (its real header, one
row per line item, totals on the order's first row), an orders CSV, event JSON lines."""

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# Shopify admin > Orders > Export ("Export orders"), as of 2024: the standard columns, in order.
SHOPIFY_HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Employee",
    "Location",
    "Device ID",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Tax 2 Name",
    "Tax 2 Value",
    "Tax 3 Name",
    "Tax 3 Value",
    "Tax 4 Name",
    "Tax 4 Value",
    "Tax 5 Name",
    "Tax 5 Value",
    "Phone",
    "Receipt Number",
    "Duties",
    "Billing Province Name",
    "Shipping Province Name",
    "Payment ID",
    "Payment Terms Name",
    "Next Payment Due At",
    "Payment References",
]


def shopify_order(
    name: str,
    email: str,
    created_at: str,
    total: str,
    order_id: str,
    items: Sequence[tuple[str, str]] = (("T-shirt", "25.00"),),
    *,
    financial_status: str = "paid",
    cancelled_at: str = "",
    refunded: str = "0.00",
    billing_name: str = "",
    currency: str = "EUR",
    note: str = "",
) -> list[dict[str, str]]:
    """The rows of one order: its totals on the first, then one row per further line item
    (Name, Email and Created at repeated; the rest empty but the line item's own columns)."""
    first = {
        "Name": name,
        "Email": email,
        "Financial Status": financial_status,
        "Paid at": created_at if financial_status != "pending" else "",
        "Fulfillment Status": "fulfilled",
        "Accepts Marketing": "no",
        "Currency": currency,
        "Subtotal": total,
        "Shipping": "0.00",
        "Taxes": "0.00",
        "Total": total,
        "Discount Amount": "0.00",
        "Shipping Method": "Standard",
        "Created at": created_at,
        "Billing Name": billing_name,
        "Billing Country": "FR",
        "Notes": note,
        "Cancelled at": cancelled_at,
        "Payment Method": "Shopify Payments",
        "Refunded Amount": refunded,
        "Outstanding Balance": "0.00",
        "Id": order_id,
        "Source": "web",
    }
    rows = []
    for n, (item, price) in enumerate(items):
        line_item = {
            "Lineitem quantity": "1",
            "Lineitem name": item,
            "Lineitem price": price,
            "Lineitem requires shipping": "true",
            "Lineitem taxable": "true",
            "Lineitem fulfillment status": "fulfilled",
        }
        if n == 0:
            rows.append({**first, **line_item})
        else:
            rows.append({"Name": name, "Email": email, "Created at": created_at, **line_item})
    return rows


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Mapping[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(header))
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in header})
    return path


def write_shopify(path: Path, orders: Iterable[list[dict[str, str]]]) -> Path:
    return write_csv(path, SHOPIFY_HEADER, (row for order in orders for row in order))


def write_jsonl(path: Path, events: Iterable[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    return path


def read_errors(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
