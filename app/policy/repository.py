"""SQL for the policy row."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.policy.models import PolicyRow


async def load(session: AsyncSession) -> PolicyRow | None:
    return await session.get(PolicyRow, 1)


async def lock_version(session: AsyncSession) -> int:
    """The stored policy's version (0 before the first change), locked until the transaction ends,
    so a version check and the save that follows cannot interleave with another change."""
    version = await session.scalar(
        select(PolicyRow.version).where(PolicyRow.id == 1).with_for_update()
    )
    return int(version or 0)


async def save_policy(
    session: AsyncSession, body: dict[str, Any], updated_by: str | None, now: datetime
) -> int:
    """Store the policy and bump its version; returns the new version."""
    statement = insert(PolicyRow).values(
        id=1, body=body, version=1, updated_at=now, updated_by=updated_by
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[PolicyRow.id],
        set_={
            "body": statement.excluded.body,
            "version": PolicyRow.version + 1,
            "updated_at": statement.excluded.updated_at,
            "updated_by": statement.excluded.updated_by,
        },
    ).returning(PolicyRow.version)
    return int((await session.execute(upsert)).scalar_one())
