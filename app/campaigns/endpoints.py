"""Campaigns over HTTP: create (or preview), list, read, members (JSON or CSV), results, close.
Thin: parse, call the campaigns service, return a schema."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response

from app.auth.dependencies import ClientsReader
from app.campaigns import service
from app.campaigns.dependencies import CampaignsWriter
from app.campaigns.schemas import (
    CREATE_EXAMPLE,
    CampaignCreate,
    CampaignCreated,
    CampaignPage,
    CampaignPreview,
    CampaignRead,
    CampaignResults,
    Group,
    MemberPage,
)
from app.db import SessionDep
from app.domain import Identifier
from app.kit import csv
from app.kit.deps import Now
from app.kit.problems import problem_responses
from app.policy.dependencies import SnapshotDep

router = APIRouter(prefix="/v1", tags=["campaigns"])

# Identifier: text PostgreSQL can store (a NUL in the path is a 422 naming it, not a 500)
CampaignIdPath = Annotated[Identifier, Path(min_length=1, max_length=64, examples=["cmp_2026_q4"])]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=600)]


@router.post(
    "/campaigns",
    status_code=201,
    response_model=None,
    summary="Create a campaign: snapshot a segment with each member's plan, split off a holdout",
    description=(
        "Takes the clients the segment matches, evaluated now, with the recovery plan each has "
        "at this moment (decision, first step, offer, owner role), and holds out `holdout_pct` % "
        "of them by a stable hash of (campaign id, client id): they get no touches and measure "
        "the uplift. Clients marked `do_not_contact` are never taken, nor members of another "
        "running campaign unless `include_in_other_campaigns` is true. Touches refer to the "
        "campaign through `contact.logged` `data.campaign_id`.\n\n"
        "With `preview=true` nothing is created: the answer (200) gives the counts, the split and "
        "the value at stake, and the `id` the split was drawn with; create with that `id` to get "
        "exactly that split.\n\n"
        "Errors: 409 when a campaign has this `id`; 422 names the field that is out of range."
    ),
    responses={
        201: {"model": CampaignCreated, "description": "Created"},
        200: {"model": CampaignPreview, "description": "preview=true: nothing was created"},
        **problem_responses(400, 401, 403, 409, 415, 422),
    },
)
async def create_campaign(
    body: Annotated[
        CampaignCreate,
        Body(openapi_examples={"lost_tier_a": {"summary": "Lost tier A", "value": CREATE_EXAMPLE}}),
    ],
    response: Response,
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    principal: CampaignsWriter,
    preview: Annotated[bool, Query(description="count and split only; create nothing")] = False,
) -> CampaignCreated | CampaignPreview:
    if preview:
        response.status_code = 200
        return await service.preview(session, body, snapshot, now)
    return await service.create(session, body, snapshot, now, principal.key_id)


@router.get(
    "/campaigns",
    response_model=CampaignPage,
    summary="List campaigns, newest first",
    description=(
        "Every campaign with its counts and value at stake, newest first; `status` keeps the "
        "running or the closed ones. Keyset-paginated: pass `next_cursor` as `cursor`.\n\n"
        "Errors: 422 for a `limit` out of 1..1000 or a `cursor` this API did not issue."
    ),
    responses=problem_responses(401, 403, 422),
)
async def list_campaigns(
    session: SessionDep,
    _: ClientsReader,
    status: Literal["running", "closed"] | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> CampaignPage:
    return await service.list_page(session, status, cursor, limit)


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignRead,
    summary="One campaign: its segment, split, counts and value at stake",
    description=(
        "The campaign as created (segment, holdout, attribution window) with its members by "
        "group and their value, and whether it is running or closed.\n\n"
        "Errors: 404 when no campaign has this id."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def get_campaign(
    campaign_id: CampaignIdPath, session: SessionDep, _: ClientsReader
) -> CampaignRead:
    return await service.get(session, campaign_id)


@router.get(
    "/campaigns/{campaign_id}/members",
    response_model=MemberPage,
    summary="A campaign's members, one group at a time; CSV for a CRM with Accept: text/csv",
    description=(
        "The members of `group` (default `treatment`: the clients to contact; ask for "
        "`holdout` explicitly) in client id order, with the client's current contact fields and "
        "the plan of the snapshot: decision, first step, offer, owner role. Keyset-paginated: "
        "pass `next_cursor` as `cursor`. With `Accept: text/csv` the whole group (from `cursor` "
        "on) streams as CSV with the columns client_id, name, email, phone, manager_id, tier, "
        "status, value, decision, first_step_channel, first_step_action, first_step_day, offer, "
        "owner_role, campaign_id, group.\n\n"
        "Errors: 404 when no campaign has this id; 422 for a `cursor` this API did not issue (or "
        "issued for the other group)."
    ),
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(401, 403, 404, 422),
    },
)
async def members(
    campaign_id: CampaignIdPath,
    request: Request,
    session: SessionDep,
    _: ClientsReader,
    group: Group = "treatment",
    limit: Limit = 100,
    cursor: Cursor = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Any:
    if csv.wants_csv(accept):
        chunks = await service.members_csv(
            session, request.app.state.sessionmaker, campaign_id, group, cursor
        )
        return csv.response(chunks, f"{campaign_id}-{group}.csv")
    return await service.members_page(session, campaign_id, group, cursor, limit)


@router.get(
    "/campaigns/{campaign_id}/results",
    response_model=CampaignResults,
    summary="Results by group and the uplift over the holdout, with a 95 % interval",
    description=(
        "Per group: members; contacted (a `contact.logged` with this campaign's id since the "
        "start); responded (an inbound contact, or an outcome `reached`/`replied`, in the "
        "attribution window); returned (an order in the attribution window, not cancelled) and "
        "the recovered revenue (refunds taken off); the win-back rate (returned / members). The "
        "uplift is the treatment's rate minus the holdout's with Newcombe's hybrid score "
        "interval (95 %); `significant` when it leaves out 0. Holdout members who were "
        "contacted anyway stay in the holdout and are counted in its `contacted`.\n\n"
        "Errors: 404 when no campaign has this id."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def results(
    campaign_id: CampaignIdPath, session: SessionDep, now: Now, _: ClientsReader
) -> CampaignResults:
    return await service.results(session, campaign_id, now)


@router.post(
    "/campaigns/{campaign_id}/close",
    response_model=CampaignRead,
    summary="Close a campaign; after its window its outcomes become evidence for p_return",
    description=(
        "Stops the campaign: its members may join other campaigns. Closed once its attribution "
        "window has ended, it records each member's outcome, and its treatment group counts as "
        "evidence for `p_return` in recovery plans (`outcomes_recorded: true`); closed earlier, "
        "it does not. Closing a closed campaign changes nothing.\n\n"
        "Errors: 404 when no campaign has this id."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def close_campaign(
    campaign_id: CampaignIdPath, session: SessionDep, now: Now, _: CampaignsWriter
) -> CampaignRead:
    return await service.close(session, campaign_id, now)
