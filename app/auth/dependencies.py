"""`Authorization: Bearer <key>` with scopes: 401 without a valid key, 403 with the wrong scope.

The key is read through `HTTPBearer`, so the OpenAPI document declares the bearer scheme and each
operation's security requirement (with the scope it needs) and /docs gets an Authorize button.
`auto_error=False`: a missing or malformed header still gets our own 401 problem document.
"""

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.ratelimit import Limit, RateLimiter
from app.auth.service import SCOPES, Principal, digest, find
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
    # a session of its own, only on a miss: a request whose key is cached opens none for it
    async with request.app.state.sessionmaker() as session:
        principal = await find(session, key, request.app.state.settings.admin_key)
    if principal is None:
        raise _unauthorized("the key is unknown or revoked")
    if len(cache) > 10_000:
        cache.clear()
    cache[hashed] = (principal, time.monotonic() + KEY_CACHE_SECONDS)
    return principal


# Which bucket a route draws from, by the scope it needs.
ROUTE_CLASSES = {
    "events:write": "writes",
    "clients:read": "reads",
    "campaigns:write": "writes",
    "admin": "admin",
}


def rate_limiter(settings: Any) -> RateLimiter:
    return RateLimiter(
        {
            name: Limit(
                getattr(settings, f"rate_limit_{name}_per_second"),
                getattr(settings, f"rate_limit_{name}_burst"),
            )
            for name in ("writes", "reads", "admin")
        }
    )


def limit(request: Request, response: Response, principal: Principal, route_class: str) -> None:
    """Take a token from the key's bucket; a 429 with Retry-After when it is empty. The
    RateLimit-* headers (IETF httpapi draft) tell a well-behaved client how to pace itself."""
    limiter: RateLimiter = request.app.state.rate_limiter
    if limiter.limits[route_class].per_second <= 0:
        return
    decision = limiter.take(principal.key_id, route_class, time.monotonic())
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
    }
    if not decision.allowed:
        raise ProblemError(
            429,
            "Too many requests",
            f"this key sent more {route_class} than its limit of {decision.limit} at once; "
            f"retry in {decision.retry_after_seconds} s",
            slug="too-many-requests",
            headers=headers | {"Retry-After": str(decision.retry_after_seconds)},
        )
    response.headers.update(headers)


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        request: Request,
        response: Response,
        principal: Annotated[Principal, Security(authenticate, scopes=[scope])],
    ) -> Principal:
        if not principal.allows(scope):
            raise ProblemError(
                403, "Forbidden", f"this key lacks the `{scope}` scope", slug="forbidden"
            )
        # Every /v1 operation needs a scope, so this is where the request's shape is checked:
        # after 401/403, before the endpoint's own parameters are validated.
        check_request_shape(request)
        limit(request, response, principal, ROUTE_CLASSES[scope])
        return principal

    return dependency


EventsWriter = Annotated[Principal, Depends(require("events:write"))]
ClientsReader = Annotated[Principal, Depends(require("clients:read"))]
Admin = Annotated[Principal, Depends(require("admin"))]
