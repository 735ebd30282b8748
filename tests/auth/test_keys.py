"""API keys in the database: the shape of a new key, that only its SHA-256 is stored, lookup,
revocation, listing, and what each scope allows."""

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.service import SCOPES, Principal, create_key, find, list_keys, revoke
from tests.conftest import NOW

KEY_SHAPE = re.compile(r"wbk_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")


async def stored_rows(session: AsyncSession) -> list[str]:
    """Every api_key row as PostgreSQL prints it: every column, whatever its name."""
    result = await session.execute(text("SELECT row_to_json(k)::text FROM api_key AS k"))
    return list(result.scalars())


async def test_a_new_key_is_wbk_its_id_and_a_long_random_secret(session: AsyncSession) -> None:
    key_id, key = await create_key(session, "shop", ["events:write"], NOW)
    shape = KEY_SHAPE.fullmatch(key)
    assert shape, key
    assert shape["id"] == key_id
    other_id, other = await create_key(session, "shop", ["events:write"], NOW)
    other_shape = KEY_SHAPE.fullmatch(other)
    assert other_shape and other_id != key_id and other_shape["secret"] != shape["secret"]


async def test_only_the_hash_of_a_key_is_stored(session: AsyncSession) -> None:
    key_id, key = await create_key(session, "crm", ["events:write", "clients:read"], NOW)
    secret = key.split("_", 2)[2]  # wbk_<key id>_<secret>

    row = await session.get(ApiKey, key_id)
    assert row is not None
    assert row.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert (row.name, row.scopes, row.created_at, row.revoked_at) == (
        "crm",
        ["clients:read", "events:write"],
        NOW,
        None,
    )
    rows = await stored_rows(session)
    assert any(key_id in line for line in rows)  # the row is there ...
    assert not any(secret in line for line in rows)  # ... but neither the key nor its secret


async def test_unknown_or_missing_scopes_are_refused_and_nothing_is_stored(
    session: AsyncSession,
) -> None:
    count = select(func.count()).select_from(ApiKey)
    before = await session.scalar(count)
    with pytest.raises(ValueError, match="scopes must be among"):
        await create_key(session, "typo", ["events:write", "event:write"], NOW)
    with pytest.raises(ValueError, match="scopes must be among"):
        await create_key(session, "none", [], NOW)
    assert await session.scalar(count) == before


async def test_find_knows_a_key_by_its_full_value_only(session: AsyncSession) -> None:
    key_id, key = await create_key(session, "reader", ["clients:read"], NOW)
    assert await find(session, key, None) == Principal(key_id, frozenset({"clients:read"}))

    stored_hash = hashlib.sha256(key.encode()).hexdigest()
    assert await find(session, stored_hash, None) is None  # a leaked hash is not a key
    assert await find(session, key[:-1], None) is None
    assert await find(session, key + "x", None) is None
    assert await find(session, f"wbk_{key_id}_", None) is None  # the public id alone


async def test_revoke_once_keeps_the_first_date_and_refuses_the_key(session: AsyncSession) -> None:
    key_id, key = await create_key(session, "leaked", ["admin"], NOW)
    revoked_at = NOW + timedelta(hours=1)
    assert await revoke(session, key_id, revoked_at) is True
    assert await find(session, key, None) is None

    assert await revoke(session, key_id, NOW + timedelta(days=1)) is False  # already revoked
    assert await revoke(session, "000000000000", NOW) is False  # no such key
    when = await session.scalar(select(ApiKey.revoked_at).where(ApiKey.id == key_id))
    assert when == revoked_at


async def test_list_keys_shows_revoked_keys_too_oldest_first(session: AsyncSession) -> None:
    newer_id, _ = await create_key(session, "newer", ["clients:read"], NOW + timedelta(hours=1))
    older_id, _ = await create_key(session, "older", ["events:write"], NOW - timedelta(hours=1))
    await revoke(session, older_id, NOW)

    mine = [k for k in await list_keys(session) if k.id in (newer_id, older_id)]
    assert [(k.id, k.revoked_at) for k in mine] == [(older_id, NOW), (newer_id, None)]


@pytest.mark.parametrize("scope", SCOPES)
def test_a_scope_allows_itself_and_admin_allows_every_scope(scope: str) -> None:
    only = Principal("k", frozenset({scope}))
    admin = Principal("k", frozenset({"admin"}))
    assert only.allows(scope)
    assert admin.allows(scope)
    others = [s for s in SCOPES if s != scope]
    if scope != "admin":
        assert not any(only.allows(other) for other in others)
