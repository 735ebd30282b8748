"""Request-scoped dependencies shared by routers: the clock and the policy snapshot."""

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from app.db import ReadSessionDep, SessionDep
from app.kit.time import utcnow
from app.policy.service import Snapshot


async def get_now() -> datetime:
    """The one clock read of a request; tests override it to pin time."""
    return utcnow()


async def get_snapshot(request: Request, session: SessionDep) -> Snapshot:
    snapshot: Snapshot = await request.app.state.snapshots.get(session)
    return snapshot


async def get_read_snapshot(request: Request, session: ReadSessionDep) -> Snapshot:
    snapshot: Snapshot = await request.app.state.snapshots.get(session)
    return snapshot


Now = Annotated[datetime, Depends(get_now)]
CurrentSnapshot = Annotated[Snapshot, Depends(get_snapshot)]
ReadSnapshot = Annotated[Snapshot, Depends(get_read_snapshot)]
