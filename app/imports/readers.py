"""History files as rows of envelopes (dicts shaped as `POST /v1/events` takes them).

Three formats (docs/import.md):
- "events": winback's own event JSON lines, one envelope per line, taken as they are;
- "orders": a CSV of orders with a column mapping (`--map client_id=Email,amount=Total,...`):
  a row becomes an `order.placed`, plus an `order.cancelled` and an `order.refunded` when those
  columns are mapped and filled;
- "shopify": Shopify's admin order export as it comes (one row per line item, the order's totals
  on its first row only), recognised by its header.

A reader yields `Row`s: the line the row starts on, the envelopes it becomes, each with the file
column every envelope field came from (so a refusal names the column the seller can fix), or why
it cannot become one. Generated event ids derive from the order id, never from the line, so a
re-run, or the same order in another export, gives the same ids. Validation (the API's) comes
after, in `prepare`. Pure: no database, no clock; the caller opens the file.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Format = Literal["events", "orders", "shopify"]
FORMATS: tuple[str, ...] = ("events", "orders", "shopify")
Event = dict[str, Any]
Cell = Callable[[str], str | None]


class FormatError(ValueError):
    """The file cannot be read as asked: an unrecognised header, a bad or incomplete mapping."""


@dataclass(frozen=True, slots=True)
class RowError:
    field: str  # the file's column (CSV) or the envelope's field path (JSON lines)
    reason: str


@dataclass(frozen=True, slots=True)
class Source:
    """One envelope a row becomes, and the column each of its fields came from."""

    event: Event
    columns: Mapping[str, str]  # envelope path ("data.amount") -> column ("Total")


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # where the row starts in the file (1 = the first line, a CSV's header)
    events: tuple[Source, ...] = ()
    error: RowError | None = None
    # Shopify: a further line item of the order on the rows above (its totals are on the first)
    line_item: bool = False


class Lines:
    """A binary file's lines as text, with the bytes read so far (for the progress bar).

    Bytes that are not UTF-8 are kept as lone surrogates, which the API's validation refuses,
    naming the field, if the field is one winback stores; a leading byte-order mark is dropped."""

    def __init__(self, raw: Iterable[bytes]) -> None:
        self._raw = raw
        self.bytes_read = 0

    def __iter__(self) -> Iterator[str]:
        first = True
        for data in self._raw:
            self.bytes_read += len(data)
            text = data.decode("utf-8", "surrogateescape")
            if first:
                text = text.removeprefix("\ufeff")
                first = False
            yield text


# --- moments -------------------------------------------------------------------------------------


def moment(text: str, zone: tzinfo | None) -> str:
    """A file's date-time as the API takes it (ISO 8601 with its offset). Shopify writes
    `2024-01-05 10:12:00 +0100`; a time without a zone takes `zone` (`--timezone`) when given.
    Text that is no date-time is passed on as it is: the API's validation says what is wrong."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            return text
    if parsed.tzinfo is None:
        if zone is None:
            return text  # refused as the API refuses it: "Input should have timezone info"
        parsed = parsed.replace(tzinfo=zone)
    return parsed.isoformat()


def positive(text: str) -> bool:
    """Whether a refunded amount asks for a refund event (one that is no number does, so that
    validation names its column)."""
    try:
        return Decimal(text) != 0
    except InvalidOperation:
        return True


# --- winback's event JSON lines -------------------------------------------------------------------

NO_COLUMNS: Mapping[str, str] = {}


def read_events(lines: Iterable[str]) -> Iterator[Row]:
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc.msg} (column {exc.colno})"
            yield Row(number, error=RowError("line", reason))
            continue
        if not isinstance(event, dict):
            yield Row(number, error=RowError("line", "not a JSON object (one event per line)"))
            continue
        yield Row(number, (Source(event, NO_COLUMNS),))


# --- CSV ---------------------------------------------------------------------------------------


def csv_records(lines: Iterable[str]) -> tuple[list[str], Iterator[tuple[int, Cell]]]:
    """The header and, for each record, the line it starts on and a cell getter (stripped text,
    None for an empty or missing cell). A quoted cell may span lines."""
    reader = csv.reader(lines)
    header = [name.strip() for name in next(reader, [])]
    position = {name: i for i, name in reversed(list(enumerate(header)))}

    def records() -> Iterator[tuple[int, Cell]]:
        start = reader.line_num + 1
        for values in reader:
            line, start = start, reader.line_num + 1
            if not any(value.strip() for value in values):
                continue

            def cell(name: str, values: list[str] = values) -> str | None:
                index = position.get(name)
                if index is None or index >= len(values):
                    return None
                return values[index].strip() or None

            yield line, cell

    return header, records()


# --- a generic orders CSV, with a column mapping ------------------------------------------------

ORDER_FIELDS: dict[str, str] = {
    "client_id": "the client's id (a customer number, an email...)",
    "order_id": "the order's id: one order per id; the generated event ids derive from it",
    "amount": "the order's amount (in `currency`, else the policy currency)",
    "occurred_at": "when the order was placed (ISO 8601; a time without a zone needs --timezone)",
    "currency": "3 capital letters; another than the policy's needs amount_in_base",
    "amount_in_base": "the amount in the policy currency",
    "margin": "the order's margin, in its currency",
    "name": "client attribute",
    "email": "client attribute",
    "phone": "client attribute",
    "market": "client attribute: b2b or b2c",
    "manager_id": "client attribute",
    "cancelled_at": "when filled: the order was cancelled then (an order.cancelled)",
    "refunded": "when filled and not 0: the amount refunded (an order.refunded)",
    "refunded_at": "when the refund happened (default: the order's time)",
}
REQUIRED_ORDER_FIELDS = ("client_id", "order_id", "amount", "occurred_at")
ORDER_DATA = ("currency", "amount_in_base", "margin")
CLIENT_ATTRIBUTES = ("name", "email", "phone", "market", "manager_id")


def parse_mapping(specs: Sequence[str]) -> dict[str, str]:
    """`--map client_id=Email,amount=Total` (repeatable) -> {"client_id": "Email", ...}."""
    mapping: dict[str, str] = {}
    for spec in specs:
        for part in spec.split(","):
            if not part.strip():
                continue
            key, sep, column = part.partition("=")
            key, column = key.strip(), column.strip()
            if not sep or not column:
                raise FormatError(f"--map: {part.strip()!r} is not FIELD=COLUMN")
            if key not in ORDER_FIELDS:
                raise FormatError(
                    f"--map: unknown field {key!r}; the fields are {', '.join(ORDER_FIELDS)}"
                )
            mapping[key] = column
    missing = [key for key in REQUIRED_ORDER_FIELDS if key not in mapping]
    if missing:
        raise FormatError(
            f"--map: {', '.join(missing)} must be mapped too "
            f"(needed: {', '.join(f'{k}=COLUMN' for k in REQUIRED_ORDER_FIELDS)})"
        )
    return mapping


def order_id_of(order_id: str, kind: str) -> str:
    """The id of a generated order event: the same for the same order, whatever the file."""
    return f"import:order:{order_id}:{kind}"


def read_orders(
    records: Iterator[tuple[int, Cell]], mapping: Mapping[str, str], zone: tzinfo | None
) -> Iterator[Row]:
    m = mapping
    placed_columns = {
        "id": m["order_id"],
        "client_id": m["client_id"],
        "occurred_at": m["occurred_at"],
        "data.order_id": m["order_id"],
        "data.amount": m["amount"],
        **{f"data.{key}": m[key] for key in ORDER_DATA if key in m},
        **{f"client.{key}": m[key] for key in CLIENT_ATTRIBUTES if key in m},
        "client": ", ".join(m[key] for key in CLIENT_ATTRIBUTES if key in m),
    }
    cancel_columns = {
        "id": m["order_id"],
        "client_id": m["client_id"],
        "occurred_at": m.get("cancelled_at", ""),
        "data.order_id": m["order_id"],
    }
    refund_columns = {
        "id": m["order_id"],
        "client_id": m["client_id"],
        "occurred_at": m.get("refunded_at", m["occurred_at"]),
        "data.order_id": m["order_id"],
        "data.amount": m.get("refunded", ""),
    }
    for line, cell in records:
        values = {key: cell(column) for key, column in m.items()}
        empty = [key for key in REQUIRED_ORDER_FIELDS if values[key] is None]
        if empty:
            columns = ", ".join(m[key] for key in empty)
            yield Row(line, error=RowError(columns, f"empty (needed for {', '.join(empty)})"))
            continue
        client_id, order_id = values["client_id"], values["order_id"]
        assert client_id is not None and order_id is not None and values["occurred_at"]
        placed_at = moment(values["occurred_at"], zone)
        data: dict[str, Any] = {"order_id": order_id, "amount": values["amount"]}
        data.update({key: values[key] for key in ORDER_DATA if values.get(key) is not None})
        placed: Event = {
            "id": order_id_of(order_id, "placed"),
            "type": "order.placed",
            "occurred_at": placed_at,
            "client_id": client_id,
            "data": data,
        }
        client = {key: values[key] for key in CLIENT_ATTRIBUTES if values.get(key) is not None}
        if client:
            placed["client"] = client
        sources = [Source(placed, placed_columns)]
        cancelled_at = values.get("cancelled_at")
        if cancelled_at is not None:
            cancel: Event = {
                "id": order_id_of(order_id, "cancelled"),
                "type": "order.cancelled",
                "occurred_at": moment(cancelled_at, zone),
                "client_id": client_id,
                "data": {"order_id": order_id},
            }
            sources.append(Source(cancel, cancel_columns))
        refunded = values.get("refunded")
        if refunded is not None and positive(refunded):
            refunded_at = values.get("refunded_at")
            refund: Event = {
                "id": order_id_of(order_id, "refunded"),
                "type": "order.refunded",
                "occurred_at": moment(refunded_at, zone) if refunded_at else placed_at,
                "client_id": client_id,
                "data": {"order_id": order_id, "amount": refunded},
            }
            sources.append(Source(refund, refund_columns))
        yield Row(line, tuple(sources))


# --- Shopify's admin order export --------------------------------------------------------------

# The columns that make a CSV Shopify's order export (Shopify admin > Orders > Export).
SHOPIFY_SIGNATURE = (
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Total",
    "Created at",
    "Cancelled at",
    "Refunded Amount",
    "Id",
)
SHOPIFY_PLACED_COLUMNS = {
    "id": "Id",
    "client_id": "Email",
    "occurred_at": "Created at",
    "data.order_id": "Id",
    "data.amount": "Total",
    "data.currency": "Currency",
    "client": "Email, Billing Name, Phone",
    "client.email": "Email",
    "client.name": "Billing Name",
    "client.phone": "Phone",
}
SHOPIFY_CANCEL_COLUMNS = {
    "id": "Id",
    "client_id": "Email",
    "occurred_at": "Cancelled at",
    "data.order_id": "Id",
}
SHOPIFY_REFUND_COLUMNS = {
    "id": "Id",
    "client_id": "Email",
    "occurred_at": "Created at",
    "data.order_id": "Id",
    "data.amount": "Refunded Amount",
}


# The ids of the Shopify webhooks (app/integrations/shopify.py), so that an order that arrives
# both ways is one event (a duplicate, or a conflict reported in the errors file) and one order,
# never two. The export knows buyers by email only (no customer id): the webhooks' guest key.


def shopify_client_id(email: str) -> str:
    """A Shopify buyer as the export knows it: by email, trimmed and lowercase, as the webhooks
    key a guest. A registered customer is `shopify:<customer id>` there: docs/import.md."""
    return f"shopify:email:{email.strip().lower()}"


def shopify_order_ref(order_key: str) -> str:
    """The `data.order_id` of an event about a Shopify order (the webhooks' too)."""
    return f"shopify:{order_key}"


def shopify_event_id(order_key: str, kind: str) -> str:
    """`shopify:order:<id>:placed` and `:cancelled`, as the webhooks write them; `:refunded`
    for the refunded total, the only refund figure the export has (the webhooks write one
    event per refund, `shopify:refund:<refund id>`)."""
    return f"shopify:order:{order_key}:{kind}"


def is_shopify(header: Sequence[str]) -> bool:
    return set(SHOPIFY_SIGNATURE) <= set(header)


def read_shopify(records: Iterator[tuple[int, Cell]], zone: tzinfo | None) -> Iterator[Row]:
    """One row per line item: the order's first row carries its totals and becomes its events;
    the rows after it with the same Name are its further line items."""
    previous: str | None = None
    for line, cell in records:
        name = cell("Name")
        if name is not None and name == previous:
            yield Row(line, line_item=True)
            continue
        previous = name
        yield shopify_order(line, cell, name, zone)


def shopify_order(line: int, cell: Cell, name: str | None, zone: tzinfo | None) -> Row:
    email, created, total = cell("Email"), cell("Created at"), cell("Total")
    order_key = cell("Id") or name
    for column, value in (("Name", name), ("Created at", created), ("Total", total)):
        if value is None:
            return Row(line, error=RowError(column, "empty on the order's first row"))
    if email is None or "@" not in email:
        reason = "empty" if email is None else "not an email address"
        return Row(
            line,
            error=RowError(
                "Email", f"{reason}: without an email the export does not say who the client is"
            ),
        )
    assert order_key is not None and created is not None
    client_id = shopify_client_id(email)
    order_ref = shopify_order_ref(order_key)
    placed_at = moment(created, zone)
    data: dict[str, Any] = {"order_id": order_ref, "amount": total}
    currency = cell("Currency")
    if currency is not None:
        data["currency"] = currency
    client = {"email": email}
    buyer = cell("Billing Name") or cell("Shipping Name")
    if buyer is not None:
        client["name"] = buyer
    phone = cell("Phone") or cell("Billing Phone")
    if phone is not None:
        client["phone"] = phone
    placed: Event = {
        "id": shopify_event_id(order_key, "placed"),
        "type": "order.placed",
        "occurred_at": placed_at,
        "client_id": client_id,
        "data": data,
        "client": client,
    }
    sources = [Source(placed, SHOPIFY_PLACED_COLUMNS)]
    cancelled_at = cell("Cancelled at")
    if cancelled_at is not None:
        cancel: Event = {
            "id": shopify_event_id(order_key, "cancelled"),
            "type": "order.cancelled",
            "occurred_at": moment(cancelled_at, zone),
            "client_id": client_id,
            "data": {"order_id": order_ref},
        }
        sources.append(Source(cancel, SHOPIFY_CANCEL_COLUMNS))
    refunded = cell("Refunded Amount")
    if refunded is not None and positive(refunded):
        refund: Event = {
            "id": shopify_event_id(order_key, "refunded"),
            "type": "order.refunded",
            # the export does not date refunds: the order's time (refunds add up whenever dated)
            "occurred_at": placed_at,
            "client_id": client_id,
            "data": {"order_id": order_ref, "amount": refunded},
        }
        sources.append(Source(refund, SHOPIFY_REFUND_COLUMNS))
    return Row(line, tuple(sources))


# --- choosing the reader -----------------------------------------------------------------------


def open_rows(
    lines: Iterable[str],
    fmt: str = "auto",
    mapping: Mapping[str, str] | None = None,
    zone: tzinfo | None = None,
) -> tuple[Format, Iterator[Row]]:
    """The file's format and its rows. "auto": JSON lines when the first line is an object,
    else a CSV: the generic orders reader when a mapping is given, Shopify's when the header is
    the export's. Raises FormatError when the file is none of these."""
    if mapping and fmt in ("events", "shopify"):
        raise FormatError(f"--map is for an orders CSV, not the {fmt} format")
    source = iter(lines)
    head = list(itertools.islice(source, 1))
    if not head or not "".join(head).strip():
        raise FormatError("the file is empty (or its first line is blank)")
    rest = itertools.chain(head, source)
    if fmt == "events" or (fmt == "auto" and not mapping and head[0].lstrip().startswith("{")):
        return "events", read_events(rest)
    header, records = csv_records(rest)
    if fmt == "orders" or (fmt == "auto" and mapping):
        if not mapping:
            raise FormatError("the orders format needs --map (e.g. --map client_id=Email,...)")
        absent = [f"{col!r} (for {key})" for key, col in mapping.items() if col not in header]
        if absent:
            raise FormatError(
                f"--map names columns the header does not have: {', '.join(absent)}; "
                f"the header is: {', '.join(header)}"
            )
        return "orders", read_orders(records, mapping, zone)
    if fmt == "shopify" or is_shopify(header):
        missing = [column for column in SHOPIFY_SIGNATURE if column not in header]
        if missing:
            raise FormatError(f"not Shopify's order export: the header lacks {', '.join(missing)}")
        return "shopify", read_shopify(records, zone)
    shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
    raise FormatError(
        f"unrecognised CSV header ({shown}): neither winback event JSON lines nor Shopify's "
        "order export; for another orders CSV, map its columns with "
        "--map client_id=COLUMN,order_id=COLUMN,amount=COLUMN,occurred_at=COLUMN"
    )
