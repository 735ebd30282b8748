"""Outgoing webhook endpoints over HTTP (admin): register, list, read, change, delete, rotate the
secret, send a test, read the delivery log, replay. Thin: parse, call the service, answer."""

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response

from app.auth.dependencies import Admin
from app.db import SessionDep
from app.kit.deps import Now
from app.kit.problems import problem_responses
from app.webhooks import service
from app.webhooks.dependencies import GuardDep, SecretKeyDep
from app.webhooks.schemas import (
    CREATE_EXAMPLE,
    DeliveryPage,
    EndpointCreate,
    EndpointCreated,
    EndpointPage,
    EndpointPatch,
    EndpointRead,
    ReplayRequest,
    ReplayStarted,
    SecretRotated,
    SecretRotation,
    TestSent,
)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])

EndpointIdPath = Annotated[str, Path(min_length=1, max_length=32, examples=["we_3f9a1c0d5e7b2a48"])]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=600)]

VERIFY = (
    "Each message is a POST with a JSON body `{type, timestamp, data}` and the Standard Webhooks "
    "headers `webhook-id` (the same on every retry), `webhook-timestamp` and `webhook-signature` "
    "(`v1,<base64 HMAC-SHA256 of id.timestamp.body>`); verify it with the secret using any "
    "Standard Webhooks library, and answer 2xx within 15 s."
)


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreated,
    summary="Register a webhook endpoint; its signing secret is shown once",
    description=(
        "winback POSTs the events of `event_types` to `url` from now on: "
        "`client.status_changed`, `client.tier_changed`, `campaign.created` (payloads in the "
        f"document's `webhooks` section). {VERIFY} The answer carries the `secret` (`whsec_...`) "
        "this once; it is stored encrypted and never shown again (rotate it to get a new one).\n\n"
        "The URL must be https and must not point at a private, loopback, link-local or other "
        "non-public address (also checked on the address it resolves to at every delivery); "
        "`WINBACK_WEBHOOK_ALLOW_HTTP` and `WINBACK_WEBHOOK_ALLOWED_NETWORKS` relax that for "
        "development.\n\n"
        "Errors: 422 names the field: a URL refused (with the reason), an unknown or repeated "
        "event type."
    ),
    responses=problem_responses(400, 401, 403, 415, 422),
)
async def create_endpoint(
    body: Annotated[
        EndpointCreate,
        Body(openapi_examples={"crm": {"summary": "A CRM", "value": CREATE_EXAMPLE}}),
    ],
    session: SessionDep,
    guard: GuardDep,
    key: SecretKeyDep,
    now: Now,
    principal: Admin,
) -> EndpointCreated:
    return await service.create(session, body, guard, key, now, principal.key_id)


@router.get(
    "",
    response_model=EndpointPage,
    summary="List webhook endpoints, oldest first",
    description=(
        "Every endpoint with its URL, event types, whether it is enabled (and why not), and since "
        "when it has been failing; never the secret. Keyset-paginated: pass `next_cursor` as "
        "`cursor`.\n\n"
        "Errors: 422 for a `limit` out of 1..1000 or a `cursor` this API did not issue."
    ),
    responses=problem_responses(401, 403, 422),
)
async def list_endpoints(
    session: SessionDep, _: Admin, limit: Limit = 100, cursor: Cursor = None
) -> EndpointPage:
    return await service.list_page(session, cursor, limit)


@router.get(
    "/{endpoint_id}",
    response_model=EndpointRead,
    summary="One webhook endpoint (never its secret)",
    description=(
        "The endpoint as registered, whether it is enabled (`disabled_reason`: by an admin, a "
        "410 Gone answer, or failing for 5 days), `failing_since`, and the end of a rotation's "
        "overlap.\n\nErrors: 404 when no endpoint has this id."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def get_endpoint(endpoint_id: EndpointIdPath, session: SessionDep, _: Admin) -> EndpointRead:
    return await service.get(session, endpoint_id)


@router.patch(
    "/{endpoint_id}",
    response_model=EndpointRead,
    summary="Change a webhook endpoint: URL, event types, description, enabled",
    description=(
        "Sets the fields given and keeps the others. `enabled: false` stops deliveries (those "
        "waiting fail); `enabled: true` re-enables an endpoint disabled by hand, by a 410 or "
        "after failing for days, with a clean slate. What happened while it was disabled is not "
        "sent by itself: `POST .../replay` with the time it was disabled sends it.\n\n"
        "Errors: 404 when no endpoint has this id; 422 names the field (a URL refused, with the "
        "reason)."
    ),
    responses=problem_responses(400, 401, 403, 404, 415, 422),
)
async def patch_endpoint(
    endpoint_id: EndpointIdPath,
    patch: EndpointPatch,
    session: SessionDep,
    guard: GuardDep,
    now: Now,
    _: Admin,
) -> EndpointRead:
    return await service.update(session, endpoint_id, patch, guard, now)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook endpoint and its delivery log",
    description=(
        "Nothing more is sent to it; its deliveries, pending or not, and their attempts are "
        "deleted.\n\nErrors: 404 when no endpoint has this id."
    ),
    responses={204: {"description": "Deleted"}, **problem_responses(401, 403, 404, 422)},
)
async def delete_endpoint(endpoint_id: EndpointIdPath, session: SessionDep, _: Admin) -> Response:
    await service.delete(session, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    summary="Rotate the signing secret; the old one keeps signing during an overlap",
    description=(
        "Returns a new `secret` (shown once). Until `previous_secret_expires_at` every message "
        "carries two signatures in `webhook-signature`, one per secret, so the receiver can "
        "switch to the new secret whenever it likes within the overlap: "
        "`WINBACK_WEBHOOK_SECRET_OVERLAP_SECONDS` (24 h) unless `overlap_seconds` says otherwise; "
        "0 retires the old secret at once (it leaked).\n\n"
        "Errors: 404 when no endpoint has this id; 422 for an `overlap_seconds` out of 0..604800."
    ),
    responses=problem_responses(400, 401, 403, 404, 415, 422),
)
async def rotate_secret(
    endpoint_id: EndpointIdPath,
    request: Request,
    session: SessionDep,
    key: SecretKeyDep,
    now: Now,
    _: Admin,
    body: Annotated[
        SecretRotation | None,
        Body(
            openapi_examples={
                "policy": {"summary": "The policy's overlap (24 h)", "value": {}},
                "leaked": {
                    "summary": "Retire the old secret at once",
                    "value": {"overlap_seconds": 0},
                },
            }
        ),
    ] = None,
) -> SecretRotated:
    overlap = body.overlap_seconds if body and body.overlap_seconds is not None else None
    if overlap is None:
        overlap = request.app.state.settings.webhook_secret_overlap_seconds
    return await service.rotate_secret(session, endpoint_id, overlap, key, now)


@router.post(
    "/{endpoint_id}/test",
    status_code=202,
    response_model=TestSent,
    summary="Send a test message (`webhook.test`) to this endpoint",
    description=(
        "Queues a `webhook.test` message for this endpoint alone, whatever its event types and "
        "even while it is disabled; the worker signs and sends it at once, with the same "
        "retries as any message. Its outcome is in `GET .../deliveries`.\n\n"
        "Errors: 404 when no endpoint has this id."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def send_test(
    endpoint_id: EndpointIdPath, session: SessionDep, now: Now, _: Admin
) -> TestSent:
    return await service.send_test(session, endpoint_id, now)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    summary="The endpoint's delivery log: each message with its attempts, newest first",
    description=(
        "Each message sent or to be sent to this endpoint: its `webhook-id`, type, whether it "
        "came from an event, a replay or a test, its status (`pending`, `delivered`, `failed`) "
        "and next attempt, and every attempt with its outcome, status code, duration, error and "
        "the start of the answer. `status` keeps one status. Keyset-paginated: pass "
        "`next_cursor` as `cursor`.\n\n"
        "Errors: 404 when no endpoint has this id; 422 for a `limit` out of 1..1000 or a "
        "`cursor` this API did not issue."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def deliveries(
    endpoint_id: EndpointIdPath,
    session: SessionDep,
    _: Admin,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> DeliveryPage:
    return await service.deliveries_page(session, endpoint_id, status, cursor, limit)


@router.post(
    "/{endpoint_id}/replay",
    status_code=202,
    response_model=ReplayStarted,
    summary="Send again every event of the endpoint's types since a time",
    description=(
        "Queues a new delivery of every recorded event of the endpoint's current types from "
        "`since` on (events are kept for `WINBACK_WEBHOOK_RETENTION_DAYS`, 30 days), with their "
        "original `webhook-id`: a receiver that remembers the ids it processed skips the ones it "
        "has. Use it after an outage, or after re-enabling an endpoint.\n\n"
        "Errors: 404 when no endpoint has this id; 409 while it is disabled; 422 for a `since` "
        "in the future."
    ),
    responses=problem_responses(400, 401, 403, 404, 409, 415, 422),
)
async def replay(
    endpoint_id: EndpointIdPath,
    body: ReplayRequest,
    session: SessionDep,
    now: Now,
    _: Admin,
) -> ReplayStarted:
    return await service.replay(session, endpoint_id, body.since, now)
