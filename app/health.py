"""/healthz (process up), /readyz (database reachable, migrations at head), /metrics."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.migrate import current_revision

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
    summary="The database is reachable and migrated to head",
    description=(
        "Readiness: 200 when the database answers and its schema is at the migration head; 503 "
        "with the reason (the database error's name, or the current and head revisions) "
        "otherwise. No key."
    ),
    responses={503: {"description": "not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    head = request.app.state.migration_head
    try:
        revision = await current_revision(request.app.state.engine)
    except Exception as exc:  # any database failure means "not ready", with the reason
        return JSONResponse(
            {"status": "unavailable", "database": type(exc).__name__}, status_code=503
        )
    ready = revision == head
    return JSONResponse(
        {"status": "ok" if ready else "migrations pending", "revision": revision, "head": head},
        status_code=200 if ready else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description=(
        "Request latencies by route and status, events by type and outcome, status changes, "
        "clients swept and due, in the Prometheus text format. No key: expose it to the "
        "scraper only."
    ),
    response_class=Response,
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
