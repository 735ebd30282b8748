"""`Authorization: Bearer <key>` with scopes: 401 without a valid key, 403 with the wrong scope."""

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from app.auth.service import Principal, digest, find
from app.db import SessionDep
from app.kit.problems import ProblemError

# Verified keys are remembered briefly so a write does not pay a key lookup each time;
# a revoked key stops working within this many seconds.
KEY_CACHE_SECONDS = 30.0


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "Unauthorized", detail, slug="unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


async def authenticate(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("send `Authorization: Bearer <key>`")
    key = key.strip()
    cache: dict[str, tuple[Principal, float]] = request.app.state.key_cache
    hashed = digest(key)
    cached = cache.get(hashed)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    principal = await find(session, key, request.app.state.settings.admin_key)
    if principal is None:
        raise _unauthorized("the key is unknown or revoked")
    if len(cache) > 10_000:
        cache.clear()
    cache[hashed] = (principal, time.monotonic() + KEY_CACHE_SECONDS)
    return principal


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> Principal:
        if not principal.allows(scope):
            raise ProblemError(
                403, "Forbidden", f"this key lacks the `{scope}` scope", slug="forbidden"
            )
        return principal

    return dependency


EventsWriter = Annotated[Principal, Depends(require("events:write"))]
ClientsReader = Annotated[Principal, Depends(require("clients:read"))]
Admin = Annotated[Principal, Depends(require("admin"))]
