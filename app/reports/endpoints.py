"""Reports over HTTP: churn by period and group, reasons by value lost; JSON or CSV. Thin."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BeforeValidator

from app.auth.dependencies import ClientsReader
from app.db import SessionDep
from app.kit import csv
from app.kit.deps import Now
from app.kit.problems import problem_responses
from app.policy.dependencies import SnapshotDep
from app.reports import service
from app.reports.schemas import ChurnReport, GroupBy, Interval, ReasonsReport

router = APIRouter(prefix="/v1/reports", tags=["reports"])


def _iso_day(value: object) -> object:
    """A day is written YYYY-MM-DD (a bare number would be read as seconds since 1970)."""
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value
    if isinstance(value, date):
        return value
    raise ValueError("must be a day written YYYY-MM-DD")


Day = Annotated[date, BeforeValidator(_iso_day)]
From = Annotated[Day | None, Query(alias="from", description="first day covered (UTC), YYYY-MM-DD")]
To = Annotated[Day | None, Query(description="last day covered (UTC), default today")]
Accept = Annotated[str | None, Header(include_in_schema=False)]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


@router.get(
    "/churn",
    response_model=ChurnReport,
    summary="Churn by period and group: clients at start, lost, churn rate, lost and recovered",
    description=(
        "Per calendar period (UTC; weeks start on Monday) from the one containing `from` through "
        "the one containing `to` (default: the last 12 months, 13 weeks or 4 quarters up to "
        "today), and per group when `group_by` is given: the clients active, at risk or "
        "recovered when the period began, the clients that became lost in it (each once), the "
        "churn rate (lost / clients at start), the value of the clients lost, and the lost "
        "clients that came back (recovered) and their value. Computed from the status history, "
        "so past periods show what was true then. Groups are the client's current tier, manager "
        "or market. With `Accept: text/csv` the rows come as CSV.\n\n"
        "Errors: 422 when `from` is after `to` or the range holds more than 520 periods."
    ),
    responses={**CSV_RESPONSE, **problem_responses(401, 403, 422)},
)
async def churn(
    session: SessionDep,
    now: Now,
    _: ClientsReader,
    from_: From = None,
    to: To = None,
    interval: Interval = "month",
    group_by: GroupBy | None = None,
    accept: Accept = None,
) -> Any:
    report = await service.churn(session, interval, from_, to, group_by, now)
    if csv.wants_csv(accept):
        return csv.response(service.churn_csv(report), "churn.csv")
    return report


@router.get(
    "/reasons",
    response_model=ReasonsReport,
    summary="Why clients were lost, ranked by the value they cost, with A/B/C classes",
    description=(
        "The clients that became lost from `from` through `to` (default: the last 365 days), "
        "each with its leading reason: the latest reason code it gave from its last order "
        "before the loss until it came back (`recorded`: exit interview, lost request, "
        "feedback, churn notice), else the one read from its signals when it was lost "
        "(`inferred`). Reasons are ranked by the value of the clients they cost, with their "
        "share of the value lost for a known reason, the cumulative share and a class: A up to "
        "80 %, B up to 95 %, C the rest. Also by reason group, and what was lost for no known "
        "reason. With `Accept: text/csv` the ranked reasons come as CSV.\n\n"
        "Errors: 422 when `from` is after `to`."
    ),
    responses={**CSV_RESPONSE, **problem_responses(401, 403, 422)},
)
async def reasons(
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    _: ClientsReader,
    from_: From = None,
    to: To = None,
    accept: Accept = None,
) -> Any:
    report = await service.reasons(session, from_, to, snapshot.policy, now)
    if csv.wants_csv(accept):
        return csv.response(service.reasons_csv(report), "reasons.csv")
    return report
