"""GET, PUT and PATCH /v1/policy."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from app.auth.dependencies import Admin, ClientsReader
from app.db import SessionDep
from app.kit.deps import Now
from app.kit.problems import invalid, problem_responses, register_union_tags
from app.policy import service
from app.policy.dependencies import SnapshotDep
from app.policy.schemas import Policy

DEFAULT_BODY = Policy().model_dump(mode="json")

router = APIRouter(prefix="/v1/policy", tags=["policy"])


class PolicyRead(BaseModel):
    version: int = Field(description="bumped by every change; clients record the version they saw")
    policy: Policy


class VersionedPolicy(BaseModel):
    """What GET /v1/policy returns, sent back: `version` guards against overwriting a change
    someone else made since (a stale version is a 409)."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=0, description="the version you read")
    policy: Policy


def _body_kind(value: Any) -> str:
    return "versioned" if isinstance(value, dict) and "policy" in value else "bare"


# PUT takes the policy alone, or GET's answer `{version, policy}` as it came.
PolicyPut = Annotated[
    Annotated[Policy, Tag("bare")] | Annotated[VersionedPolicy, Tag("versioned")],
    Discriminator(_body_kind),
]
register_union_tags(["bare", "versioned"])


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
        "PUT it back — the policy alone, or GET's answer `{version, policy}` as it came, in "
        "which case a policy changed since you read it is a 409 instead of being overwritten "
        "(PATCH changes single fields). Reads use the new policy within seconds; the stored "
        "statuses of all clients are re-evaluated by the worker in the background, and "
        "`GET /v1/policy/reevaluation` shows how many are left.\n\n"
        "Errors: 422 names the field that is out of range or inconsistent with another; 409 "
        "when `version` is stale."
    ),
    responses=problem_responses(400, 401, 403, 409, 415, 422),
)
async def put_policy(
    body: Annotated[
        PolicyPut,
        Body(
            openapi_examples={
                "defaults": {"summary": "The defaults", "value": DEFAULT_BODY},
                "versioned": {
                    "summary": "GET's answer sent back (guarded by its version)",
                    "value": {"version": 3, "policy": DEFAULT_BODY},
                },
            }
        ),
    ],
    request: Request,
    session: SessionDep,
    now: Now,
    principal: Admin,
) -> PolicyChanged:
    policy, expected = (
        (body.policy, body.version)
        if isinstance(body, VersionedPolicy)
        else (
            body,
            None,
        )
    )
    version = await service.replace_policy(session, policy, principal.key_id, now, expected)
    request.app.state.snapshots.invalidate()
    return PolicyChanged(version=version, policy=policy, reevaluation="scheduled")


@router.patch(
    "",
    response_model=PolicyChanged,
    summary="Change some policy fields (admin); every client is re-evaluated in the background",
    description=(
        'Sets only the fields given (e.g. `{"at_risk_cycles": 2}`) and keeps the others; the '
        "result is validated as a whole, so a change that breaks a rule between fields names "
        "the field. Send `version` (the one you read) beside the fields to refuse the change "
        "if someone else changed the policy since (409).\n\n"
        "Errors: 422 names an unknown or invalid field; 409 when `version` is stale."
    ),
    responses=problem_responses(400, 401, 403, 409, 415, 422),
)
async def patch_policy(
    changes: Annotated[
        dict[str, Any],
        Body(openapi_examples={"one": {"summary": "One field", "value": {"at_risk_cycles": 2}}}),
    ],
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    principal: Admin,
) -> PolicyChanged:
    changes = dict(changes)
    expected = changes.pop("version", None)
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
        raise invalid("version", "must be the integer version you read", "int_type")
    policy = service.patched(snapshot.policy, changes)
    version = await service.replace_policy(session, policy, principal.key_id, now, expected)
    request.app.state.snapshots.invalidate()
    return PolicyChanged(version=version, policy=policy, reevaluation="scheduled")
