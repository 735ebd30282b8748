"""The two reference servers of SPEC §13, each started as `uvicorn --factory`:

- `create_validate_app`: FastAPI + winback's own `EventIn` schema, answers 201, touches nothing.
  The upper bound for the web layer (same framework, same validation, no database).
- `create_ingest_app`: a minimal transactional ingest, FastAPI + an asyncpg pool used directly.
  It validates with `EventIn` like winback (a real ingest must), then in one transaction inserts
  the event row (id primary key; ON CONFLICT DO NOTHING for idempotency) and upserts one
  aggregate row per client (orders_count + 1, revenue + amount, last_order_at greatest). Its own
  tables in its own database (`BENCH_REF_DATABASE_URL`). The database bound.
"""

import contextlib
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse

from app.events.schemas import EventIn, OrderPlaced

REF_SCHEMA = """
CREATE TABLE IF NOT EXISTS ref_event (
    id          varchar(200) PRIMARY KEY,
    client_id   varchar(128) NOT NULL,
    type        varchar(32)  NOT NULL,
    occurred_at timestamptz  NOT NULL,
    body        jsonb        NOT NULL
);
CREATE TABLE IF NOT EXISTS ref_client (
    client_id     varchar(128) PRIMARY KEY,
    orders_count  integer        NOT NULL DEFAULT 0,
    revenue       numeric(20, 2) NOT NULL DEFAULT 0,
    last_order_at timestamptz
);
"""

INSERT_EVENT = """
INSERT INTO ref_event (id, client_id, type, occurred_at, body)
VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT (id) DO NOTHING
RETURNING true
"""

UPSERT_CLIENT = """
INSERT INTO ref_client AS c (client_id, orders_count, revenue, last_order_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (client_id) DO UPDATE SET
    orders_count  = c.orders_count + excluded.orders_count,
    revenue       = c.revenue + excluded.revenue,
    last_order_at = greatest(c.last_order_at, excluded.last_order_at)
RETURNING orders_count
"""


async def _healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_validate_app() -> FastAPI:
    app = FastAPI(title="bench: validate only")
    app.get("/healthz")(_healthz)

    @app.post("/v1/events", status_code=201)
    async def post_event(event: Annotated[EventIn, Body()]) -> dict[str, Any]:
        return {"id": event.id, "client_id": event.client_id, "duplicate": False}

    return app


def create_ingest_app() -> FastAPI:
    url = os.environ["BENCH_REF_DATABASE_URL"]
    pool_size = int(os.environ.get("BENCH_REF_POOL_SIZE", "40"))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            url, min_size=min(20, pool_size), max_size=pool_size
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="bench: minimal transactional ingest", lifespan=lifespan)
    app.get("/healthz")(_healthz)

    @app.post("/v1/events", status_code=201)
    async def post_event(event: Annotated[EventIn, Body()]) -> Any:
        if isinstance(event, OrderPlaced):
            orders, amount, last_order = 1, event.data.amount, event.occurred_at
        else:
            orders, amount, last_order = 0, Decimal(0), None
        body = event.model_dump_json(exclude_unset=True)
        async with app.state.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                INSERT_EVENT, event.id, event.client_id, event.type, event.occurred_at, body
            )
            if not inserted:
                return JSONResponse({"id": event.id, "duplicate": True}, status_code=200)
            count = await conn.fetchval(UPSERT_CLIENT, event.client_id, orders, amount, last_order)
        return {"id": event.id, "client_id": event.client_id, "duplicate": False, "orders": count}

    return app
