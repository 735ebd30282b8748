"""The readers and the validation, without a database: what each format's rows become, the ids
they get, and how refusals name the file's column."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.imports.prepare import Chunk, ReadOptions, read_chunks
from app.imports.readers import (
    FormatError,
    moment,
    open_rows,
    parse_mapping,
    shopify_client_id,
)
from app.policy.schemas import DEFAULT_POLICY
from tests.conftest import NOW
from tests.imports.files import (
    SHOPIFY_HEADER,
    shopify_order,
    write_csv,
    write_jsonl,
    write_shopify,
)


def chunks(path: Path, **options: object) -> list[Chunk]:
    _, found = read_chunks(path, ReadOptions(**options), DEFAULT_POLICY, NOW)  # type: ignore[arg-type]
    return list(found)


def test_shopify_export_rows_become_orders_cancels_and_refunds(tmp_path: Path) -> None:
    path = write_shopify(
        tmp_path / "orders_export.csv",
        [
            shopify_order(
                "#1001",
                "Jane.Doe@Example.com",
                "2024-01-05 10:12:00 +0100",
                "55.00",
                "5550001",
                items=[("T-shirt", "25.00"), ("Mug", "15.00"), ("Cap", "15.00")],
                billing_name="Jane Doe",
                note="leave at the door,\nthanks",  # a quoted cell over two lines
            ),
            shopify_order(
                "#1002",
                "bob@example.com",
                "2024-02-01 09:00:00 -0500",
                "20.00",
                "5550002",
                financial_status="voided",
                cancelled_at="2024-02-02 09:30:00 -0500",
            ),
            shopify_order(
                "#1003",
                "jane.doe@example.com",
                "2024-03-01 23:30:00 -0800",
                "80.00",
                "5550003",
                items=[("Socks", "40.00"), ("Socks", "40.00")],
                financial_status="partially_refunded",
                refunded="30.00",
            ),
        ],
    )
    [chunk] = chunks(path)
    assert (chunk.rows, chunk.line_items, chunk.rejected) == (6, 3, [])
    events = {e.id: e for e in chunk.events}
    assert sorted(events) == [
        "shopify:order:5550001:placed",
        "shopify:order:5550002:cancelled",
        "shopify:order:5550002:placed",
        "shopify:order:5550003:placed",
        "shopify:order:5550003:refunded",
    ]
    jane = "shopify:email:jane.doe@example.com"
    first = events["shopify:order:5550001:placed"]
    assert first.client_id == jane and first.type == "order.placed"
    assert first.line == 2  # the header is line 1
    # offsets go to UTC; the order's totals come from its first row only
    assert first.occurred_at == datetime(2024, 1, 5, 9, 12, tzinfo=UTC)
    assert '"amount":"55.00"' in first.body and '"order_id":"shopify:5550001"' in first.body
    assert first.client == {"email": "Jane.Doe@Example.com", "name": "Jane Doe"}
    cancel = events["shopify:order:5550002:cancelled"]
    assert (cancel.type, cancel.occurred_at) == (
        "order.cancelled",
        datetime(2024, 2, 2, 14, 30, tzinfo=UTC),
    )
    refund = events["shopify:order:5550003:refunded"]
    assert refund.type == "order.refunded" and '"amount":"30.00"' in refund.body
    assert refund.client_id == jane  # the same buyer whatever the case of the email
    assert refund.occurred_at == datetime(2024, 3, 2, 7, 30, tzinfo=UTC)  # next day in UTC
    # the line of the third order: header, 3 rows of #1001 (one over two lines), 1 of #1002
    assert refund.line == 7


def test_a_shopify_row_that_cannot_be_an_order_names_its_column(tmp_path: Path) -> None:
    path = write_shopify(
        tmp_path / "export.csv",
        [
            shopify_order("#1", "", "2024-01-05 10:12:00 +0100", "5.00", "1"),
            shopify_order("#2", "a@example.com", "2024-01-05 10:12:00 +0100", "-5.00", "2"),
            shopify_order("#3", "b@example.com", "5 January 2024", "5.00", "3"),
            shopify_order(
                "#4", "c@example.com", "2024-01-05 10:12:00 +0100", "5.00", "4", currency="USD"
            ),
            shopify_order(
                "#5", "d@example.com", "2024-01-05 10:12:00 +0100", "5.00", "5", refunded="lots"
            ),
            shopify_order("#6", "e@example.com", "2024-01-05 10:12:00 +0100", "5.00", "6"),
        ],
    )
    [chunk] = chunks(path)
    assert [e.id for e in chunk.events] == ["shopify:order:6:placed"]
    refused = {r.line: (r.field, r.reason) for r in chunk.rejected}
    assert refused[2][0] == "Email" and "email" in refused[2][1]
    assert refused[3] == ("Total", "Input should be greater than or equal to 0")
    assert refused[4][0] == "Created at" and "ISO 8601" in refused[4][1]
    assert refused[5][0] == "Currency" and "USD differs from the policy currency" in refused[5][1]
    # the order's refund is refused, so the whole order is: never half an order
    assert refused[6][0] == "Refunded Amount"


def test_orders_csv_with_a_mapping(tmp_path: Path) -> None:
    header = ["Order", "Customer", "Email", "Date", "Total", "Cancelled", "Refund"]
    path = write_csv(
        tmp_path / "orders.csv",
        header,
        [
            {
                "Order": "A-1",
                "Customer": "c1",
                "Email": "c1@x.example",
                "Date": "2024-05-01",
                "Total": "100.50",
            },
            {
                "Order": "A-2",
                "Customer": "c1",
                "Date": "2024-06-01T08:00:00+02:00",
                "Total": "40",
                "Cancelled": "2024-06-02T08:00:00+02:00",
            },
            {
                "Order": "A-3",
                "Customer": "c2",
                "Date": "2024-06-03 10:00",
                "Total": "70",
                "Refund": "20",
            },
            {"Order": "", "Customer": "c3", "Date": "2024-06-03 10:00", "Total": "70"},
            {"Order": "A-5", "Customer": "c3", "Date": "2024-06-03 10:00", "Total": "7,0"},
        ],
    )
    mapping = parse_mapping(
        [
            "client_id=Customer,order_id=Order,amount=Total",
            "occurred_at=Date,email=Email",
            "cancelled_at=Cancelled,refunded=Refund",
        ]
    )
    [chunk] = chunks(path, mapping=mapping, timezone="Europe/Paris")
    events = {e.id: e for e in chunk.events}
    assert sorted(events) == [
        "import:order:A-1:placed",
        "import:order:A-2:cancelled",
        "import:order:A-2:placed",
        "import:order:A-3:placed",
        "import:order:A-3:refunded",
    ]
    # a date without a zone takes --timezone (Paris is UTC+2 in summer)
    assert events["import:order:A-1:placed"].occurred_at == datetime(2024, 4, 30, 22, tzinfo=UTC)
    assert events["import:order:A-1:placed"].client == {"email": "c1@x.example"}
    assert events["import:order:A-2:cancelled"].occurred_at == datetime(2024, 6, 2, 6, tzinfo=UTC)
    refund = events["import:order:A-3:refunded"]
    assert refund.occurred_at == events["import:order:A-3:placed"].occurred_at
    refused = {r.line: (r.field, r.reason) for r in chunk.rejected}
    assert refused == {
        5: ("Order", "empty (needed for order_id)"),
        6: ("Total", "Input should be a valid decimal"),
    }

    # without --timezone a time without a zone is refused, as the API refuses it
    [strict] = chunks(path, mapping=mapping)
    assert {r.line: r.field for r in strict.rejected}[2] == "Date"


def test_mapping_and_header_mistakes_are_clear() -> None:
    with pytest.raises(FormatError, match="unknown field 'amont'"):
        parse_mapping(["client_id=A,order_id=B,amont=C,occurred_at=D"])
    with pytest.raises(FormatError, match="amount, occurred_at must be mapped too"):
        parse_mapping(["client_id=A,order_id=B"])
    with pytest.raises(FormatError, match="is not FIELD=COLUMN"):
        parse_mapping(["client_id"])
    mapping = parse_mapping(["client_id=A,order_id=B,amount=Totl,occurred_at=D"])
    with pytest.raises(FormatError, match=r"'Totl' \(for amount\).*the header is: A, B, Total, D"):
        open_rows(["A,B,Total,D\n"], mapping=mapping)
    with pytest.raises(FormatError, match=r"unrecognised CSV header .*--map client_id=COLUMN"):
        open_rows(["Order,Customer,Total\n", "1,c,5\n"])
    with pytest.raises(FormatError, match="lacks Refunded Amount, Id"):
        header = [c for c in SHOPIFY_HEADER if c not in ("Refunded Amount", "Id")]
        open_rows([",".join(header) + "\n"], fmt="shopify")
    with pytest.raises(FormatError, match="empty"):
        open_rows([])
    with pytest.raises(FormatError, match="--map is for an orders CSV, not the shopify format"):
        open_rows([",".join(SHOPIFY_HEADER) + "\n"], fmt="shopify", mapping=mapping)


def test_event_json_lines(tmp_path: Path) -> None:
    good = {
        "id": "e1",
        "type": "order.placed",
        "occurred_at": "2024-01-05T10:12:00+01:00",
        "client_id": "acme",
        "data": {"order_id": "o1", "amount": "10.00"},
    }
    path = tmp_path / "events.jsonl"
    write_jsonl(path, [good, {**good, "id": "e2", "data": {"order_id": "o2"}}])
    with path.open("a") as out:
        out.write("\n{not json\n[1, 2]\n")
        same = {**good, "occurred_at": "2024-01-05T09:12:00Z"}  # the same moment, in UTC
        out.write(json.dumps(same) + "\n")
        out.write(json.dumps({**same, "data": {"order_id": "o1", "amount": "11.00"}}) + "\n")
    [chunk] = chunks(path)
    assert [e.id for e in chunk.events] == ["e1"]
    assert chunk.duplicates == 1  # line 6: the same event as line 1 (times compared in UTC)
    refused = {r.line: (r.field, r.reason) for r in chunk.rejected}
    assert refused[2] == ("data.amount", "Field required")
    assert refused[4][0] == "line" and refused[4][1].startswith("not valid JSON")
    assert refused[5] == ("line", "not a JSON object (one event per line)")
    assert refused[7][0] == "id" and "line 1 has the same event id" in refused[7][1]


def test_chunks_hold_whole_rows(tmp_path: Path) -> None:
    orders = [
        shopify_order(
            f"#{n}",
            f"c{n % 3}@example.com",
            "2024-01-05 10:12:00 +0100",
            "5.00",
            str(n),
            refunded="1.00",
            cancelled_at="2024-01-06 10:12:00 +0100",
        )
        for n in range(10)
    ]
    found = chunks(write_shopify(tmp_path / "export.csv", orders), chunk_events=4)
    # three events per order, never split: 4 events asked, 6 per chunk (two whole orders)
    assert [len(c.events) for c in found] == [6, 6, 6, 6, 6, 0]
    assert found[-1].bytes_read == (tmp_path / "export.csv").stat().st_size


def test_moments() -> None:
    assert moment("2024-01-05 10:12:00 +0100", None) == "2024-01-05T10:12:00+01:00"
    assert moment("2024-01-05T10:12:00Z", None) == "2024-01-05T10:12:00+00:00"
    assert moment("2024-01-05 10:12", None) == "2024-01-05 10:12"  # refused by validation
    assert moment("yesterday", UTC) == "yesterday"
    assert moment("2024-01-05", UTC) == "2024-01-05T00:00:00+00:00"
    assert shopify_client_id(" Jane@Example.COM ") == "shopify:email:jane@example.com"
