"""Rows to events the API would accept, in chunks.

Each envelope is validated exactly as `POST /v1/events/batch` validates an item (the
discriminated union `event_adapter`, then the policy's rules in `events.service.check`) and gets
the canonical body and digest `events.service.record` stores. A row whose envelopes do not all
pass is refused whole (an order is never half imported), with its line and the column or field
that failed. Chunks hold whole rows; the loader commits each chunk in one transaction.

Pure but for reading the file: no database; `now` is an argument. It runs in the importing
process or, for large files, in a child process beside it (`service`), so that validating the
next chunk overlaps PostgreSQL's work on this one.
"""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from pydantic import ValidationError

from app.events.schemas import event_adapter
from app.events.service import canonical_body, check
from app.imports.readers import Format, FormatError, Lines, Row, Source, open_rows
from app.kit.problems import FieldError, field_errors
from app.policy.schemas import Policy


@dataclass(frozen=True)
class ReadOptions:
    format: str = "auto"  # "auto", or one of readers.FORMATS
    mapping: Mapping[str, str] | None = None  # the orders CSV's --map
    timezone: str | None = None  # for CSV times without a zone
    chunk_events: int = 50_000  # events per committed chunk (whole rows: an order never splits)


class Prepared(NamedTuple):
    """An event that passed validation: what the staging table receives (a tuple: chunks cross
    to the importing process pickled, and tuples pickle fast)."""

    line: int
    id: str
    client_id: str
    type: str
    occurred_at: datetime
    body: str  # the canonical body, as JSON text
    digest: str  # its SHA-256, as `record` computes it
    client: dict[str, Any] | None  # the attribute upsert it carries


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    id: str | None
    field: str
    reason: str


@dataclass
class Chunk:
    events: list[Prepared] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    rows: int = 0  # rows read: orders, events, Shopify's further line items, refused rows
    line_items: int = 0  # Shopify: further line items of an order (nothing of their own)
    duplicates: int = 0  # an id seen earlier in this chunk with the same body
    bytes_read: int = 0  # of the file, at the end of this chunk


def zone_of(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        message = f"--timezone: unknown time zone {name!r} (e.g. UTC, Europe/Paris)"
        raise FormatError(message) from None


def column_of(path: str, columns: Mapping[str, str]) -> str:
    """The file column an envelope field came from (its longest mapped prefix), else the path."""
    probe = path
    while probe:
        if columns.get(probe):
            return columns[probe]
        probe = probe.rpartition(".")[0]
    return path


def refusal(
    line: int, event: Mapping[str, Any], errors: Sequence[FieldError], source: Source
) -> Rejected:
    raw_id = event.get("id")
    named = [(column_of(e.field, source.columns), e.message) for e in errors]
    fields = ", ".join(dict.fromkeys(column for column, _ in named))
    if len(named) == 1:
        reason = named[0][1]
    else:
        reason = "; ".join(f"{column}: {message}" for column, message in named)
    return Rejected(line, raw_id if isinstance(raw_id, str) else None, fields, reason)


def validate(row: Row, policy: Policy, now: datetime) -> tuple[list[Prepared], Rejected | None]:
    """The row's events as `record` would store them, or why the row is refused."""
    if row.error is not None:
        return [], Rejected(row.line, None, row.error.field, row.error.reason)
    prepared = []
    for source in row.events:
        event = source.event
        try:
            envelope = event_adapter.validate_python(event)
        except ValidationError as exc:
            return [], refusal(row.line, event, field_errors(exc.errors()), source)
        problem = check(envelope, policy, now)
        if problem is not None:
            errors = problem.errors or [FieldError(field="body", message=str(problem), type="")]
            return [], refusal(row.line, event, errors, source)
        body, digest = canonical_body(envelope)
        prepared.append(
            Prepared(
                row.line,
                envelope.id,
                envelope.client_id,
                body["type"],
                envelope.occurred_at,
                json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                digest,
                body.get("client"),
            )
        )
    return prepared, None


def same_event(stored_body: dict[str, Any], digest: str) -> bool:
    """Whether a stored body is the same event as one with this digest, as `record` judges an
    id stored with another digest (a body stored under an older way of computing digests)."""
    try:
        return canonical_body(event_adapter.validate_python(stored_body))[1] == digest
    except ValueError:
        return False


def chunked(
    rows: Iterable[Row], lines: Lines, policy: Policy, now: datetime, size: int
) -> Iterator[Chunk]:
    """Validated rows in chunks of about `size` events (whole rows). The same id twice in a
    chunk: the second is judged against the first (a duplicate, or refused as a conflict); an
    id stored by an earlier chunk is judged by the database."""
    chunk = Chunk()
    seen: dict[str, tuple[str, int]] = {}
    for row in rows:
        chunk.rows += 1
        if row.line_item:
            chunk.line_items += 1
            continue
        prepared, rejected = validate(row, policy, now)
        if rejected is not None:
            chunk.rejected.append(rejected)
        for event in prepared:
            earlier = seen.get(event.id)
            if earlier is None:
                seen[event.id] = (event.digest, event.line)
                chunk.events.append(event)
            elif earlier[0] == event.digest:
                chunk.duplicates += 1
            else:
                chunk.rejected.append(
                    Rejected(
                        event.line,
                        event.id,
                        "id",
                        f"conflict: line {earlier[1]} has the same event id with another body",
                    )
                )
        if len(chunk.events) >= size:
            chunk.bytes_read = lines.bytes_read
            yield chunk
            chunk = Chunk()
            seen = {}
    chunk.bytes_read = lines.bytes_read
    yield chunk


@dataclass
class Opened:
    """A history file opened for reading: its format, its lines and its rows."""

    format: Format
    lines: Lines
    rows: Iterator[Row]
    handle: BinaryIO

    def close(self) -> None:
        self.handle.close()


def open_file(path: Path, options: ReadOptions) -> Opened:
    """Open the file and recognise its format. Raises FormatError (an unrecognised header, a
    mapping that does not fit) or OSError (missing, unreadable) before any row is read."""
    handle = path.open("rb")
    try:
        lines = Lines(handle)
        fmt, rows = open_rows(lines, options.format, options.mapping, zone_of(options.timezone))
    except BaseException:
        handle.close()
        raise
    return Opened(fmt, lines, rows, handle)


def inspect(path: Path, options: ReadOptions) -> Format:
    """The file's format, or FormatError / OSError at once."""
    opened = open_file(path, options)
    opened.close()
    return opened.format


def read_chunks(
    path: Path, options: ReadOptions, policy: Policy, now: datetime
) -> tuple[Format, Iterator[Chunk]]:
    """The file's format and its chunks (the file closes when they are all read)."""
    opened = open_file(path, options)

    def chunks() -> Iterator[Chunk]:
        with opened.handle:
            yield from chunked(opened.rows, opened.lines, policy, now, options.chunk_events)

    return opened.format, chunks()
