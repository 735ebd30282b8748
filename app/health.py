"""/healthz (process up), /readyz (database reachable, migrations at head, webhooks not
behind), /metrics."""

import logging
import os
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from app.kit import metrics as gauges
from app.kit.deps import Now
from app.migrate import current_revision
from app.webhooks import repository as webhooks

log = logging.getLogger("winback")

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="The process is up",
    description="Liveness: 200 while the process answers; it does not touch the database. No key.",
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head; webhooks are not behind",
    description=(
        "Readiness: 200 when the database answers, its schema is at the migration head and no "
        "outgoing webhook message has waited to be sent longer than "
        "`WINBACK_WEBHOOK_BACKLOG_MAX_AGE_SECONDS` (600; 0 leaves webhooks out); 503 with the "
        "reason (the database error's name, the current and head revisions, or the age of the "
        "oldest waiting message) otherwise. No key."
    ),
    responses={503: {"description": "not ready"}},
)
async def readyz(request: Request, now: Now) -> JSONResponse:
    head = request.app.state.migration_head
    limit = request.app.state.settings.webhook_backlog_max_age_seconds
    try:
        revision = await current_revision(request.app.state.engine)
        oldest = None
        if revision == head and limit > 0:
            async with request.app.state.sessionmaker() as session:
                oldest = await webhooks.oldest_due(session, now)
    except Exception as exc:  # any database failure means "not ready", with the reason
        return JSONResponse(
            {"status": "unavailable", "database": type(exc).__name__}, status_code=503
        )
    if revision != head:
        body = {"status": "migrations pending", "revision": revision, "head": head}
        return JSONResponse(body, status_code=503)
    answer: dict[str, Any] = {"status": "ok", "revision": revision, "head": head}
    if limit > 0:
        waited = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
        answer["webhook_backlog_age_seconds"] = round(waited, 1)
        if waited > limit:
            answer["status"] = "webhook backlog behind"
            return JSONResponse(answer, status_code=503)
    return JSONResponse(answer)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description=(
        "Request latencies by route and status, events by type and outcome, status changes, "
        "clients swept and due, outgoing webhook attempts by outcome and the webhook backlog "
        "(size and age, read from the database), in the Prometheus text format. No key: "
        "expose it to the scraper only."
    ),
    response_class=Response,
)
async def metrics(request: Request, now: Now) -> Response:
    try:
        async with request.app.state.sessionmaker() as session:
            backlog = await webhooks.backlog(session, now)
    except Exception as exc:  # the process's own metrics are still worth serving
        log.warning("webhook backlog not read for /metrics: %r", exc)
    else:
        gauges.WEBHOOK_BACKLOG.set(backlog.due)
        age = (now - backlog.oldest).total_seconds() if backlog.oldest else 0.0
        gauges.WEBHOOK_BACKLOG_AGE.set(max(age, 0.0))
        gauges.WEBHOOK_RETRIES_SCHEDULED.set(backlog.scheduled)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def exposition() -> bytes:
    """This process's metrics; under `serve --workers N` (PROMETHEUS_MULTIPROC_DIR set) those of
    every process that wrote to that directory, the worker child's included, added up."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return generate_latest()
    # a fresh registry: the default one holds this process's values alone
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)
