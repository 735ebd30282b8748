"""API keys: creation (the plain key is shown once), lookup by SHA-256, scopes.

The SQL is in `app.auth.repository`; this module holds the rules: the key format, hashing,
scopes and the constant-time comparison with WINBACK_ADMIN_KEY.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth.models import ApiKey

SCOPES = ("events:write", "clients:read", "campaigns:write", "admin")
KEY_PREFIX = "wbk"


@dataclass(frozen=True)
class Principal:
    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """(key id, plain key). The id is public (it names the key in logs); the rest is secret."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


async def create_key(
    session: AsyncSession, name: str, scopes: list[str], now: datetime
) -> tuple[str, str]:
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {sorted(unknown)}")
    key_id, key = new_key()
    await repository.insert(session, key_id, name, digest(key), sorted(scopes), now)
    return key_id, key


async def find(session: AsyncSession, key: str, admin_key: str | None) -> Principal | None:
    if admin_key and hmac.compare_digest(key.encode(), admin_key.encode()):
        return Principal("env-admin", frozenset({"admin"}))
    row = await repository.active_by_hash(session, digest(key))
    return Principal(row.id, frozenset(row.scopes)) if row else None


async def active_principal(session: AsyncSession, key_id: str) -> Principal | None:
    """The principal of a stored key by its id, None once it is revoked (dashboard sessions)."""
    row = await repository.active_by_id(session, key_id)
    return Principal(row.id, frozenset(row.scopes)) if row else None


async def revoke(session: AsyncSession, key_id: str, now: datetime) -> bool:
    return await repository.revoke(session, key_id, now)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first (for `winback keys list`)."""
    return await repository.all_keys(session)
