"""GET/PUT /v1/policy."""

from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field

from app.auth.dependencies import Admin, ClientsReader
from app.db import SessionDep
from app.kit.deps import Now
from app.kit.problems import problem_responses
from app.policy import service
from app.policy.dependencies import SnapshotDep
from app.policy.schemas import Policy

DEFAULT_BODY = Policy().model_dump(mode="json")

router = APIRouter(prefix="/v1/policy", tags=["policy"])


class PolicyRead(BaseModel):
    version: int = Field(description="bumped by every change; clients record the version they saw")
    policy: Policy


class PolicyChanged(PolicyRead):
    reevaluation: str = Field(
        description="every client is re-evaluated under the new policy by the worker, in the "
        "background; GET /v1/policy/reevaluation shows progress"
    )


@router.get(
    "",
    response_model=PolicyRead,
    summary="The policy in force: thresholds, windows, reason codes, currency",
    description=(
        "The deployment's thresholds that decide statuses, signals, tiers and plans (how overdue "
        "is at risk and lost, the windows for requests, contacts and feedback, tier cut-points, "
        "reason codes, the currency), with its `version`. Every client read and plan is "
        "computed under this policy."
    ),
    responses=problem_responses(401, 403),
)
async def get_policy(snapshot: SnapshotDep, _: ClientsReader) -> PolicyRead:
    return PolicyRead(version=snapshot.version, policy=snapshot.policy)


@router.put(
    "",
    response_model=PolicyChanged,
    summary="Replace the policy (admin); every client is re-evaluated in the background",
    description=(
        "Replaces the whole policy and bumps `version`: fields left out take their defaults "
        "(the example shows them), not their current values, so GET the policy, change it and "
        "PUT it back. Reads use the new policy within seconds; the stored statuses of all "
        "clients are re-evaluated by the worker in the background, and "
        "`GET /v1/policy/reevaluation` shows how many are left.\n\n"
        "Errors: 422 names the field that is out of range or inconsistent with another."
    ),
    responses=problem_responses(400, 401, 403, 415, 422),
)
async def put_policy(
    policy: Annotated[
        Policy,
        Body(openapi_examples={"defaults": {"summary": "The defaults", "value": DEFAULT_BODY}}),
    ],
    request: Request,
    session: SessionDep,
    now: Now,
    principal: Admin,
) -> PolicyChanged:
    version = await service.replace_policy(session, policy, principal.key_id, now)
    request.app.state.snapshots.invalidate()
    return PolicyChanged(version=version, policy=policy, reevaluation="scheduled")
