"""Client reads and writes: one client, lists (JSON or CSV), timeline, PATCH, erasure, stats."""

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from app.auth.dependencies import Admin, ClientsReader, EventsWriter
from app.churn.facts import ClientFacts
from app.clients import repository, service
from app.clients.models import Client
from app.clients.schemas import (
    ClientPage,
    ClientPatch,
    ClientRead,
    ClientSummary,
    ErasureRead,
    Stats,
    StatsCell,
    TimelineItem,
    TimelinePage,
)
from app.db import ReadSessionDep, SessionDep
from app.domain import DECISIONS, SIGNAL_CODES, STATUSES
from app.events import repository as events_repository
from app.events import service as events_service
from app.events.schemas import ClientUpdated
from app.kit import pagination
from app.kit.deps import CurrentSnapshot, Now, ReadSnapshot
from app.kit.problems import invalid, not_found, problem_responses
from app.policy.service import Snapshot

router = APIRouter(prefix="/v1", tags=["clients"])

ClientIdPath = Annotated[str, Path(min_length=1, max_length=128, examples=["acme"])]
AsOf = Annotated[
    AwareDatetime | None,
    Query(description="evaluate the client as it stood at this moment (events up to it)"),
]
CSV_COLUMNS = (
    "client_id",
    "name",
    "email",
    "phone",
    "market",
    "manager_id",
    "status",
    "tier",
    "decision",
    "value",
    "orders_count",
    "last_order_at",
    "expected_next_order_at",
    "signals",
    "lost_count",
)


async def client_or_404(session: Any, client_id: str) -> Client:
    client = await repository.get(session, client_id)
    if client is None:
        raise not_found(f"client {client_id!r}")
    return client


async def evaluated_client(
    session: Any, client_id: str, snapshot: Snapshot, now: datetime, as_of: datetime | None
) -> tuple[Client, ClientFacts, service.Assessment, datetime]:
    """The client (404 if unknown) evaluated now, or as of a past moment (422 if future)."""
    if as_of is not None and as_of > now:
        raise invalid("as_of", "must not be in the future", "future_as_of")
    client = await client_or_404(session, client_id)
    facts, assessment, moment = await service.current(session, client, snapshot, now, as_of)
    return client, facts, assessment, moment


@router.get(
    "/clients/{client_id}",
    response_model=ClientRead,
    summary="One client, evaluated now (or as of a past moment)",
    description=(
        "Everything winback knows about one client, computed at read time and never stale: "
        "status (`prospect`, `active`, `at_risk`, `lost`, `recovered`) and since when, the "
        "signals with their evidence, value and tier, the recovery decision, the purchase cycle "
        "and when the next order is expected. With `as_of`, the client as it stood at that "
        "moment: only events up to it count.\n\n"
        "Errors: 404 when no client has this id; 422 when `as_of` is in the future or has no "
        "time zone."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def get_client(
    client_id: ClientIdPath,
    session: ReadSessionDep,
    snapshot: ReadSnapshot,
    now: Now,
    _: ClientsReader,
    as_of: AsOf = None,
) -> ClientRead:
    client, _facts, assessment, moment = await evaluated_client(
        session, client_id, snapshot, now, as_of
    )
    return service.read_model(client, assessment, moment)


def _split(values: list[str] | None, allowed: tuple[str, ...], field: str) -> tuple[str, ...]:
    out: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if part and part not in allowed:
                raise invalid(field, f"{part!r} is not one of {', '.join(allowed)}", "enum")
            if part:
                out.append(part)
    return tuple(out)


@router.get(
    "/clients",
    response_model=ClientPage,
    summary="List clients (at-risk lists, win-back lists), keyset-paginated; CSV with Accept",
    description=(
        "Filters combine with AND; `status`, `tier` and `decision` take several values "
        "(repeated or comma-separated). Sorts: `value_desc` (default), `last_order_desc`, "
        "`overdue_desc`. Pages are stable under inserts: pass `next_cursor` as `cursor`. "
        "With `Accept: text/csv` the whole list (from `cursor` on) streams as CSV.\n\n"
        "Errors: 422 names the query parameter that is out of range or not one of its values, "
        "or a `cursor` this API did not issue (or issued for another `sort`)."
    ),
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 422),
    },
)
async def list_clients(
    session: ReadSessionDep,
    _: ClientsReader,
    status: Annotated[list[str] | None, Query(examples=["at_risk"])] = None,
    tier: Annotated[list[str] | None, Query(examples=["A"])] = None,
    market: Literal["b2b", "b2c"] | None = None,
    manager_id: Annotated[str | None, Query(max_length=128)] = None,
    signal: Literal[SIGNAL_CODES] | None = None,  # type: ignore[valid-type]
    decision: Annotated[list[str] | None, Query(examples=["return_first"])] = None,
    min_value: Annotated[Decimal | None, Query(ge=0, max_digits=20, decimal_places=2)] = None,
    sort: Literal["value_desc", "last_order_desc", "overdue_desc"] = "value_desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    where = repository.ClientFilter(
        statuses=_split(status, STATUSES, "status"),
        tiers=_split(tier, ("A", "B", "C"), "tier"),
        market=market,
        manager_id=manager_id,
        signal=signal,
        decisions=_split(decision, DECISIONS, "decision"),
        min_value=min_value,
    )
    after = _after(cursor, sort)
    if accept and "text/csv" in accept:
        return StreamingResponse(
            _csv(session, where, sort, after),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="clients.csv"'},
        )
    rows = await repository.list_page(session, where, sort, after, limit + 1)
    items = [ClientSummary.model_validate(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = pagination.encode(
            [sort, repository.cursor_value(last, sort), last["client_id"]]
        )
    return ClientPage(items=items, next_cursor=next_cursor)


def _after(cursor: str | None, sort: str) -> tuple[str, str] | None:
    if cursor is None:
        return None
    cursor_sort, value, client_id = pagination.decode(cursor, 3)
    if cursor_sort != sort:
        raise invalid("cursor", f"was issued for sort={cursor_sort}, not {sort}", "invalid_cursor")
    if not isinstance(value, str) or not isinstance(client_id, str):
        raise pagination.bad_cursor()
    try:
        if sort == "value_desc":
            Decimal(value)
        elif value not in ("infinity", "-infinity"):
            datetime.fromisoformat(value)
    except ValueError:
        raise pagination.bad_cursor() from None
    return value, client_id


async def _csv(
    session: Any, where: repository.ClientFilter, sort: str, after: tuple[str, str] | None
) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    while True:
        rows = await repository.list_page(session, where, sort, after, 1000)
        for row in rows:
            summary = ClientSummary.model_validate(row).model_dump(mode="json")
            summary["signals"] = ";".join(summary["signals"])
            writer.writerow(["" if summary[c] is None else summary[c] for c in CSV_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < 1000:
            return
        last = rows[-1]
        after = (repository.cursor_value(last, sort), last["client_id"])


@router.get(
    "/clients/{client_id}/timeline",
    response_model=TimelinePage,
    summary="The client's events and status changes, newest first",
    description=(
        "The client's history in one stream: every event received (orders, requests, contacts, "
        "feedback, attribute changes) and every status change with the signals behind it, "
        "newest first. Keyset-paginated: pass `next_cursor` as `cursor` for the next page.\n\n"
        "Errors: 404 when no client has this id; 422 for a `limit` out of 1..1000 or a `cursor` "
        "this API did not issue."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def timeline(
    client_id: ClientIdPath,
    session: ReadSessionDep,
    _: ClientsReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
) -> TimelinePage:
    await client_or_404(session, client_id)
    before: tuple[datetime, str] | None = None
    if cursor is not None:
        at_text, item_id = pagination.decode(cursor, 2)
        try:
            before = (datetime.fromisoformat(str(at_text)), str(item_id))
        except ValueError:
            raise pagination.bad_cursor() from None
    # Both streams are read newest first from their own index and merged here.
    events = await events_repository.page_for_client(session, client_id, before, limit + 1)
    changes = await repository.status_changes_page(session, client_id, before, limit + 1)
    merged = [
        TimelineItem(
            kind="event",
            at=e.occurred_at,
            id=e.id,
            type=e.type,
            data=e.body.get("data") or {},
            client=e.body.get("client"),
        )
        for e in events
    ] + [
        TimelineItem(
            kind="status_change",
            at=c.at,
            id=repository.status_change_item_id(c.id),
            type="status_change",
            data={"from": c.from_status, "to": c.to_status, "signals": c.signals},
        )
        for c in changes
    ]
    merged.sort(key=lambda item: (item.at, item.id), reverse=True)
    page = merged[:limit]
    next_cursor = None
    if len(merged) > limit:
        last = page[-1]
        next_cursor = pagination.encode([last.at.isoformat(), last.id])
    return TimelinePage(items=page, next_cursor=next_cursor)


@router.patch(
    "/clients/{client_id}",
    response_model=ClientRead,
    summary="Change a client's attributes (recorded as a client.updated event)",
    description=(
        "Sets the attributes given in the body (name, contacts, market, manager, tags, flags "
        "such as `do_not_contact`, custom attributes) and leaves the others as they are. The "
        "change is recorded as a `client.updated` event, so it shows in the timeline and "
        "`as_of` reads, and the client is re-evaluated; the answer is the client afterwards.\n\n"
        "Errors: 404 when no client has this id (create clients by posting events); 422 names "
        "the failing field."
    ),
    responses=problem_responses(400, 401, 403, 404, 415, 422),
)
async def patch_client(
    client_id: ClientIdPath,
    patch: ClientPatch,
    session: SessionDep,
    snapshot: CurrentSnapshot,
    now: Now,
    _: EventsWriter,
) -> ClientRead:
    client = await client_or_404(session, client_id)
    event = ClientUpdated(
        id=f"patch-{uuid.uuid4().hex}",
        type="client.updated",
        occurred_at=now,
        client_id=client_id,
        client=patch,
    )
    await events_service.ingest(session, [(0, event)], snapshot, now)
    await session.refresh(client)
    _facts, assessment, moment = await service.current(session, client, snapshot, now, None)
    return service.read_model(client, assessment, moment)


@router.delete(
    "/clients/{client_id}",
    response_model=ErasureRead,
    summary="Erase a client: its personal data and events are deleted, an audit row is kept",
    description=(
        "For erasure requests (GDPR art. 17). Deletes the client, all its events and its status "
        "history at once and for good; what remains is an audit row with a hash of the client "
        "id, the number of events deleted, the key that asked and when.\n\n"
        "Errors: 404 when no client has this id."
    ),
    responses=problem_responses(401, 403, 404),
)
async def erase_client(
    client_id: ClientIdPath, session: SessionDep, now: Now, principal: Admin
) -> ErasureRead:
    await client_or_404(session, client_id)
    deleted = await repository.erase(session, client_id, principal.key_id, now)
    return ErasureRead(client_id=client_id, erased=True, events_deleted=deleted)


@router.get(
    "/stats",
    response_model=Stats,
    summary="Counts by status and tier, value at risk",
    description=(
        "The seller's overview: how many clients are in each status, the same split by value "
        "tier with the value in each cell, and the value of clients now at risk and now lost. "
        "Statuses are as last evaluated (on each event and by the worker's sweep)."
    ),
    responses=problem_responses(401, 403),
)
async def stats(session: ReadSessionDep, _: ClientsReader) -> Stats:
    cells = await repository.stats(session)
    by_status: dict[str, int] = {}
    for status_name, _tier, count, _value in cells:
        by_status[status_name] = by_status.get(status_name, 0) + count
    return Stats(
        clients=sum(by_status.values()),
        by_status=by_status,
        by_status_and_tier=[
            StatsCell(status=s, tier=t, clients=n, value=v)  # type: ignore[arg-type]
            for s, t, n, v in sorted(cells, key=lambda c: (c[0], c[1] or "~"))
        ],
        value_at_risk=sum((v for s, _, _, v in cells if s == "at_risk"), Decimal(0)),
        value_lost=sum((v for s, _, _, v in cells if s == "lost"), Decimal(0)),
    )
