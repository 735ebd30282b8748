"""The policy snapshot a request works with (cached per process for a couple of seconds)."""

from typing import Annotated

from fastapi import Depends, Request

from app.db import SessionDep
from app.policy.service import Snapshot


async def get_snapshot(request: Request, session: SessionDep) -> Snapshot:
    snapshot: Snapshot = await request.app.state.snapshots.get(session)
    return snapshot


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]
