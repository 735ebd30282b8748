"""The policy snapshot a request works with (cached per process for a couple of seconds)."""

from typing import Annotated

from fastapi import Depends, Request

from app.policy.service import Snapshot


async def get_snapshot(request: Request) -> Snapshot:
    # read through a session of its own when the cache is stale, not the request's: a request
    # that only writes through a group commit (POST /v1/events) then opens no session at all
    snapshot: Snapshot = await request.app.state.snapshots.get(request.app.state.sessionmaker)
    return snapshot


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]
