"""create_app(): engine and sessionmaker in the lifespan, routers, problem handlers, guard."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from app import health
from app.auth.dependencies import rate_limiter
from app.backtests.endpoints import router as models_router
from app.campaigns.endpoints import router as campaigns_router
from app.clients.endpoints import router as clients_router
from app.clients.plan_endpoints import router as plans_router
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker, transaction
from app.ingest.endpoints import router as ingest_router
from app.ingest.groups import EventGroups
from app.integrations.endpoints import router as integrations_router
from app.kit import collector, docs, problems
from app.kit.guard import RequestGuard
from app.migrate import head_revision
from app.policy.endpoints import router as policy_router
from app.policy.service import SnapshotCache
from app.reports.endpoints import router as reports_router
from app.ui import endpoints as ui
from app.ui import service as ui_service
from app.webhooks import docs as webhook_docs
from app.webhooks.endpoints import router as webhooks_router

log = logging.getLogger("winback")

DESCRIPTION = """
winback tells a seller which clients are slipping away, which lost clients are worth winning
back, and how. Post order, request, contact and feedback events; read per-client churn status,
signals and value tier, at-risk lists and recovery plans.

Authentication: `Authorization: Bearer <key>` (in /docs: **Authorize**, paste the key). Keys
carry scopes: `events:write`, `clients:read`, `campaigns:write`, `admin` (which implies all);
each operation names the one it needs. No key or an unknown one is a 401, the wrong scope a 403.
The platform webhooks (`/v1/integrations/...`) take no key: the shop's signature over the body
authenticates them.

Errors are RFC 9457 `application/problem+json`. Money is a decimal string; timestamps are ISO 8601
in UTC.
"""


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """Build the app. `database_url` overrides settings (the CLI passes the embedded server's)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if url is None:
            raise RuntimeError("no database URL: use `winback serve` or set WINBACK_DATABASE_URL")
        engine = create_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_pre_ping=settings.db_pre_ping,
            pool_recycle=settings.db_recycle_seconds,
            pool_timeout=settings.db_pool_timeout_seconds,
            connect_args={
                "timeout": settings.db_connect_timeout_seconds,
                "command_timeout": settings.db_statement_timeout_seconds,
            },
        )
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        collector.settle()  # see app.kit.collector: GC pauses were the lists' p99
        # the dashboard's overview figures, computed once now so its first view need not wait
        warm_task = asyncio.create_task(
            ui_service.warm_overview(app.state.ui_overview, app.state.sessionmaker)
        )
        worker_task = None
        if settings.run_worker:
            from app.worker.loop import run_forever

            worker_task = asyncio.create_task(run_forever(app.state.sessionmaker, settings))
        try:
            yield
        finally:
            warm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warm_task
            if worker_task is not None:
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            await engine.dispose()

    app = FastAPI(
        title="winback",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=docs.OPENAPI_URL,
        docs_url=None,  # docs.install serves /docs and /redoc from local assets instead
        redoc_url=None,
        openapi_tags=[
            {"name": "events", "description": "Webhook intake: order, request, contact events"},
            {"name": "clients", "description": "Per-client state, lists, timeline, erasure"},
            {"name": "plans", "description": "Recovery plans: retain, win back or let go"},
            {"name": "campaigns", "description": "Win-back campaigns: segments, holdouts, results"},
            {"name": "reports", "description": "Churn by period and group; reasons by value lost"},
            {"name": "models", "description": "Population models, backtests on your own history"},
            {"name": "policy", "description": "The deployment's thresholds"},
            {
                "name": "webhooks",
                "description": "Outgoing webhooks: endpoints, secrets, delivery log, replay",
            },
            {"name": "integrations", "description": "Shopify and WooCommerce webhooks, as sent"},
            {"name": "operations", "description": "Health, readiness, metrics"},
        ],
    )
    app.state.settings = settings
    app.state.snapshots = SnapshotCache(settings.snapshot_ttl_seconds)
    app.state.key_cache = {}
    app.state.rate_limiter = rate_limiter(settings)
    app.state.event_groups = EventGroups(
        lambda: transaction(app.state.sessionmaker),
        settings.event_group_max_events,
        settings.event_groups_in_flight,
    )
    app.state.migration_head = head_revision()
    problems.install(app)
    docs.install(app)
    routers = (ingest_router, clients_router, plans_router, campaigns_router, reports_router)
    for router in (*routers, models_router, policy_router, webhooks_router, health.router):
        app.include_router(router)
    webhook_docs.install(app)  # the messages sent, in the document's `webhooks` section
    app.include_router(integrations_router)
    ui.install(app)  # the dashboard at /ui (not in the OpenAPI document)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        max_batch_body_bytes=settings.max_batch_body_bytes,
    )
    return app
