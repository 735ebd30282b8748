"""The write endpoints: POST /v1/events, /v1/events/batch and PATCH /v1/clients/{id} (stored as a
`client.updated` event). Parse, hand to `ingest`, answer."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import ValidationError

from app.auth.dependencies import EventsWriter
from app.clients import service as clients_service
from app.clients.params import ClientIdPath
from app.clients.schemas import ClientPatch, ClientRead
from app.db import SessionDep
from app.events.schemas import (
    EXAMPLE_EVENT,
    BatchItemError,
    BatchResult,
    ClientUpdated,
    EventAccepted,
    EventIn,
    event_adapter,
)
from app.events.service import check
from app.ingest.groups import EventGroups
from app.ingest.service import IngestOutcome, ingest
from app.kit import metrics
from app.kit.deps import Now
from app.kit.problems import ProblemError, invalid, problem_responses, validation_problem
from app.policy.dependencies import SnapshotDep

router = APIRouter(prefix="/v1")


def _accepted(outcome: IngestOutcome) -> EventAccepted:
    return EventAccepted(
        id=outcome.id,
        client_id=outcome.client_id,
        duplicate=outcome.kind == "duplicate",
        status=outcome.status or "prospect",
        tier=outcome.tier,
        signals=outcome.signals,
    )


def _conflict(event_id: str) -> ProblemError:
    return ProblemError(
        409,
        "Conflict",
        f"event {event_id!r} was already received with a different body",
        slug="idempotency-conflict",
    )


def _item_error(index: int, event_id: str | None, problem: ProblemError) -> BatchItemError:
    """A refused batch item: the problem the same event would get alone, with its index."""
    return BatchItemError(
        index=index,
        id=event_id,
        status=problem.status,
        title=problem.title,
        detail=problem.detail or problem.title,
        errors=[e.model_dump() for e in problem.errors] if problem.errors else None,
    )


@router.post(
    "/events",
    tags=["events"],
    summary="Post one event",
    description=(
        "Records one event (an order placed, cancelled or refunded, a request, a contact, "
        "feedback, a client update or churn) and re-evaluates its client at once: the answer "
        "carries the client's status, tier and signals after the event. A 201 means it is "
        "committed. Idempotent by `id`: the same id again answers `duplicate: true` (200), so a "
        "retry is safe.\n\n"
        "Errors: 409 when the same id was received with a different body; 422 names the failing "
        "field (an unknown `type`, a missing field, an `occurred_at` too far in the future, a "
        "currency other than the policy's without `amount_in_base`, an unknown reason code); "
        "400 when the body is not JSON; 413 when it exceeds the body limit (1 MiB by default)."
    ),
    response_model=EventAccepted,
    status_code=201,
    responses={
        200: {"model": EventAccepted, "description": "Duplicate of an applied event"},
        **problem_responses(400, 401, 403, 409, 413, 415, 422),
    },
)
async def post_event(
    event: Annotated[
        EventIn, Body(openapi_examples={"order": {"summary": "An order", "value": EXAMPLE_EVENT}})
    ],
    request: Request,
    response: Response,
    snapshot: SnapshotDep,
    now: Now,
    _: EventsWriter,
) -> Any:
    problem = check(event, snapshot.policy, now)
    if problem:
        raise problem
    # written with the single events that came meanwhile, committed before the answer (the
    # request holds no session of its own: waiting on the group, it holds no connection)
    groups: EventGroups = request.app.state.event_groups
    outcome = await groups.apply(event, snapshot, now)
    metrics.EVENTS.labels(event.type, outcome.kind).inc()
    if outcome.kind == "conflict":
        raise _conflict(outcome.id)
    # the answer is encoded here, once (a returned model would be validated and encoded again),
    # with the headers the dependencies set (RateLimit-*)
    answer = Response(
        _accepted(outcome).model_dump_json(),
        status_code=200 if outcome.kind == "duplicate" else 201,
        media_type="application/json",
    )
    answer.headers.update(response.headers)
    return answer


@router.post(
    "/events/batch",
    tags=["events"],
    summary="Post up to 1,000 events",
    description=(
        "For imports and catch-up syncs. Each event is validated on its own: valid ones are "
        "applied (in one transaction, so a 200 means all of them are committed), invalid ones "
        "come back in `errors` with their index and the problem they would get alone (422 or "
        "409); the counts say how many were accepted, duplicates and rejected. Re-sending a "
        "batch is safe: events already applied count as duplicates.\n\n"
        "Errors for the whole batch: 422 when the body is not a list of at most 1,000 objects "
        "(`WINBACK_MAX_BATCH_EVENTS`); "
        "400 when it is not JSON; 413 when it exceeds the batch body limit (8 MiB by default)."
    ),
    response_model=BatchResult,
    responses=problem_responses(400, 401, 403, 413, 415, 422),
)
async def post_batch(
    events: Annotated[
        list[dict[str, Any]],
        Body(openapi_examples={"batch": {"summary": "A batch", "value": [EXAMPLE_EVENT]}}),
    ],
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    _: EventsWriter,
) -> BatchResult:
    limit = request.app.state.settings.max_batch_events
    if len(events) > limit:
        raise invalid("body", f"a batch holds at most {limit} events", "too_long")
    errors: list[BatchItemError] = []
    valid = []
    for index, raw in enumerate(events):
        try:
            envelope = event_adapter.validate_python(raw)
        except ValidationError as exc:
            raw_id = raw.get("id") if isinstance(raw.get("id"), str) else None
            errors.append(_item_error(index, raw_id, validation_problem(exc.errors())))
            continue
        problem = check(envelope, snapshot.policy, now)
        if problem:
            errors.append(_item_error(index, envelope.id, problem))
        else:
            valid.append((index, envelope))
    outcomes = await ingest(session, valid, snapshot, now)
    items = []
    for outcome in outcomes:
        if outcome.kind == "conflict":
            errors.append(_item_error(outcome.index, outcome.id, _conflict(outcome.id)))
        else:
            items.append(_accepted(outcome))
    kinds = {outcome.index: outcome.kind for outcome in outcomes}
    for index, envelope in valid:
        metrics.EVENTS.labels(envelope.type, kinds[index]).inc()  # type: ignore[attr-defined]
    errors.sort(key=lambda e: e.index)
    accepted = sum(1 for o in outcomes if o.kind == "accepted")
    duplicates = sum(1 for o in outcomes if o.kind == "duplicate")
    return BatchResult(
        accepted=accepted,
        duplicates=duplicates,
        rejected=len(errors),
        items=items,
        errors=errors,
    )


@router.patch(
    "/clients/{client_id}",
    tags=["clients"],
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
    snapshot: SnapshotDep,
    now: Now,
    _: EventsWriter,
) -> ClientRead:
    client = await clients_service.client_or_404(session, client_id)
    event = ClientUpdated(
        id=f"patch-{uuid.uuid4().hex}",
        type="client.updated",
        occurred_at=now,
        client_id=client_id,
        client=patch,
    )
    await ingest(session, [(0, event)], snapshot, now)
    await session.refresh(client)
    found = await clients_service.evaluated_client(session, client_id, snapshot, now, None)
    return found.read_model()
