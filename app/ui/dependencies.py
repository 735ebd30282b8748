"""Who is looking: the session cookie, re-checked against the keys table on every request; the
scope a page needs; the CSRF token a form must send back."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request

from app.auth.service import Principal, active_principal
from app.db import SessionDep
from app.kit.deps import Now
from app.kit.secrets import derived_key
from app.ui import session as cookies


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form (303), coming back after."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class ScopeMissing(Exception):
    """The key signed in lacks the scope this page or action needs: a 403 page says which."""

    def __init__(self, scope: str) -> None:
        self.scope = scope


class CsrfRejected(Exception):
    """A state-changing form came without this session's CSRF token: 403."""


def cookie_secret(request: Request) -> bytes:
    state = request.app.state
    secret: bytes | None = getattr(state, "ui_cookie_secret", None)
    if secret is None:
        secret = derived_key(state.settings, "session-cookie")
        state.ui_cookie_secret = secret
    return secret


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    session: cookies.Session
    csrf: str

    def can(self, scope: str) -> bool:
        return self.principal.allows(scope)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def signed_in(request: Request, session: SessionDep, now: Now) -> Viewer | None:
    """The viewer of a valid session, or None (no cookie, a bad one, expired, key revoked)."""
    secret = cookie_secret(request)
    found = cookies.decode(secret, request.cookies.get(cookies.COOKIE_NAME), now)
    if found is None:
        return None
    if found.key_id == cookies.ENV_ADMIN:
        admin_key = request.app.state.settings.admin_key
        if not admin_key or found.fingerprint != cookies.fingerprint(secret, admin_key):
            return None
        principal: Principal | None = Principal(cookies.ENV_ADMIN, frozenset({"admin"}))
    else:
        principal = await active_principal(session, found.key_id)
    if principal is None:
        return None
    return Viewer(principal, found, cookies.csrf_token(secret, found))


async def viewer(request: Request, found: Annotated[Viewer | None, Depends(signed_in)]) -> Viewer:
    """A page's viewer, who must be able to read clients (every page shows them)."""
    if found is None:
        raise SignInRequired(_here(request))
    if not found.can("clients:read"):
        raise ScopeMissing("clients:read")
    return found


ViewerDep = Annotated[Viewer, Depends(viewer)]
MaybeViewer = Annotated[Viewer | None, Depends(signed_in)]


async def form_viewer(
    request: Request,
    found: Annotated[Viewer | None, Depends(signed_in)],
    csrf: Annotated[str | None, Form()] = None,
) -> Viewer:
    """The viewer of a state-changing form: signed in, and the form carries the CSRF token."""
    if found is None:
        raise SignInRequired("/ui")
    if not cookies.csrf_ok(cookie_secret(request), found.session, csrf):
        raise CsrfRejected()
    return found


FormViewer = Annotated[Viewer, Depends(form_viewer)]


def require(viewer: Viewer, scope: str) -> None:
    if not viewer.can(scope):
        raise ScopeMissing(scope)
