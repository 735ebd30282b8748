"""`Authorization: Bearer <key>` with scopes: 401 without a valid key, 403 with the wrong scope.

The key is read through `HTTPBearer`, so the OpenAPI document declares the bearer scheme and each
operation's security requirement (with the scope it needs) and /docs gets an Authorize button.
`auto_error=False`: a missing or malformed header still gets our own 401 problem document.
"""

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import SCOPES, Principal, digest, find
from app.db import SessionDep
from app.kit.problems import ProblemError
from app.kit.request_shape import check_request_shape

# Verified keys are remembered briefly so a write does not pay a key lookup each time;
# a revoked key stops working within this many seconds.
KEY_CACHE_SECONDS = 30.0

bearer = HTTPBearer(
    scheme_name="bearer",
    description=(
        "An API key: `winback keys create --scopes ...` prints one once, and `WINBACK_ADMIN_KEY` "
        f"is an admin key. Scopes: {', '.join(f'`{scope}`' for scope in SCOPES)}; `admin` "
        "implies all of them. Each operation's security requirement and description name the "
        "scope it needs."
    ),
    auto_error=False,
)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "Unauthorized", detail, slug="unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


async def authenticate(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:  # no header, another scheme than Bearer, or an empty key
        raise _unauthorized("send `Authorization: Bearer <key>`")
    key = credentials.credentials
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
        request: Request,
        principal: Annotated[Principal, Security(authenticate, scopes=[scope])],
    ) -> Principal:
        if not principal.allows(scope):
            raise ProblemError(
                403, "Forbidden", f"this key lacks the `{scope}` scope", slug="forbidden"
            )
        # Every /v1 operation needs a scope, so this is where the request's shape is checked:
        # after 401/403, before the endpoint's own parameters are validated.
        check_request_shape(request)
        return principal

    return dependency


EventsWriter = Annotated[Principal, Depends(require("events:write"))]
ClientsReader = Annotated[Principal, Depends(require("clients:read"))]
Admin = Annotated[Principal, Depends(require("admin"))]
