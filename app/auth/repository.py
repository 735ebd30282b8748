"""SQL for API keys (the `api_key` table): only hashes go in, never a plain key."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey


async def insert(
    session: AsyncSession,
    key_id: str,
    name: str,
    key_sha256: str,
    scopes: Sequence[str],
    now: datetime,
) -> None:
    session.add(
        ApiKey(id=key_id, name=name, key_sha256=key_sha256, scopes=list(scopes), created_at=now)
    )
    await session.flush()


async def active_by_hash(session: AsyncSession, key_sha256: str) -> ApiKey | None:
    """The key with this hash, unless it is revoked."""
    statement = select(ApiKey).where(ApiKey.key_sha256 == key_sha256, ApiKey.revoked_at.is_(None))
    return await session.scalar(statement)


async def active_by_id(session: AsyncSession, key_id: str) -> ApiKey | None:
    """The key with this id, unless it is revoked (the dashboard's session re-check)."""
    statement = select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    return await session.scalar(statement)


async def revoke(session: AsyncSession, key_id: str, now: datetime) -> bool:
    """Mark an active key revoked; False when no such key exists or it already is revoked."""
    statement = (
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiKey.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def all_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    return list(await session.scalars(statement))
