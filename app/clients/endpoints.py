"""Client reads and erasure: one client, lists (JSON or CSV), timeline, stats, erasure, and the
progress of a policy re-evaluation. Thin: parse, call the clients service, return a schema."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, Field

from app.auth.dependencies import Admin, ClientsReader
from app.clients import repository, service
from app.clients.params import AsOf, ClientIdPath
from app.clients.schemas import ClientPage, ClientRead, ErasureRead, Stats, TimelinePage
from app.db import SessionDep
from app.domain import DECISIONS, STATUSES, TIERS, Market, SignalCode, Text
from app.kit import csv
from app.kit.deps import Now
from app.kit.problems import invalid, problem_responses
from app.policy.dependencies import SnapshotDep

router = APIRouter(prefix="/v1", tags=["clients"])

Sort = Literal["value_desc", "last_order_desc", "overdue_desc", "risk_desc", "clv_desc"]
XYZ_CLASSES = ("X", "Y", "Z")


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
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    _: ClientsReader,
    as_of: AsOf = None,
) -> ClientRead:
    found = await service.evaluated_client(session, client_id, snapshot, now, as_of)
    return found.read_model()


def _split(values: list[str] | None, allowed: tuple[str, ...], field: str) -> tuple[str, ...]:
    """`a,b` or repeated parameters, each one of `allowed` (a 422 naming the field if not)."""
    out: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if part and part not in allowed:
                raise invalid(field, f"{part!r} is not one of {', '.join(allowed)}", "enum")
            if part:
                out.append(part)
    return tuple(out)


def _rfm_codes(values: list[str] | None) -> tuple[str, ...]:
    """Three characters each, 1-5 or `_` (any score)."""
    codes = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if len(part) != 3 or any(ch not in "12345_" for ch in part):
                message = f"{part!r} is not three of 1-5 or _ (e.g. 155, 1_5)"
                raise invalid("rfm", message, "pattern")
            codes.append(part)
    return tuple(codes)


@router.get(
    "/clients",
    response_model=ClientPage,
    summary="List clients (at-risk lists, win-back lists), keyset-paginated; CSV with Accept",
    description=(
        "Filters combine with AND; `status`, `tier`, `decision`, `xyz` and `rfm` take several "
        "values (repeated or comma-separated). `min_risk` keeps clients whose `churn_risk` is at "
        "least that; `rfm` takes three-digit codes with `_` for any score (`1_5`: recency 1, "
        "monetary 5). Sorts: `value_desc` (default), `last_order_desc`, `overdue_desc`, "
        "`risk_desc` (churn risk, highest first), `clv_desc` (predicted CLV); clients without "
        "a score come last. Pages are stable under inserts: pass `next_cursor` as `cursor`. "
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
    request: Request,
    session: SessionDep,
    _: ClientsReader,
    status: Annotated[list[str] | None, Query(examples=["at_risk"])] = None,
    tier: Annotated[list[str] | None, Query(examples=["A"])] = None,
    market: Market | None = None,
    manager_id: Annotated[Text | None, Query(max_length=128)] = None,
    signal: SignalCode | None = None,
    decision: Annotated[list[str] | None, Query(examples=["return_first"])] = None,
    min_value: Annotated[Decimal | None, Query(ge=0, max_digits=20, decimal_places=2)] = None,
    min_risk: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)] = None,
    xyz: Annotated[list[str] | None, Query(examples=["X"])] = None,
    rfm: Annotated[list[str] | None, Query(examples=["1_5"])] = None,
    sort: Sort = "value_desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    where = repository.ClientFilter(
        statuses=_split(status, STATUSES, "status"),
        tiers=_split(tier, TIERS, "tier"),
        market=market,
        manager_id=manager_id,
        signal=signal,
        decisions=_split(decision, DECISIONS, "decision"),
        min_value=min_value,
        min_risk=min_risk,
        xyz=_split(xyz, XYZ_CLASSES, "xyz"),
        rfm=_rfm_codes(rfm),
    )
    if csv.wants_csv(accept):
        chunks = await service.list_csv(request.app.state.sessionmaker, where, sort, cursor)
        return csv.response(chunks, "clients.csv")
    return await service.list_page(session, where, sort, cursor, limit)


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
    session: SessionDep,
    _: ClientsReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
) -> TimelinePage:
    return await service.timeline(session, client_id, cursor, limit)


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
    responses=problem_responses(401, 403, 404, 422),
)
async def erase_client(
    client_id: ClientIdPath, session: SessionDep, now: Now, principal: Admin
) -> ErasureRead:
    deleted = await service.erase(session, client_id, principal.key_id, now)
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
async def stats(session: SessionDep, _: ClientsReader) -> Stats:
    return await service.stats(session)


class ReevaluationProgress(BaseModel):
    version: int
    clients_pending: int = Field(description="clients not yet evaluated under this version")


@router.get(
    "/policy/reevaluation",
    tags=["policy"],
    response_model=ReevaluationProgress,
    summary="Progress of the re-evaluation after a policy change",
    description=(
        "How many clients the worker has not yet re-evaluated under the current policy version; "
        "0 means every stored status, signal and tier reflects it."
    ),
    responses=problem_responses(401, 403),
)
async def reevaluation(
    session: SessionDep, snapshot: SnapshotDep, _: ClientsReader
) -> ReevaluationProgress:
    pending = await service.reevaluation_pending(session, snapshot.version)
    return ReevaluationProgress(version=snapshot.version, clients_pending=pending)
