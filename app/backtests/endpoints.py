"""POST /v1/backtests, POST /v1/policy/tune, GET /v1/models/current, POST /v1/models/refit.
Thin: parse, call the service, return a schema."""

from typing import Annotated

from fastapi import APIRouter, Body, Request

from app.auth.dependencies import Admin, ClientsReader
from app.backtests import service
from app.backtests.schemas import (
    CUTOFF_EXAMPLE,
    BacktestRead,
    BacktestRequest,
    ModelRead,
    RefitRequest,
    TuneRead,
    TuneRequest,
)
from app.db import SessionDep
from app.kit.deps import Now
from app.kit.problems import problem_responses
from app.policy.dependencies import SnapshotDep

router = APIRouter(prefix="/v1", tags=["models"])


@router.post(
    "/backtests",
    response_model=BacktestRead,
    summary="Backtest the churn rules and scores on this seller's own history (admin)",
    description=(
        "Evaluates every client as it stood at `cutoff` with the same code as the write path "
        "(its events up to the cutoff; market cycles, tier and RFM cut points, repeat gaps and "
        "the purchase and spend models computed from the history up to the cutoff, never "
        "later) and compares with what happened: a client churned when it placed no order "
        "within `horizon_days`. Answers the AUC of status, churn_risk, p_alive and signals "
        "(and of plain recency, the fixed 90-day rule and the model's expected orders, for "
        "reference), precision and recall of at_risk + lost, churn by status and lift by "
        "decile. Clients without an order by the cutoff are left out. Nothing is written. "
        "Reads every event up to the cutoff: about a minute for 100,000 clients, hence admin "
        "only.\n\n"
        "Errors: 422 when `cutoff` is in the future or the horizon is not over yet."
    ),
    responses=problem_responses(400, 401, 403, 415, 422),
)
async def backtest(
    body: Annotated[
        BacktestRequest,
        Body(openapi_examples={"cutoff": {"summary": "A cutoff", "value": CUTOFF_EXAMPLE}}),
    ],
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    _: Admin,
) -> BacktestRead:
    return await service.run_backtest(session, snapshot, body.cutoff, body.horizon_days, now)


@router.post(
    "/policy/tune",
    tags=["policy"],
    response_model=TuneRead,
    summary="Propose churn thresholds and churn_risk weights that backtest best (admin)",
    description=(
        "Backtests the current policy at `cutoff`, screens a small grid of `at_risk_cycles`, "
        "`lost_cycles` and the repeat-gap quantiles of one- and two-time buyers' lines for the "
        "best AUC of status (then the F1 of at_risk + lost), fits the churn_risk weights "
        "(logistic regression on the same history), and backtests the proposal. `proposed` is "
        "a PATCH /v1/policy body of the fields that change. Changes nothing.\n\n"
        "Errors: 422 when `cutoff` is in the future or the horizon is not over yet."
    ),
    responses=problem_responses(400, 401, 403, 415, 422),
)
async def tune(
    body: Annotated[
        TuneRequest,
        Body(openapi_examples={"cutoff": {"summary": "A cutoff", "value": CUTOFF_EXAMPLE}}),
    ],
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    _: Admin,
) -> TuneRead:
    return await service.tune(session, snapshot, body.cutoff, body.horizon_days, now)


@router.get(
    "/models/current",
    response_model=ModelRead,
    summary="The purchase and spend models in force: parameters, fit, convergence",
    description=(
        "The current fit of MBG/NBD (purchases and dropout) and Gamma-Gamma (spend): "
        "parameters, how many clients, log-likelihood, when it was fitted and on the history up "
        "to when, how long the fit took, whether it converged or fell back to documented "
        "defaults (and why), and how many clients are still to be re-scored with it.\n\n"
        "Errors: 404 before the first fit."
    ),
    responses=problem_responses(401, 403, 404),
)
async def current_model(session: SessionDep, _: ClientsReader) -> ModelRead:
    return await service.current_model(session)


@router.post(
    "/models/refit",
    response_model=ModelRead,
    summary="Refit the purchase and spend models now (admin)",
    description=(
        "Fits the models on every order up to `as_of` (default now); the fit becomes the "
        "current one and every client with an order is re-scored by the worker, spread over "
        "policy.model_rescore_seconds (the worker also refits every "
        "policy.model_refit_seconds).\n\n"
        "Errors: 409 while another refit runs; 422 when `as_of` is in the future."
    ),
    responses=problem_responses(400, 401, 403, 409, 415, 422),
)
async def refit(
    body: Annotated[
        RefitRequest,
        Body(openapi_examples={"now": {"summary": "On the history up to now", "value": {}}}),
    ],
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    _: Admin,
) -> ModelRead:
    found = await service.refit(session, snapshot.policy, body.as_of, now)
    request.app.state.snapshots.invalidate()
    return found
